package dev.bnorm.nn;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;

/**
 * Reshapes {@code (N, C, L)} or {@code (N, C, H, W)} to {@code (N, C*S)} (format NC), like
 * PyTorch's {@code torch.nn.Flatten()}, so that a {@link Linear} can follow a
 * {@link BatchNorm2d}. No copy: the output is a view of the input's memory (valid as long as the
 * input), and backward returns a view of {@code dout} in the input's format. NC passes through.
 * NHWC is refused unless H = W = 1 (the output of {@link AdaptiveAvgPool2d}): otherwise its memory
 * order (channels last) differs from PyTorch's flattening order.
 */
public final class Flatten extends Module {

    private Tensor out;
    private Tensor savedInp;

    /** A flatten layer (no state). */
    public Flatten() {
    }

    @Override
    public Tensor forward(Tensor inp) {
        checkUsable();
        checkOpen("inp", inp);
        checkInput(Input.of(inp));
        if (out == null || savedInp != inp || !out.isAlive()) { // a view: a caller may have closed it
            out = inp.reshape(Format.NC, inp.n(), inp.size() / inp.n());
            savedInp = inp;
        }
        return out;
    }

    @Override
    void checkInput(Input inp) {
        if (inp.format() == Format.NHWC && inp.s() == 1) {
            return;
        }
        checkFormat("inp", inp.format(), inp, Format.NC, Format.NCL, Format.NCHW);
    }

    /** The output is a view of the input's memory: {@code inp.tensor()} goes on with it. */
    @Override
    Input output(Input inp) {
        return Input.output(this, inp.tensor(), Format.NC, inp.n(), inp.c() * inp.s());
    }

    @Override
    public Tensor backward(Tensor dout) {
        checkUsable();
        checkBackward(dout, out, savedInp);
        return dout.reshape(savedInp.format(), savedInp.shape());
    }

    @Override
    public String toString() {
        return "Flatten()";
    }
}
