package org.gsa4j.cuda;

/**
 * Prints what the CUDA layer finds on this machine: the libraries it loads and from where, their versions,
 * and each GPU's properties. {@code java ... org.gsa4j.cuda.CudaInfo}; exit status 1 when no GPU can be used.
 */
public final class CudaInfo {

    private CudaInfo() {
    }

    public static void main(String[] args) {
        String reason = CudaDevice.unavailableReason();
        if (reason != null) {
            System.out.println("CUDA unavailable: " + reason);
            System.exit(1);
        }
        System.out.println("driver:   " + CudaLibraries.driver().path() + " (CUDA " + version(Driver.driverVersion()) + ")");
        System.out.println("nvrtc:    " + describe(() -> CudaLibraries.nvrtc().path() + " (" + Nvrtc.version() + ")"));
        int devices = CudaDevice.count();
        for (int i = 0; i < devices; i++) {
            try (CudaDevice d = CudaDevice.open(i)) {
                System.out.println(d);
                System.out.println("  arch " + d.archFlag() + ", opt-in shared memory per block " + d.maxSharedMemoryPerBlockOptin()
                        + " bytes, free " + d.freeMemory() / (1L << 20) + " MiB, memory clock "
                        + d.attribute(Driver.CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE) + " kHz, bus "
                        + d.attribute(Driver.CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH) + " bits, L2 "
                        + d.attribute(Driver.CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE) / 1024 + " KiB");
                if (i == 0) {
                    System.out.println("cublasLt: " + describe(() -> {
                        try (CublasLt lt = new CublasLt(d)) {
                            return CudaLibraries.cublasLt().path() + " (version " + lt.version() + ")";
                        }
                    }));
                }
            }
        }
    }

    private interface Text {
        String get();
    }

    private static String describe(Text text) {
        try {
            return text.get();
        } catch (CudaException e) {
            return "unavailable: " + e.getMessage();
        }
    }

    private static String version(int cudaVersion) {
        return cudaVersion / 1000 + "." + cudaVersion % 1000 / 10;
    }
}
