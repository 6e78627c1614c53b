package dev.bnorm.nn;

import dev.bnorm.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;

/**
 * Stochastic gradient descent with momentum and weight decay, PyTorch's update rule
 * ({@code torch.optim.SGD}, dampening 0, not Nesterov), for each parameter p with gradient g:
 * <pre>
 *   d   = g + weightDecay * p
 *   buf = momentum * buf + d          (buf starts at 0, so the first step has buf = d)
 *   p   = p - lr * buf                (p - lr * d when momentum is 0)
 * </pre>
 * The momentum buffers are off-heap and owned by the optimizer ({@link #close()} frees them).
 * Confined to the thread that created it, like the parameters' module.
 */
public final class SGD implements AutoCloseable {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    private final List<Parameter> params;
    private final List<Tensor> buffers = new ArrayList<>(); // empty when momentum == 0
    private final double momentum;
    private final double weightDecay;
    private double lr;
    private boolean closed;

    /**
     * @param params      distinct parameters, e.g. {@code model.parameters()}
     * @param lr          learning rate, finite and &gt;= 0
     * @param momentum    finite and &gt;= 0 (0: plain SGD)
     * @param weightDecay L2 penalty, finite and &gt;= 0
     */
    public SGD(List<Parameter> params, double lr, double momentum, double weightDecay) {
        if (params == null) {
            throw new IllegalArgumentException("params: expected a list of parameters, got null");
        }
        IdentityHashMap<Parameter, Integer> seen = new IdentityHashMap<>();
        for (int i = 0; i < params.size(); i++) {
            Parameter p = params.get(i);
            if (p == null) {
                throw new IllegalArgumentException("params[" + i + "]: expected a parameter, got null");
            }
            Integer before = seen.put(p, i);
            if (before != null) {
                throw new IllegalArgumentException("params[" + i + "]: expected distinct parameters, got the same as params["
                        + before + "]");
            }
        }
        setLearningRate(lr);
        nonNegative("momentum", momentum);
        nonNegative("weightDecay", weightDecay);
        this.params = List.copyOf(params);
        this.momentum = momentum;
        this.weightDecay = weightDecay;
        if (momentum != 0) {
            for (Parameter p : this.params) {
                buffers.add(Tensor.zeros(p.value().format(), p.value().shape()));
            }
        }
    }

    private static void nonNegative(String name, double value) {
        if (!(Double.isFinite(value) && value >= 0)) {
            throw new IllegalArgumentException(name + ": expected a finite number >= 0, got " + value);
        }
    }

    /** Changes the learning rate (e.g. for a schedule); finite and &gt;= 0. */
    public void setLearningRate(double lr) {
        nonNegative("lr", lr);
        this.lr = lr;
    }

    /** The learning rate. */
    public double learningRate() {
        return lr;
    }

    /** One update of every parameter from its accumulated gradient. */
    public void step() {
        checkOpen();
        float rate = (float) lr;
        float mu = (float) momentum;
        float wd = (float) weightDecay;
        for (int j = 0; j < params.size(); j++) {
            Parameter p = params.get(j);
            MemorySegment v = p.value().segment();
            MemorySegment g = p.grad().segment();
            MemorySegment b = buffers.isEmpty() ? null : buffers.get(j).segment();
            for (long i = 0, n = p.value().size(); i < n; i++) {
                float x = v.getAtIndex(F, i);
                float d = g.getAtIndex(F, i) + wd * x;
                if (b != null) {
                    d = mu * b.getAtIndex(F, i) + d;
                    b.setAtIndex(F, i, d);
                }
                v.setAtIndex(F, i, x - rate * d);
            }
        }
    }

    /** Sets every parameter's gradient to zero. */
    public void zeroGrad() {
        checkOpen();
        for (int j = 0; j < params.size(); j++) {
            params.get(j).grad().fill(0f);
        }
    }

    /** Frees the momentum buffers; idempotent. */
    @Override
    public void close() {
        if (!closed) {
            for (Tensor t : buffers) {
                t.close();
            }
            closed = true;
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("SGD: closed");
        }
    }
}
