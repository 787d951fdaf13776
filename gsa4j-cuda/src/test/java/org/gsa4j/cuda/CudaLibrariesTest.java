package org.gsa4j.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Library discovery: the search order, the choice among versions, and the one-line error. */
class CudaLibrariesTest {

    @TempDir
    Path tmp;

    private static Path touch(Path dir, String name) throws IOException {
        Files.createDirectories(dir);
        return Files.createFile(dir.resolve(name));
    }

    @Test
    void aMissingLibraryNamesWhatAndWhereInOneLine() throws IOException {
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        var search = new CudaLibraries.Search(Map.of(CudaLibraries.PATH_VARIABLE, empty.toString()), false, List.of());
        CudaException e = assertThrows(CudaException.class, () -> search.find(CudaLibraries.DRIVER));
        String m = e.getMessage();
        assertFalse(m.contains("\n"), m);
        assertTrue(m.contains("the CUDA driver (libcuda.so.1) not found"), m);
        assertTrue(m.contains("looked in " + empty), m);
        assertTrue(m.contains("the linker cache"), m);
        assertTrue(m.contains(CudaLibraries.PATH_VARIABLE + "=" + empty), m);
    }

    @Test
    void theUsualPlacesAreSearchedAndNamed() {
        var absent = new CudaLibraries.Spec("a test library", "libgsa4j-absent.so", List.of("libgsa4j-absent.so.1"), true);
        var search = new CudaLibraries.Search(Map.of(), true, null);
        String m = assertThrows(CudaException.class, () -> search.find(absent)).getMessage();
        for (String place : List.of("/usr/local/nvidia/lib64", "/usr/lib64", "/usr/local/cuda/lib64",
                "/usr/local/cuda/targets/")) {
            assertTrue(m.contains(place), place + " missing from: " + m);
        }
        assertTrue(m.contains(CudaLibraries.PATH_VARIABLE + " is unset"), m);
        assertTrue(m.contains("could not be read"), m);
        // the driver's own folders come before the toolkits' for the driver
        List<Path> dirs = search.directories(absent);
        assertTrue(dirs.indexOf(Path.of("/usr/local/nvidia/lib64")) < dirs.indexOf(Path.of("/usr/local/cuda/lib64")), dirs.toString());
    }

    @Test
    void searchOrderIsVariableThenCudaHomeThenLibraryPathThenLinkerCache() throws IOException {
        Path first = tmp.resolve("first");
        Path home = tmp.resolve("home");
        Path ld = tmp.resolve("ld");
        Path cached = tmp.resolve("cached");
        touch(home.resolve("lib64"), "libcublasLt.so.13");
        touch(ld, "libcublasLt.so.13");
        Path fromCache = touch(cached, "libcublasLt.so.13");
        Files.createDirectories(first);
        var env = Map.of(CudaLibraries.PATH_VARIABLE, first + "::" + tmp.resolve("nowhere"), "CUDA_HOME", home.toString(),
                "LD_LIBRARY_PATH", ld.toString());
        var search = new CudaLibraries.Search(env, false, List.of(fromCache, Path.of("/elsewhere/libc.so.6")));
        assertEquals(List.of(first, tmp.resolve("nowhere"), home.resolve("lib64"), home.resolve("targets/x86_64-linux/lib"),
                home.resolve("lib"), ld, cached), search.directories(CudaLibraries.CUBLAS_LT).stream()
                .filter(p -> !p.toString().contains("sbsa")).toList());
        assertEquals(home.resolve("lib64/libcublasLt.so.13"), search.find(CudaLibraries.CUBLAS_LT));
        Path mine = touch(first, "libcublasLt.so.13.1.0.3");
        assertEquals(mine, search.find(CudaLibraries.CUBLAS_LT));
    }

    @Test
    void preferredNamesThenTheHighestMajorVersionThenTheShortestName() throws IOException {
        Path dir = tmp.resolve("lib");
        touch(dir, "libcuda.so.580.65.06");
        Path soname = touch(dir, "libcuda.so.1");
        assertEquals(soname, CudaLibraries.bestIn(dir, CudaLibraries.DRIVER));

        touch(dir, "libnvrtc.so.12");
        touch(dir, "libnvrtc.so.13.0.88");
        Path nvrtc13 = touch(dir, "libnvrtc.so.13");
        touch(dir, "libnvrtc-builtins.so.12.8");
        Path builtins13 = touch(dir, "libnvrtc-builtins.so.13.0");
        touch(dir, "libnvrtc.so.13.0.88.alt"); // not a version suffix: ignored
        assertEquals(nvrtc13, CudaLibraries.bestIn(dir, CudaLibraries.NVRTC));
        var search = new CudaLibraries.Search(Map.of(CudaLibraries.PATH_VARIABLE, dir.toString()), false, List.of());
        assertEquals(builtins13, search.findBuiltinsFor(nvrtc13));
        Path dev = touch(dir, "libnvrtc.so");
        assertEquals(dev, CudaLibraries.bestIn(dir, CudaLibraries.NVRTC));
        // the builtins of NVRTC's own major version, also when NVRTC is found through a link
        Path other = tmp.resolve("other");
        Path real12 = touch(other, "libnvrtc.so.12.8.93");
        Files.createSymbolicLink(other.resolve("libnvrtc.so"), real12.getFileName());
        Path builtins12 = touch(other, "libnvrtc-builtins.so.12.8");
        touch(other, "libnvrtc-builtins.so.13.0");
        assertEquals(builtins12, search.findBuiltinsFor(other.resolve("libnvrtc.so")));
    }

    @Test
    void missingBuiltinsBesideNvrtcAreSearchedForAndNamed() throws IOException {
        Path dir = tmp.resolve("lib");
        Path nvrtc = touch(dir, "libnvrtc.so.13");
        var search = new CudaLibraries.Search(Map.of(CudaLibraries.PATH_VARIABLE, dir.toString()), false, List.of());
        String m = assertThrows(CudaException.class, () -> search.findBuiltinsFor(nvrtc)).getMessage();
        assertTrue(m.startsWith("NVRTC's builtins (libnvrtc-builtins.so*) not found: looked in " + dir), m);
    }

    @Test
    void aFileThatIsNoLibraryFailsToLoadWithItsPath() throws IOException {
        // an executable, not a shared library (an ELF file, so the JVM does not warn about its stack)
        Path executable = Path.of("/bin/true");
        Path fake = Files.isRegularFile(executable) ? Files.copy(executable, tmp.resolve("libcuda.so.1")) : touch(tmp, "libcuda.so.1");
        String m = assertThrows(CudaException.class, () -> NativeLibrary.load("the CUDA driver", fake)).getMessage();
        assertTrue(m.startsWith("could not load the CUDA driver from " + fake), m);
    }

    @Test
    void withoutAGpuTheReasonIsOneLine() {
        String reason = CudaDevice.unavailableReason();
        if (reason == null) {
            return; // a GPU machine: CudaDeviceGpuTest covers it
        }
        System.out.println("No GPU here, so the tests tagged gpu do not run: " + reason);
        assertFalse(reason.isBlank());
        assertFalse(reason.contains("\n"), reason);
        assertFalse(CudaDevice.available());
        assertEquals(0, CudaDevice.count());
        CudaException e = assertThrows(CudaException.class, () -> CudaDevice.open(0));
        assertEquals("no CUDA GPU can be used: " + reason, e.getMessage());
    }
}
