package dev.bnorm.nn;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import dev.bnorm.kernel.Compare;
import dev.bnorm.kernel.GoldenCases;
import dev.bnorm.kernel.Kernels;
import java.util.Arrays;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Batch Renorm and Ghost BN against renorm_ghost.txt, written by
 * {@code src/test/python/make_renorm_ghost.py} from the papers' formulas with PyTorch 1.13
 * autograd in float64: outputs, gradients of each step and running statistics over several
 * training steps (a Batch Renorm schedule with warm-up and relaxation; Ghost BN with a last virtual
 * batch that is smaller or joins its neighbour), then an evaluation forward.
 */
class RenormGhostFixtureTest {

    static final GoldenCases.Case FIXTURE = Fixtures.text("renorm_ghost.txt");

    @ParameterizedTest
    @CsvSource({"renorm_ncl, native", "renorm_ncl, java", "renorm_nc_clipped, native", "renorm_nc_clipped, java",
                "ghost_nchw, native", "ghost_nchw, java", "ghost_nc, native", "ghost_nc, java"})
    void matchesThePapersFormulasInPyTorch(String name, String kernels) {
        GoldenCases.Case f = FIXTURE;
        Format format = Format.valueOf(f.text(name + ".format"));
        long[] shape = Arrays.stream(f.text(name + ".shape").split(" ")).mapToLong(Long::parseLong).toArray();
        int c = (int) shape[1];
        long m = shape[0] * (shape.length > 2 ? shape[2] : 1) * (shape.length > 3 ? shape[3] : 1);
        boolean oneD = format == Format.NC || format == Format.NCL;
        double momentum = Double.parseDouble(f.text(name + ".momentum"));
        double eps = Double.parseDouble(f.text("eps"));
        Module module;
        if (f.text(name + ".kind").equals("renorm")) {
            BatchRenorm.Schedule schedule = new BatchRenorm.Schedule(f.doubles(name + ".rmax")[0],
                    f.doubles(name + ".dmax")[0], f.number(name + ".warmup"), f.number(name + ".rmax_steps"),
                    f.number(name + ".dmax_steps"));
            module = oneD
                    ? BatchRenorm1d.builder(c).eps(eps).momentum(momentum).schedule(schedule).kernels(Kernels.named(kernels)).build()
                    : BatchRenorm2d.builder(c).eps(eps).momentum(momentum).schedule(schedule).kernels(Kernels.named(kernels)).build();
        } else {
            int g = (int) f.number(name + ".virtual_batch_size");
            module = oneD
                    ? BatchNorm1d.builder(c).eps(eps).momentum(momentum).virtualBatchSize(g).kernels(Kernels.named(kernels)).build()
                    : BatchNorm2d.builder(c).eps(eps).momentum(momentum).virtualBatchSize(g).kernels(Kernels.named(kernels)).build();
        }
        try (module) {
            Parameter weight = module.namedParameters().get("weight");
            Parameter bias = module.namedParameters().get("bias");
            weight.value().copyFrom(Tensor.of(Format.C, f.floats(name + ".init.weight"), c));
            bias.value().copyFrom(Tensor.of(Format.C, f.floats(name + ".init.bias"), c));
            double tol = Compare.tol(m);
            for (long t = 0; t < f.number(name + ".steps"); t++) {
                String step = name + ".step" + t + ".";
                String what = name + " " + kernels + " step " + t;
                try (Tensor x = Tensor.of(format, f.floats(step + "inp"), shape);
                     Tensor dy = Tensor.of(format, f.floats(step + "dout"), shape)) {
                    Compare.assertClose(f.doubles(step + "out"), module.forward(x).toArray(), tol, tol, what + " out");
                    module.zeroGrad();
                    Compare.assertClose(f.doubles(step + "dinp"), module.backward(dy).toArray(), tol, tol, what + " dinp");
                    Compare.assertClose(f.doubles(step + "dgamma"), weight.grad().toArray(), Compare.sumTol(m), tol,
                            what + " dgamma");
                    Compare.assertClose(f.doubles(step + "dbeta"), bias.grad().toArray(), Compare.sumTol(m), tol,
                            what + " dbeta");
                    Compare.assertClose(f.doubles(step + "running_mean"), module.buffers().get("running_mean").toArray(),
                            tol, tol, what + " running_mean");
                    Compare.assertClose(f.doubles(step + "running_var"), module.buffers().get("running_var").toArray(),
                            tol, tol, what + " running_var");
                }
            }
            module.eval();
            try (Tensor x = Tensor.of(format, f.floats(name + ".eval.inp"), shape)) {
                Compare.assertClose(f.doubles(name + ".eval.out"), module.forward(x).toArray(), tol, tol,
                        name + " " + kernels + " eval out");
            }
        }
    }
}
