package dev.bnorm.readme;

import dev.bnorm.Tensor;
import dev.bnorm.nn.*;
import dev.bnorm.nn.Module; // needed beside the wildcard: it shadows java.lang.Module
import java.io.IOException;
import java.nio.file.Path;

public class Example {

    /** An MLP for 64 features and 10 classes, with Batch Normalization after the hidden layer. */
    static Module mlp() {
        return new Sequential(
                Linear.builder(64, 100).bias(false).seed(1).build(), // no bias before BatchNorm: its beta shifts
                BatchNorm1d.builder(100).build(),                    // PyTorch's defaults: eps 1e-5, momentum 0.1
                new ReLU(),
                Linear.builder(100, 10).seed(2).build());
    }

    /** Trains on batches of 64 rows (x[k]: 64*64 floats, y[k]: 64 labels in [0, 10)); predicts the last. */
    public static int[] train(float[][] x, int[][] y, Path dir) throws IOException {
        try (Module model = mlp();
             SoftmaxCrossEntropy loss = new SoftmaxCrossEntropy();
             Adam adam = Adam.builder(model.parameters()).lr(1e-3).build(); // or SGD.builder(params, lr).momentum(0.9)
             Tensor batch = Tensor.zeros(Tensor.Format.NC, 64, 64)) {      // or Tensor.wrap(yourSegment, ...)
            for (int k = 0; k < x.length; k++) {
                batch.copyFrom(x[k]);
                adam.zeroGrad();
                float l = loss.forward(model.forward(batch), y[k]);  // the mean loss of the batch
                model.backward(loss.backward());
                adam.step();
            }
            model.eval();                                               // running statistics from now on
            StateDicts.save(model, dir.resolve("model.safetensors"));  // PyTorch's keys: loads with load_state_dict
            StateDicts.save(adam, dir.resolve("adam.safetensors"));    // to resume training exactly
            return SoftmaxCrossEntropy.argmax(model.forward(batch));   // the output is the model's: read, don't keep
        }
    }
}
