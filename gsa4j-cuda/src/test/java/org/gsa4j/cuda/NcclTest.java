package org.gsa4j.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.gsa4j.train.dist.ProcessGroup;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What of the NCCL binding runs without NCCL: the unique id's layout, the error lines, finding the library, NVLS off. */
class NcclTest {

    @TempDir
    Path tmp;

    @Test
    void theUniqueIdIs128BytesByValueAndRoundTrips() {
        assertEquals(128, NcclUniqueId.LAYOUT.byteSize());
        assertEquals(ProcessGroup.UNIQUE_ID_BYTES, NcclUniqueId.BYTES, "the rendezvous carries exactly an NCCL id");
        byte[] b = new byte[128];
        for (int i = 0; i < b.length; i++) b[i] = (byte) (i * 37 + 11);
        NcclUniqueId id = new NcclUniqueId(b);
        b[0] = 0; // the id keeps its own copy
        assertNotEquals(0, id.bytes()[0]);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = id.toNative(arena);
            assertEquals(128, s.byteSize());
            assertEquals((byte) (127 * 37 + 11), s.get(ValueLayout.JAVA_BYTE, 127));
            assertEquals(id, NcclUniqueId.fromNative(s));
            assertArrayEquals(id.bytes(), NcclUniqueId.fromNative(s).bytes());
        }
        assertTrue(id.toString().startsWith("NcclUniqueId[0b30"), id.toString());
        assertThrows(IllegalArgumentException.class, () -> new NcclUniqueId(new byte[127]));
        assertThrows(IllegalArgumentException.class, () -> new NcclUniqueId(new byte[129]));
        assertThrows(IllegalArgumentException.class, () -> new NcclUniqueId(null));
    }

    @Test
    void aFailedCallNamesTheCallTheResultAndNcclsText() {
        CudaException e = NcclResult.error("ncclAllReduce", 1, "unhandled cuda error (run with NCCL_DEBUG=INFO for details)",
                "Cuda failure 'out of memory'\n");
        assertEquals("ncclAllReduce failed: ncclUnhandledCudaError (unhandled cuda error (run with NCCL_DEBUG=INFO for details)):"
                + " Cuda failure 'out of memory'", e.getMessage());
        assertEquals("ncclCommInitRank(rank 1 of 2) failed: ncclRemoteError (remote process exited or there was a network error)",
                NcclResult.error("ncclCommInitRank(rank 1 of 2)", 6, "remote process exited or there was a network error", "").getMessage());
        assertEquals("ncclTimeout", NcclResult.name(8));
        assertEquals("ncclInvalidUsage", NcclResult.name(5));
        assertEquals("ncclResult_t 42", NcclResult.name(42));
        assertEquals("2.27.3", NcclCommunicator.versionString(22703));
        assertEquals("2.8.4", NcclCommunicator.versionString(2804));
        assertEquals("2.30.7", NcclCommunicator.versionString(23007));
    }

    @Test
    void theVariableNamesTheLibraryAndAWrongOneIsOneClearLine() throws IOException {
        Path lib = Files.createDirectories(tmp.resolve("nccl/lib"));
        Path file = Files.createFile(lib.resolve("libnccl.so.2"));
        assertEquals(file, search(Map.of(CudaLibraries.NCCL_VARIABLE, file.toString())).findNccl());
        assertEquals(file, search(Map.of(CudaLibraries.NCCL_VARIABLE, lib.toString())).findNccl(), "a folder works too");

        String missing = tmp.resolve("nowhere/libnccl.so.2").toString();
        CudaException e = assertThrows(CudaException.class, () -> search(Map.of(CudaLibraries.NCCL_VARIABLE, missing)).findNccl());
        assertEquals(CudaLibraries.NCCL_VARIABLE + "=" + missing + ": no such file (the variable names NCCL's library file, e.g. "
                + "/usr/lib/x86_64-linux-gnu/libnccl.so.2, or its folder)", e.getMessage());
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        e = assertThrows(CudaException.class, () -> search(Map.of(CudaLibraries.NCCL_VARIABLE, empty.toString())).findNccl());
        assertTrue(e.getMessage().startsWith(CudaLibraries.NCCL_VARIABLE + "=" + empty + ": that folder holds no libnccl.so.2"), e.getMessage());

        // not found anywhere: the search's line, which names both variables
        e = assertThrows(CudaException.class, () -> search(Map.of(CudaLibraries.PATH_VARIABLE, empty.toString())).findNccl());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        assertTrue(e.getMessage().startsWith("NCCL (libnccl.so.2) not found: looked in " + empty), e.getMessage());
        assertTrue(e.getMessage().endsWith("(or " + CudaLibraries.NCCL_VARIABLE + " to the file)."), e.getMessage());
    }

    @Test
    void aPythonEnvironmentsNvidiaPackageIsSearched() throws IOException {
        Path venv = tmp.resolve("venv");
        Path lib = Files.createDirectories(venv.resolve("lib/python3.12/site-packages/nvidia/nccl/lib"));
        Files.createFile(lib.resolve("libnccl.so.2"));
        Files.createDirectories(venv.resolve("lib/python3.11/site-packages/nvidia/cublas/lib"));
        CudaLibraries.Search s = search(Map.of("VIRTUAL_ENV", venv.toString()));
        assertEquals(List.of(lib), s.pythonPackageDirs("nccl"));
        assertEquals(lib.resolve("libnccl.so.2"), s.findNccl());
        assertTrue(s.directories(CudaLibraries.DRIVER).isEmpty(), "the driver is never taken from a Python package");
    }

    @Test
    void nvlinkMulticastIsSwitchedOffInTheProcessEnvironment() {
        NcclEnvironment.set(NcclEnvironment.NVLS, "1");
        assertEquals("1", NcclEnvironment.get(NcclEnvironment.NVLS));
        NcclEnvironment.disableNvls();
        assertEquals("0", NcclEnvironment.get(NcclEnvironment.NVLS));
    }

    private static CudaLibraries.Search search(Map<String, String> env) {
        return new CudaLibraries.Search(env, false, List.of());
    }
}
