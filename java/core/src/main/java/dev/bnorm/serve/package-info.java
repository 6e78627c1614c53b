/**
 * Serving: {@link dev.bnorm.serve.InferenceModel}, an immutable, thread-safe inference model
 * built once from a trained {@link dev.bnorm.nn.Sequential} (or a PyTorch state dict plus the
 * architecture) and called concurrently from any number of platform and virtual threads; and its
 * sibling {@link dev.bnorm.serve.ConvInferenceModel} for convolutional networks (a
 * {@link dev.bnorm.nn.ResNet} or a Sequential of Conv2d, BatchNorm2d, pooling, BasicBlock, Linear),
 * each Conv2d+BatchNorm2d folded into one convolution.
 */
package dev.bnorm.serve;
