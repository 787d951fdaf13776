package org.gsa4j.cuda;

import org.gsa4j.Gsa4jException;

/**
 * A failure of the CUDA layer: a library or driver that is missing, or a CUDA, NVRTC or cuBLASLt call
 * that returned an error. The message names the call and the library's own name and text for the error.
 */
public class CudaException extends Gsa4jException {

    public CudaException(String message) {
        super(message);
    }

    public CudaException(String message, Throwable cause) {
        super(message, cause);
    }
}
