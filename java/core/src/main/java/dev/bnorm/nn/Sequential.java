package dev.bnorm.nn;

import dev.bnorm.Tensor;
import java.util.List;

/**
 * A chain of modules, PyTorch's {@code torch.nn.Sequential}: forward runs them in order, backward
 * in reverse. The children are named {@code "0"}, {@code "1"}, ... so that state-dict keys are
 * PyTorch's ({@code "0.weight"}, {@code "1.running_mean"}); modules without state, such as
 * {@link ReLU}, still take an index. The sequence owns its children: {@link #close()} closes them.
 *
 * <p>A failed forward: when the first module refuses the input, nothing has changed and the
 * previous output and pending backward stay valid. When a later module fails, the modules before
 * it have already run on the new input, so the pending backward of the sequence is lost:
 * {@link #backward} then throws {@link IllegalStateException} before any module changes anything
 * (no gradient is half-accumulated) until the next successful forward.
 */
public final class Sequential extends Module {

    private final List<Module> modules;
    private int failedAt = -1; // index of the module whose failure lost the pending backward, or -1

    /** A chain of distinct modules, created on this thread. */
    public Sequential(Module... modules) {
        if (modules == null || modules.length == 0) {
            throw new IllegalArgumentException("modules: expected at least one module, got none");
        }
        for (int i = 0; i < modules.length; i++) {
            for (int j = 0; j < i; j++) {
                if (modules[i] == modules[j]) {
                    throw new IllegalArgumentException("modules[" + i + "]: expected a module not already in the"
                            + " sequence, got the same instance as modules[" + j + "]");
                }
            }
            registerChild(Integer.toString(i), modules[i]);
        }
        this.modules = List.of(modules);
    }

    /** The module at {@code index}. */
    public Module get(int index) {
        return modules.get(index);
    }

    /** The number of modules. */
    public int size() {
        return modules.size();
    }

    @Override
    public Tensor forward(Tensor inp) {
        checkUsable();
        Tensor x = inp;
        for (int i = 0; i < modules.size(); i++) {
            try {
                x = modules.get(i).forward(x);
            } catch (RuntimeException | Error e) {
                if (i > 0 || modules.get(0) instanceof Sequential first && first.failedAt >= 0) {
                    failedAt = i;
                }
                throw e;
            }
        }
        failedAt = -1;
        return x;
    }

    @Override
    public Tensor backward(Tensor dout) {
        checkUsable();
        if (failedAt >= 0) {
            throw new IllegalStateException("backward: the last forward failed in module " + failedAt + " ("
                    + modules.get(failedAt) + ") after the modules before it had run: forward again before backward");
        }
        Tensor d = dout;
        for (int i = modules.size() - 1; i >= 0; i--) {
            d = modules.get(i).backward(d);
        }
        return d;
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("Sequential(");
        for (int i = 0; i < modules.size(); i++) {
            sb.append(i == 0 ? "" : ", ").append(modules.get(i));
        }
        return sb.append(')').toString();
    }
}
