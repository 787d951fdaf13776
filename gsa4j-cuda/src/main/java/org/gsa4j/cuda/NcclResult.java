package org.gsa4j.cuda;

/**
 * NCCL's status codes ({@code ncclResult_t}) and the error a failed call becomes. Kept apart from the
 * bindings so that the mapping needs no NCCL.
 */
final class NcclResult {

    static final int SUCCESS = 0;
    static final int IN_PROGRESS = 7;

    private static final String[] NAMES = {"ncclSuccess", "ncclUnhandledCudaError", "ncclSystemError", "ncclInternalError",
            "ncclInvalidArgument", "ncclInvalidUsage", "ncclRemoteError", "ncclInProgress", "ncclTimeout"};

    private NcclResult() {
    }

    /** {@code ncclInvalidArgument} etc.; "ncclResult_t N" for a code this version does not know. */
    static String name(int code) {
        return code >= 0 && code < NAMES.length ? NAMES[code] : "ncclResult_t " + code;
    }

    /**
     * "CALL failed: NAME (NCCL's text for it)", plus NCCL's last error message where it has one.
     *
     * @param text   {@code ncclGetErrorString(code)}
     * @param detail {@code ncclGetLastError(comm)}, may be null or empty
     */
    static CudaException error(String call, int code, String text, String detail) {
        String more = detail == null || detail.isBlank() ? "" : ": " + detail.strip();
        return new CudaException(call + " failed: " + name(code) + " (" + text + ")" + more);
    }
}
