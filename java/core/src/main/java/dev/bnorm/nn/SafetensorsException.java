package dev.bnorm.nn;

import java.io.IOException;

/**
 * A safetensors file that {@link StateDicts#load} refuses: malformed (truncated, a header length
 * past the end of the file, bad JSON, an unknown dtype, data offsets out of range, overlapping or
 * leaving gaps) or not matching the model (missing or unexpected keys, wrong dtype or shape). The
 * message names the file and the offending key or field with the expected and actual values.
 * When it is thrown, the model has not been changed.
 */
public final class SafetensorsException extends IOException {

    private static final long serialVersionUID = 1L;

    /** An exception with a message naming the file and the problem. */
    public SafetensorsException(String message) {
        super(message);
    }

    /** An exception with a message and its cause. */
    public SafetensorsException(String message, Throwable cause) {
        super(message, cause);
    }
}
