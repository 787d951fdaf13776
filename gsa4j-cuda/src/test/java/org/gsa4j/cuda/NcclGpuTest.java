package org.gsa4j.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.gsa4j.train.dist.Launcher;
import org.gsa4j.train.dist.ProcessGroup;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * NCCL on the GPU machine: an all-reduce with one rank here, and with two ranks in two processes started by
 * gsa4j's launcher where the machine has two GPUs. Skipped without a GPU.
 */
@Tag("gpu")
class NcclGpuTest {

    @Test
    void oneRankSumsFloat32AndBfloat16AndAbortEndsTheCommunicator() {
        assumeTrue(CudaDevice.available(), () -> "no GPU: " + CudaDevice.unavailableReason());
        int version = NcclCommunicator.version();
        System.out.println("NCCL " + NcclCommunicator.versionString(version) + " (" + version + ") from " + CudaLibraries.nccl().path());
        assertTrue(version >= 21300, "NCCL " + version + " is older than 2.13");
        assertEquals("0", NcclEnvironment.get(NcclEnvironment.NVLS));
        NcclUniqueId id = NcclCommunicator.createUniqueId();
        assertNotEquals(new NcclUniqueId(new byte[NcclUniqueId.BYTES]), id);
        float[] x = new float[1001];
        for (int i = 0; i < x.length; i++) x[i] = i * 0.25f - 100;
        try (CudaDevice device = CudaDevice.open(0); NcclCommunicator comm = NcclCommunicator.create(device, id, 0, 1)) {
            float[] sum = new float[x.length], sumHalf = new float[x.length];
            device.run(() -> {
                try (DeviceBuffer send = device.allocate(4L * x.length); DeviceBuffer recv = device.allocate(4L * x.length);
                     DeviceBuffer half = device.allocate(2L * x.length)) {
                    send.copyFrom(x);
                    half.copyFromBf16(x);
                    comm.allReduceSum(send, recv, x.length, NcclCommunicator.DataType.FLOAT32, device.stream());
                    comm.allReduceSum(half, half, x.length, NcclCommunicator.DataType.BFLOAT16, device.stream());
                    device.stream().synchronize();
                    recv.copyTo(sum);
                    half.copyToFromBf16(sumHalf);
                    assertThrows(IllegalArgumentException.class,
                            () -> comm.allReduceSum(send, recv, x.length + 1, NcclCommunicator.DataType.FLOAT32, device.stream()));
                }
            });
            assertArrayEquals(x, sum, "one rank's sum is its own buffer");
            assertArrayEquals(x, sumHalf, "x is exact in bfloat16");
            comm.checkAsyncError();

            NcclCommunicator second = NcclCommunicator.create(device, NcclCommunicator.createUniqueId(), 0, 1);
            second.abort();
            second.close();
            assertThrows(IllegalStateException.class, second::checkAsyncError);
        }
    }

    @Test
    void twoRanksInTwoProcessesSumTheirBuffers() {
        assumeTrue(CudaDevice.count() >= 2, NcclGpuTest::twoGpus);
        Run r = launch("sum");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("[rank 0] ok rank 0") && r.out().contains("[rank 1] ok rank 1"), r.out() + r.err());
    }

    @Test
    void aRankThatDiesBeforeItsAllReduceFreesTheOtherThroughTheAbort() {
        assumeTrue(CudaDevice.count() >= 2, NcclGpuTest::twoGpus);
        Run r = launch("die");
        assertEquals(1, r.status(), r.err());
        assertTrue(r.err().lines().anyMatch(l -> l.matches("\\[rank 0] gsa4j: rank 1 of 2 \\(pid \\d+ on .+\\) ended without finishing .*")), r.err());
    }

    /** Why the two-rank tests are skipped: NCCL refuses two ranks of one communicator on the same GPU. */
    static String twoGpus() {
        return "needs 2 GPUs (one per rank; NCCL refuses two ranks on one GPU), this machine has " + CudaDevice.count();
    }

    record Run(int status, String out, String err) {}

    /** Two ranks of {@link NcclRankWorker} on GPUs 0 and 1 (the JUnit console passes its class path as gsa4j.classpath). */
    static Run launch(String mode) {
        String classPath = System.getProperty("gsa4j.classpath", System.getProperty("java.class.path"));
        List<String> cmd = Launcher.javaCommand(classPath, NcclRankWorker.class.getName(), List.of(), List.of(mode));
        ByteArrayOutputStream o = new ByteArrayOutputStream(), e = new ByteArrayOutputStream();
        try (PrintStream po = new PrintStream(o, true, StandardCharsets.UTF_8); PrintStream pe = new PrintStream(e, true, StandardCharsets.UTF_8)) {
            int status = Launcher.run(new Launcher.Spec(2, 1, 0, "127.0.0.1", 0), rank -> cmd,
                    Map.of(ProcessGroup.Options.HEARTBEAT_TIMEOUT, "10"), Duration.ofSeconds(60), po, pe);
            return new Run(status, o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8));
        }
    }
}
