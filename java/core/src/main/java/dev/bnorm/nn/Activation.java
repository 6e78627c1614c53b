package dev.bnorm.nn;

import dev.bnorm.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * An elementwise activation {@code out = f(inp)} of any format, whose derivative is a function of
 * the output: backward computes {@code dinp = dout * f'} from the saved output, not the input.
 */
abstract sealed class Activation extends Module permits ReLU, Sigmoid {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    private final Workspace output = workspace();
    private final Workspace inputGrad = workspace();
    private boolean forwarded;

    /** f(x). */
    abstract float apply(float x);

    /** f'(x) written with y = f(x). */
    abstract float derivative(float y);

    /** @param inp any format; the output has the same format and shape */
    @Override
    public final Tensor forward(Tensor inp) {
        checkUsable();
        checkOpen("inp", inp);
        checkInput(Input.of(inp));
        Tensor result = output.like(inp);
        MemorySegment x = inp.segment();
        MemorySegment y = result.segment();
        for (long i = 0, n = inp.size(); i < n; i++) {
            y.setAtIndex(F, i, apply(x.getAtIndex(F, i))); // in place if inp is exactly our own output: still correct
        }
        forwarded = true;
        return result;
    }

    @Override
    final void checkInput(Input inp) {
        if (inp.tensor() != null) {
            checkClear("inp", inp.tensor(), "output", output, true);
        }
    }

    @Override
    final Input output(Input inp) {
        return Input.output(this, null, inp.format(), inp.shape());
    }

    @Override
    public final Tensor backward(Tensor dout) {
        checkUsable();
        checkBackward(dout, output.current(), forwarded ? output.current() : null);
        checkClear("dout", dout, "input gradient", inputGrad, true);
        Tensor result = inputGrad.like(dout);
        MemorySegment y = output.current().segment();
        MemorySegment dy = dout.segment();
        MemorySegment dx = result.segment();
        for (long i = 0, n = dout.size(); i < n; i++) {
            dx.setAtIndex(F, i, dy.getAtIndex(F, i) * derivative(y.getAtIndex(F, i)));
        }
        return result;
    }
}
