/**
 * The Module API: layers, optimizers, a training step, inference folding and PyTorch-compatible
 * state dicts, over off-heap {@link dev.bnorm.Tensor}s.
 *
 * <pre>
 *   import dev.bnorm.Tensor;
 *   import dev.bnorm.nn.*;
 *   import dev.bnorm.nn.Module;     // beside the wildcard: see below
 *
 *   try (Module model = new Sequential(
 *            Linear.builder(64, 100).bias(false).seed(1).build(), // no bias before BatchNorm: beta shifts
 *            BatchNorm1d.builder(100).build(),                    // PyTorch defaults: eps 1e-5, momentum 0.1
 *            new ReLU(),
 *            Linear.builder(100, 10).seed(2).build());
 *        SoftmaxCrossEntropy loss = new SoftmaxCrossEntropy();
 *        SGD sgd = SGD.builder(model.parameters(), 0.1).momentum(0.9).weightDecay(1e-4).build();
 *        Tensor x = Tensor.zeros(Tensor.Format.NC, 64, 64)) {
 *       for (...) {
 *           x.copyFrom(batch);                            // or Tensor.wrap(yourSegment, ...)
 *           sgd.zeroGrad();
 *           float l = loss.forward(model.forward(x), labels);
 *           model.backward(loss.backward());
 *           sgd.step();
 *       }
 *       model.eval();                                     // running statistics from now on
 *       StateDicts.save(model, Path.of("model.safetensors")); // loads in PyTorch with the same keys
 *       StateDicts.save(sgd, Path.of("sgd.safetensors"));     // the momentum buffers, to resume exactly
 *   }
 * </pre>
 *
 * <p><b>Why {@code import dev.bnorm.nn.Module;}.</b> The name is PyTorch's ({@code torch.nn.Module}),
 * kept for its users. Every Java file imports {@code java.lang.*} on demand, which holds
 * {@link java.lang.Module}; with {@code import dev.bnorm.nn.*;} as well, a use of {@code Module}
 * is ambiguous and does not compile. A single-type import shadows both wildcards, so import
 * {@code dev.bnorm.nn.Module} by name (as the README's example, compiled by a test, does).
 *
 * <p>Rules, detailed in {@link dev.bnorm.nn.Module}: outputs and gradients returned by modules
 * are views of memory the modules own and reuse (valid until the next call; closing a view is
 * harmless); parameters and buffers are the modules' own tensors (do not close them); inputs are kept
 * by reference until backward; backward accumulates parameter gradients; a module and its
 * tensors are confined to the thread that created them ({@link java.lang.WrongThreadException}
 * otherwise). Bad arguments are {@link java.lang.IllegalArgumentException}s naming the argument
 * with the expected and actual values, checked before anything is written.
 */
package dev.bnorm.nn;
