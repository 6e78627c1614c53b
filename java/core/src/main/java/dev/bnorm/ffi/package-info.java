/**
 * The native boundary: {@link dev.bnorm.ffi.bn_h}, bindings to {@code native/include/bn.h} in the
 * layout jextract generates, and {@link dev.bnorm.ffi.NativeLibrary}, which finds, verifies and
 * loads libbnorm. The bindings resolve symbols through {@code SymbolLookup.loaderLookup()}, so call
 * {@code NativeLibrary.load()} before the first use of {@code bn_h} (the kernels in
 * {@code dev.bnorm.kernel} do); a {@code bn_h} function used before that fails with
 * {@code UnsatisfiedLinkError: unresolved symbol}. {@link dev.bnorm.ffi.CriticalDowncalls} adds
 * critical handles of the kernels. Only this package touches {@code java.lang.foreign.Linker}.
 *
 * <p>Internal: the module {@code dev.bnorm} does not export this package (the raw bindings do no
 * argument checks); use {@code dev.bnorm.kernel}.
 */
package dev.bnorm.ffi;
