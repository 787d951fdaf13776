package org.gsa4j.cuda;

import org.gsa4j.train.dist.ProcessGroup;
import org.gsa4j.train.dist.RankEnv;
import org.gsa4j.train.dist.RankFailedException;

/**
 * One rank of {@link NcclGpuTest}'s runs of two processes: joins the group (rank 0's NCCL unique id travels
 * over its TCP rendezvous), creates the communicator on GPU {@code LOCAL_RANK}, and sums buffers over the
 * ranks: rank r contributes (r+1)·(i+1) at index i, in float32 and bfloat16. Prints "ok rank R" when every
 * sum is right. {@code NcclRankWorker die} makes rank 1 die before its all-reduce: rank 0, waiting in its
 * own, must be freed by the abort that the group's watch runs, and end with the group's line.
 */
public final class NcclRankWorker {

    static final int N = 1 << 20;

    public static void main(String[] args) {
        boolean die = args.length > 0 && args[0].equals("die");
        RankEnv env = RankEnv.fromEnvironment(System.getenv());
        ProcessGroup group = ProcessGroup.join(env, () -> NcclCommunicator.createUniqueId().bytes(), ProcessGroup.Options.fromEnvironment(System.getenv()));
        try (CudaDevice device = CudaDevice.open(env.localRank());
             NcclCommunicator comm = NcclCommunicator.create(device, new NcclUniqueId(group.uniqueId()), env.rank(), env.worldSize())) {
            group.onFailure(comm::abort);
            if (!"0".equals(NcclEnvironment.get(NcclEnvironment.NVLS))) throw new AssertionError("NCCL_NVLS_ENABLE is not 0");
            float[] mine = new float[N], expected = new float[N];
            for (int i = 0; i < N; i++) {
                mine[i] = (env.rank() + 1) * (float) (i % 64 + 1);
                expected[i] = env.worldSize() * (env.worldSize() + 1) / 2f * (float) (i % 64 + 1);
            }
            if (die && env.rank() == 1) Runtime.getRuntime().halt(1);
            device.run(() -> {
                try (DeviceBuffer send = device.allocate(4L * N); DeviceBuffer recv = device.allocate(4L * N);
                     DeviceBuffer half = device.allocate(2L * N)) {
                    send.copyFrom(mine);
                    half.copyFromBf16(mine);
                    NcclCommunicator.group(() -> {
                        comm.allReduceSum(send, recv, N, NcclCommunicator.DataType.FLOAT32, device.stream());
                        comm.allReduceSum(half, half, N, NcclCommunicator.DataType.BFLOAT16, device.stream());
                    });
                    try {
                        device.stream().synchronize();
                    } catch (CudaException e) {
                        group.checkAlive(); // an abort made the wait fail: say why
                        throw e;
                    }
                    group.checkAlive();
                    float[] got = new float[N], gotHalf = new float[N];
                    recv.copyTo(got);
                    half.copyToFromBf16(gotHalf);
                    for (int i = 0; i < N; i++) {
                        if (got[i] != expected[i] || gotHalf[i] != expected[i]) {
                            throw new AssertionError("rank " + env.rank() + " index " + i + ": " + got[i] + " / " + gotHalf[i] + " != " + expected[i]);
                        }
                    }
                }
            });
            comm.checkAsyncError();
            group.finish();
            System.out.println("ok rank " + env.rank());
        } catch (RankFailedException e) {
            System.err.println("gsa4j: " + e.getMessage());
            System.exit(2);
        } catch (RuntimeException | Error e) {
            group.reportFailure(String.valueOf(e));
            e.printStackTrace();
            System.exit(1);
        }
        System.exit(0);
    }
}
