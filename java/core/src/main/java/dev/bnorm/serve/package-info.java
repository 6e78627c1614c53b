/**
 * Serving: {@link dev.bnorm.serve.InferenceModel}, an immutable, thread-safe inference model
 * built once from a trained {@link dev.bnorm.nn.Sequential} (or a PyTorch state dict plus the
 * architecture) and called concurrently from any number of platform and virtual threads.
 */
package dev.bnorm.serve;
