/**
 * bnorm: Batch Normalization for the JVM. {@code dev.bnorm} holds {@code Tensor};
 * {@code dev.bnorm.nn} the modules (BatchNorm1d/2d, Linear, Sequential, losses, SGD, state dicts);
 * {@code dev.bnorm.kernel} the kernels (native and pure Java) and their choice;
 * {@code dev.bnorm.serve} the thread-safe inference model; {@code dev.bnorm.dist} the collectives
 * of data-parallel training.
 *
 * <p>Not exported: {@code dev.bnorm.ffi} (the raw bindings, which check nothing, and the library
 * loader) and {@code dev.bnorm.internal} (argument checks shared by the kernels). The native
 * library comes in a platform jar (automatic module {@code dev.bnorm.natives.<os>.<arch>}), which
 * holds only {@code META-INF/native/} and is found on the module path even when nothing requires
 * it. Run with {@code --enable-native-access=dev.bnorm}.
 */
module dev.bnorm {
    exports dev.bnorm;
    exports dev.bnorm.kernel;
    exports dev.bnorm.nn;
    exports dev.bnorm.dist;
    exports dev.bnorm.serve;
}
