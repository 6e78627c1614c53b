package dev.bnorm.dist;

/** A collective operation could not complete: another rank failed or timed out, or the ranks disagree on sizes. */
public class CollectiveException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    /** A failure described by {@code message}. */
    public CollectiveException(String message) {
        super(message);
    }

    /** A failure described by {@code message}, caused by {@code cause}. */
    public CollectiveException(String message, Throwable cause) {
        super(message, cause);
    }
}
