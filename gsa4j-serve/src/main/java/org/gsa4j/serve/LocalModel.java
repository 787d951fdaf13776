package org.gsa4j.serve;

import org.gsa4j.data.Tokenizer;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The server's engine in-process, without HTTP: chat with a model folder from Java, with the same
 * chat template, continuous batching (calls from several threads share decoding passes), prefix
 * cache and sampling as {@code gsa4j serve}. The LangChain4j adapter ({@code gsa4j-langchain4j})
 * is built on it. Thread-safe.
 */
public final class LocalModel implements AutoCloseable {
    /** One chat message. */
    public record Message(String role, String content) {}

    /** Generation settings; {@code seed} null draws one. */
    public record Params(int maxTokens, double temperature, double topP, int topK, Long seed, List<String> stop) {
        public static Params greedy(int maxTokens) {
            return new Params(maxTokens, 0, 1, 0, 0L, List.of());
        }
    }

    /** A finished reply: its text, why it ended (stop, length), and the tokens in and out. */
    public record Result(String text, String finishReason, int promptTokens, int completionTokens) {}

    private final String name;
    private final Tokenizer tokenizer;
    private final ChatTemplate chat;
    private final CausalLM model;
    private final Engine engine;

    private LocalModel(Path dir, int maxBatch) {
        name = dir.toAbsolutePath().normalize().getFileName().toString();
        model = ModelLoader.load(dir);
        Path tok = dir.resolve("tokenizer.json");
        if (!Files.isRegularFile(tok)) throw new IllegalArgumentException(tok + " does not exist: chat needs the model's tokenizer");
        tokenizer = Tokenizer.loadFast(tok);
        chat = ChatTemplate.load(dir);
        if (chat == null) throw new IllegalArgumentException(dir + " has no chat template (chat_template in tokenizer_config.json, or chat_template.jinja)");
        Metrics metrics = new Metrics(() -> 0, () -> 0);
        engine = new Engine(model, tokenizer, new Engine.Options(maxBatch, 1 << 16, 64), metrics, null,
                new PrefixCache(model.identity().key(), 64, 64L << 20));
    }

    /** Loads a model folder (weights, tokenizer.json, a chat template) and starts its engine. */
    public static LocalModel open(Path dir, int maxBatch) {
        return new LocalModel(dir, maxBatch);
    }

    public String name() {
        return name;
    }

    /** A reply to {@code messages}; {@code onText} receives the text as it is generated (may be null). */
    public Result chat(List<Message> messages, Params p, Consumer<String> onText) {
        List<Map<String, Object>> list = new java.util.ArrayList<>();
        for (Message m : messages) {
            Map<String, Object> msg = new HashMap<>();
            msg.put("role", m.role());
            msg.put("content", m.content());
            list.add(msg);
        }
        int[] prompt = tokenizer.encode(chat.render(list, false));
        Sampling sampling = new Sampling(p.temperature(), p.topP(), p.topK(), p.seed() != null ? p.seed() : new java.security.SecureRandom().nextLong());
        Engine.Job job = engine.submit(new Engine.Request(prompt, model.newState(1), prompt.length, 0, prompt, null, p.maxTokens(), sampling,
                p.stop(), false, null, System.nanoTime()));
        StringBuilder text = new StringBuilder();
        try {
            while (true) {
                Engine.Event e = job.next(60_000);
                switch (e) {
                    case null -> {}
                    case Engine.Token t -> {
                        text.append(t.text());
                        if (onText != null && !t.text().isEmpty()) onText.accept(t.text());
                    }
                    case Engine.Done d -> {
                        text.append(d.trailingText());
                        if (onText != null && !d.trailingText().isEmpty()) onText.accept(d.trailingText());
                        return new Result(text.toString(), d.finishReason(), d.promptTokens(), d.completionTokens());
                    }
                    case Engine.Failed f -> throw new IllegalStateException(f.message());
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } finally {
            job.cancel();   // whatever ended the wait (onText may throw), the generation ends too; nothing once it has
        }
    }

    @Override
    public void close() {
        engine.close();
        tokenizer.close();
    }
}
