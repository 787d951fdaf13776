package org.gsa4j.data;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;

import org.gsa4j.Gsa4jException;

/**
 * A text corpus split into training documents and one validation document.
 *
 * <p>The embedded default ({@link #austen()}) is Jane Austen's six novels, shipped gzipped under
 * {@code corpus/austen/} on the classpath with a README that records their provenance and the
 * SHA-256 of each uncompressed text; validation is {@code persuasion.txt}, training the other five.
 *
 * <p>{@link #fromDirectory(Path)} reads a user directory of {@code .txt} / {@code .txt.gz} files
 * (UTF-8). The validation document is {@code persuasion.txt} if present, otherwise the last file in
 * name order; a directory with a single file holds out the last 10% of it (cut at a line break). If
 * the directory has a {@code README.md} with a table of {@code | name.txt | bytes | sha256 |} rows
 * (the format of the Austen README), every listed file must be present and match.
 *
 * <p>Texts are decoded as strict UTF-8; a file that is not valid UTF-8, is empty, or does not match
 * its checksum is a {@link Gsa4jException} naming the file.
 */
public final class Corpus {

    /** One named text. {@code name} is the file name without {@code .gz} (e.g. {@code emma.txt}). */
    public record Document(String name, String text) {
        /** UTF-8 size in bytes. */
        public long utf8Bytes() {
            return utf8Length(text);
        }
    }

    /** Classpath folder of the embedded corpus. */
    public static final String EMBEDDED_RESOURCE = "corpus/austen/";
    /** Validation document of the Austen split. */
    public static final String DEFAULT_VALIDATION = "persuasion.txt";

    private static final Pattern CHECKSUM_ROW = Pattern.compile(
            "^\\|\\s*([^|\\s]+\\.txt)\\s*\\|\\s*([0-9][0-9,]*)\\s*\\|\\s*([0-9a-fA-F]{64})\\s*\\|\\s*$",
            Pattern.MULTILINE);

    private final String source;
    private final List<Document> train;
    private final Document validation;

    private Corpus(String source, List<Document> train, Document validation) {
        this.source = source;
        this.train = List.copyOf(train);
        this.validation = validation;
    }

    /** Where the texts came from ("classpath:corpus/austen/" or a directory path). */
    public String source() {
        return source;
    }

    /** Training documents, in name order. */
    public List<Document> train() {
        return train;
    }

    /** The held-out validation document. */
    public Document validation() {
        return validation;
    }

    /** The embedded Austen corpus, checksums verified. */
    public static Corpus austen() {
        String readmeName = EMBEDDED_RESOURCE + "README.md";
        byte[] readme = readResource(readmeName);
        if (readme == null) {
            throw new Gsa4jException("classpath:" + readmeName + ": embedded corpus README is missing from the build");
        }
        Map<String, Checksum> sums = parseChecksums(new String(readme, StandardCharsets.UTF_8));
        if (sums.isEmpty()) {
            throw new Gsa4jException("classpath:" + readmeName + ": no checksum table found");
        }
        List<Document> train = new ArrayList<>();
        Document val = null;
        for (Map.Entry<String, Checksum> e : sums.entrySet()) {
            String name = e.getKey();
            String res = EMBEDDED_RESOURCE + name + ".gz";
            byte[] gz = readResource(res);
            if (gz == null) {
                throw new Gsa4jException("classpath:" + res + ": listed in the corpus README but missing");
            }
            byte[] raw;
            try (InputStream in = new GZIPInputStream(new java.io.ByteArrayInputStream(gz))) {
                raw = in.readAllBytes();
            } catch (IOException ex) {
                throw new Gsa4jException("classpath:" + res + ": not a valid gzip file (" + ex.getMessage() + ")", ex);
            }
            Document d = toDocument("classpath:" + res, name, raw, e.getValue());
            if (name.equals(DEFAULT_VALIDATION)) val = d;
            else train.add(d);
        }
        if (val == null) {
            throw new Gsa4jException("classpath:" + readmeName + ": validation text " + DEFAULT_VALIDATION + " not listed");
        }
        train.sort(java.util.Comparator.comparing(Document::name));
        return new Corpus("classpath:" + EMBEDDED_RESOURCE, train, val);
    }

    /** A user directory of .txt / .txt.gz files; see the class comment for the split and checks. */
    public static Corpus fromDirectory(Path dir) {
        return fromDirectory(dir, DEFAULT_VALIDATION);
    }

