package dev.bnorm.nn;

import static dev.bnorm.nn.Fixtures.assertMessage;

import dev.bnorm.kernel.Buffers;
import dev.bnorm.kernel.Compare;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** SGD against PyTorch's update rule written out in double: d = g + wd*p; buf = mu*buf + d; p -= lr*buf. */
class SGDTest {

    @ParameterizedTest(name = "lr={0} momentum={1} weightDecay={2}")
    @CsvSource({"0.1, 0.9, 0.01", "0.5, 0, 0", "0.05, 0.5, 0", "0.2, 0, 0.1"})
    void followsPyTorchsUpdateRule(double lr, double momentum, double weightDecay) {
        Random random = new Random(41);
        try (Linear layer = new Linear(3, 2, true, 5);
             SGD sgd = new SGD(layer.parameters(), lr, momentum, weightDecay)) {
            List<Parameter> params = layer.parameters();
            double[][] p = new double[params.size()][];
            double[][] buf = new double[params.size()][];
            for (int j = 0; j < p.length; j++) {
                p[j] = Buffers.toDouble(params.get(j).value().toArray());
                buf[j] = new double[p[j].length];
            }
            for (int step = 0; step < 3; step++) {
                for (int j = 0; j < p.length; j++) {
                    float[] g = Buffers.gaussian(random, p[j].length, 0, 1);
                    params.get(j).grad().copyFrom(g);
                    for (int i = 0; i < g.length; i++) {
                        double d = g[i] + weightDecay * p[j][i];
                        buf[j][i] = momentum * buf[j][i] + d;
                        p[j][i] -= lr * (momentum != 0 ? buf[j][i] : d);
                    }
                }
                sgd.step();
                for (int j = 0; j < p.length; j++) {
                    Compare.assertClose(p[j], params.get(j).value().toArray(), 1e-6, "step " + step + " " + params.get(j));
                }
            }
            sgd.zeroGrad();
            Compare.assertClose(new double[6], params.get(0).grad().toArray(), 0, "zeroGrad");
        }
    }

    @Test
    void checksItsArguments() {
        try (Linear layer = new Linear(2, 2, true, 1)) {
            List<Parameter> params = layer.parameters();
            assertMessage(IllegalArgumentException.class, "lr: expected a finite number >= 0, got -0.1",
                    () -> new SGD(params, -0.1, 0, 0));
            assertMessage(IllegalArgumentException.class, "momentum: expected a finite number >= 0, got NaN",
                    () -> new SGD(params, 0.1, Double.NaN, 0));
            assertMessage(IllegalArgumentException.class, "weightDecay: expected a finite number >= 0",
                    () -> new SGD(params, 0.1, 0, Double.POSITIVE_INFINITY));
            assertMessage(IllegalArgumentException.class, "params[1]: expected distinct parameters",
                    () -> new SGD(List.of(params.get(0), params.get(0)), 0.1, 0, 0));
            SGD closed = new SGD(params, 0.1, 0.9, 0);
            closed.close();
            assertMessage(IllegalStateException.class, "SGD: closed", closed::step);
        }
    }
}
