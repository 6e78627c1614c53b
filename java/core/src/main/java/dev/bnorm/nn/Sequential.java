package dev.bnorm.nn;

import dev.bnorm.Tensor;
import java.util.List;

/**
 * A chain of modules, PyTorch's {@code torch.nn.Sequential}: forward runs them in order, backward
 * in reverse. The children are named {@code "0"}, {@code "1"}, ... so that state-dict keys are
 * PyTorch's ({@code "0.weight"}, {@code "1.running_mean"}); modules without state, such as
 * {@link ReLU}, still take an index. The sequence owns its children: {@link #close()} closes them.
 *
 * <p>A {@link BatchNorm} directly followed by a {@link ReLU} runs as one fused module: the
 * BatchNorm computes {@code relu(bn(x))} in the same pass, forward and backward (see
 * {@link BatchNorm}), and the ReLU module is skipped (its result would be the same: ReLU of the
 * same rounded values, and the same gate on the gradient). The ReLU keeps its index.
 *
 * <p>A failed forward: before any module runs, forward makes every module's checks of its input
 * through the whole chain (format, shape, M = N*S for batch statistics, memory overlapping the
 * module's own), each module's input being the output the modules before it would give. So a
 * forward that any module refuses changes nothing: the previous output, the running statistics
 * and the pending backward stay valid. What cannot be checked ahead (a module of another package,
 * a failed allocation or collective, values that SyncBatchNorm checks across ranks) can still fail
 * in a later module after the modules before it have run on the new input; the pending backward
 * of the sequence is then lost: {@link #backward} throws {@link IllegalStateException} before any
 * module changes anything (no gradient is half-accumulated) until the next successful forward.
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
        checkOpen("inp", inp);
        checkInput(Input.of(inp));
        Tensor x = inp;
        for (int i = 0; i < modules.size(); i++) {
            try {
                if (fusedWithNext(i)) {
                    x = ((BatchNorm) modules.get(i)).forward(x, null, true);
                    i++;
                } else {
                    x = modules.get(i).forward(x);
                }
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

    /**
     * Each module's checks on the output of the one before. A later module's input is the previous
     * module's workspace, which no other module writes, so its memory checks need no tensor, unless
     * a module passes the caller's memory on ({@link Flatten}: {@link Input#tensor()} goes on with
     * its output, and the next module checks it as it will when it runs). A module given twice in a
     * nested chain meets its own output: that overlap is found only when it runs (see the class
     * comment).
     */
    @Override
    void checkInput(Input inp) {
        Input x = inp;
        for (int i = 0; i < modules.size() && x != null; i++) {
            modules.get(i).checkInput(x);
            x = modules.get(i).output(x);
        }
    }

    @Override
    Input output(Input inp) {
        Input x = inp;
        for (int i = 0; i < modules.size() && x != null; i++) {
            x = modules.get(i).output(x);
        }
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
            if (i > 0 && fusedWithNext(i - 1)) {
                i--; // the BatchNorm's backward includes the ReLU's
            }
            d = modules.get(i).backward(d);
        }
        return d;
    }

    /** Whether module i is a BatchNorm that runs fused with the ReLU after it. */
    private boolean fusedWithNext(int i) {
        return i + 1 < modules.size() && modules.get(i) instanceof BatchNorm && modules.get(i + 1) instanceof ReLU;
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
