package dev.bnorm.demo;

/** An error the user can act on (bad data file, unwritable directory): printed as one line, exit code 1. */
final class DemoException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    DemoException(String message) {
        super(message);
    }

    DemoException(String message, Throwable cause) {
        super(message, cause);
    }
}
