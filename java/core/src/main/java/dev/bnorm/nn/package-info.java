/**
 * The Module API: layers, a training step, inference folding and PyTorch-compatible state dicts,
 * over off-heap {@link dev.bnorm.Tensor}s.
 *
 * <pre>
 *   try (Sequential model = new Sequential(
 *            new Linear(64, 100, false, seed),          // no bias before BatchNorm: beta shifts
 *            BatchNorm1d.builder(100).build(),          // PyTorch defaults: eps 1e-5, momentum 0.1
 *            new ReLU(),
 *            new Linear(100, 10, true, seed + 1));
 *        SoftmaxCrossEntropy loss = new SoftmaxCrossEntropy();
 *        SGD sgd = new SGD(model.parameters(), 0.1, 0.9, 1e-4);
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
 *   }
 * </pre>
 *
 * <p>Rules, detailed in {@link dev.bnorm.nn.Module}: outputs and gradients returned by modules
 * are owned and reused by them (do not close them; valid until the next call); inputs are kept
 * by reference until backward; backward accumulates parameter gradients; a module and its
 * tensors are confined to the thread that created them ({@link java.lang.WrongThreadException}
 * otherwise). Bad arguments are {@link java.lang.IllegalArgumentException}s naming the argument
 * with the expected and actual values, checked before anything is written.
 */
package dev.bnorm.nn;