    /**
     * A user directory of .txt / .txt.gz files, holding out {@code validationName} (e.g.
     * "persuasion.txt") when present, else the last file in name order.
     */
    public static Corpus fromDirectory(Path dir, String validationName) {
        if (!Files.isDirectory(dir)) {
            throw Gsa4jException.at(dir, null, Files.exists(dir) ? "not a directory" : "corpus directory does not exist");
        }
        Map<String, Path> files = new java.util.TreeMap<>();
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                String fn = p.getFileName().toString();
                String lower = fn.toLowerCase(Locale.ROOT);
                String name;
                if (lower.endsWith(".txt.gz")) name = fn.substring(0, fn.length() - 3);
                else if (lower.endsWith(".txt")) name = fn;
                else continue;
                if (!Files.isRegularFile(p)) continue;
                Path prev = files.put(name, p);
                if (prev != null) {
                    throw Gsa4jException.at(dir, null, "both " + prev.getFileName() + " and " + fn + " present; keep one");
                }
            }
        } catch (IOException e) {
            throw Gsa4jException.at(dir, null, "cannot list corpus directory: " + e.getMessage(), e);
        }
        Map<String, Checksum> sums = Map.of();
        Path readme = dir.resolve("README.md");
        if (Files.isRegularFile(readme)) {
            try {
                sums = parseChecksums(Files.readString(readme, StandardCharsets.UTF_8));
            } catch (IOException e) {
                throw Gsa4jException.at(readme, null, "cannot read: " + e.getMessage(), e);
            }
            for (String listed : sums.keySet()) {
                if (!files.containsKey(listed)) {
                    throw Gsa4jException.at(dir.resolve(listed), null,
                            "listed with a checksum in " + readme.getFileName() + " but missing (neither .txt nor .txt.gz)");
                }
            }
        }
        if (files.isEmpty()) {
            throw Gsa4jException.at(dir, null, "no .txt or .txt.gz files in the corpus directory");
        }
        List<Document> docs = new ArrayList<>();
        for (Map.Entry<String, Path> e : files.entrySet()) {
            docs.add(readFile(e.getValue(), e.getKey(), sums.get(e.getKey())));
        }
        String source = dir.toString();
        if (docs.size() == 1) {
            Document only = docs.get(0);
            String t = only.text();
            int cut = (int) (t.length() * 0.9);
            int nl = t.indexOf('\n', cut);
            if (nl < 0 || nl + 1 >= t.length()) nl = t.lastIndexOf('\n', cut);
            if (nl <= 0 || nl + 1 >= t.length()) {
                if (t.length() < 2) {
                    throw Gsa4jException.at(files.get(only.name()), null, "only one text file and it is too short to split");
                }
                nl = cut - 1;
                // keep surrogate pairs together
                if (Character.isHighSurrogate(t.charAt(nl))) nl--;
            }
            return new Corpus(source,
                    List.of(new Document(only.name(), t.substring(0, nl + 1))),
                    new Document(only.name() + "#validation", t.substring(nl + 1)));
        }
        Document val = null;
        for (Document d : docs) if (d.name().equals(validationName)) val = d;
        if (val == null) val = docs.get(docs.size() - 1);
        List<Document> train = new ArrayList<>(docs);
        train.remove(val);
        return new Corpus(source, train, val);
    }

    /** The embedded corpus when {@code dirOrNull} is null, else {@link #fromDirectory(Path)}. */
    public static Corpus load(Path dirOrNull) {
        return dirOrNull == null ? austen() : fromDirectory(dirOrNull);
    }

    // ---------------------------------------------------------------------------------------

    record Checksum(long bytes, String sha256) {}

    /** Parses "| name.txt | 1,234 | sha256 |" rows of a README table. */
    static Map<String, Checksum> parseChecksums(String readme) {
        Map<String, Checksum> out = new LinkedHashMap<>();
        Matcher m = CHECKSUM_ROW.matcher(readme);
        while (m.find()) {
            out.put(m.group(1), new Checksum(Long.parseLong(m.group(2).replace(",", "")), m.group(3).toLowerCase(Locale.ROOT)));
        }
        return out;
    }

    private static Document readFile(Path p, String name, Checksum sum) {
        byte[] raw;
        try {
            if (p.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".gz")) {
                try (InputStream in = new GZIPInputStream(Files.newInputStream(p))) {
                    raw = in.readAllBytes();
                }
            } else {
                raw = Files.readAllBytes(p);
            }
        } catch (NoSuchFileException e) {
            throw Gsa4jException.at(p, null, "file does not exist", e);
        } catch (java.util.zip.ZipException | java.io.EOFException e) {
            throw Gsa4jException.at(p, null, "not a valid gzip file (" + e.getMessage() + ")", e);
        } catch (IOException e) {
            throw Gsa4jException.at(p, null, "cannot read: " + e.getMessage(), e);
        }
        return toDocument(p.toString(), name, raw, sum);
    }

    private static Document toDocument(String where, String name, byte[] raw, Checksum sum) {
        if (raw.length == 0) {
            throw new Gsa4jException(where + ": text file is empty");
        }
        if (sum != null) {
            if (raw.length != sum.bytes()) {
                throw new Gsa4jException(where + ": checksum mismatch: " + raw.length
                        + " bytes uncompressed, README says " + sum.bytes());
            }
            String actual = sha256(raw);
            if (!actual.equals(sum.sha256())) {
                throw new Gsa4jException(where + ": checksum mismatch: sha256 " + actual + ", README says " + sum.sha256());
            }
        }
        String text = Utf8.decode(raw, where);
        if (!text.isEmpty() && text.charAt(0) == '\uFEFF') text = text.substring(1);
        if (text.isBlank()) {
            throw new Gsa4jException(where + ": text file has only whitespace");
        }
        return new Document(name, text);
    }

    static String sha256(byte[] data) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static byte[] readResource(String name) {
        ClassLoader cl = Corpus.class.getClassLoader();
        try (InputStream in = cl.getResourceAsStream(name)) {
            if (in == null) return null;
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            in.transferTo(out);
            return out.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static long utf8Length(CharSequence s) {
        long n = 0;
        for (int i = 0, len = s.length(); i < len; i++) {
            char c = s.charAt(i);
            if (c < 0x80) n += 1;
            else if (c < 0x800) n += 2;
            else if (Character.isHighSurrogate(c) && i + 1 < len && Character.isLowSurrogate(s.charAt(i + 1))) {
                n += 4;
                i++;
            } else n += 3;
        }
        return n;
    }
}
