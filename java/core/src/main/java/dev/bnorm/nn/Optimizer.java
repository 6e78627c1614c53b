package dev.bnorm.nn;

import dev.bnorm.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;

/**
 * The common part of {@link SGD}, {@link Adam} and {@link AdamW}: a list of parameters, a learning
 * rate, and per-parameter state in off-heap tensors that the optimizer owns ({@link #close()}
 * frees them). Confined to the thread that created it, like the parameters' module.
 *
 * <p><b>Steps are all or nothing.</b> {@link #step()} first checks every parameter (value and
 * gradient open and accessible from this thread) and only then updates them: a closed parameter
 * is an {@link IllegalStateException} naming it, and no parameter has changed.
 *
 * <p><b>State</b> is saved and loaded with {@link StateDicts#save(Optimizer, java.nio.file.Path)}
 * and {@link StateDicts#load(Optimizer, java.nio.file.Path)}, under keys modelled on PyTorch's
 * {@code optimizer.state_dict()["state"]}: {@code state.<i>.<name>} for the parameter at index
 * {@code i} of the list given to the optimizer, e.g. {@code state.0.momentum_buffer} (SGD),
 * {@code state.1.exp_avg}, {@code state.1.exp_avg_sq}, {@code state.1.max_exp_avg_sq} (Adam with
 * amsgrad) as float32 tensors of the parameter's shape, and {@code state.1.step} as an int64
 * scalar (PyTorch keeps it as a float32 scalar). The hyperparameters (PyTorch's
 * {@code param_groups}) are not saved: the program builds the optimizer with the same settings.
 */
public abstract sealed class Optimizer implements AutoCloseable permits SGD, AdamBase {

    private final String name;
    private final List<Parameter> params;
    private final State state;
    private final List<State> slots = new ArrayList<>();
    private double lr;
    private boolean closed;

    Optimizer(String name, List<Parameter> params, double lr) {
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
        this.name = name;
        this.params = List.copyOf(params);
        this.state = new State();
        State all = state.child("state");
        for (int i = 0; i < this.params.size(); i++) {
            slots.add(all.child(Integer.toString(i)));
        }
    }

    static void nonNegative(String name, double value) {
        if (!(Double.isFinite(value) && value >= 0)) {
            throw new IllegalArgumentException(name + ": expected a finite number >= 0, got " + value);
        }
    }

    /** A new zero state tensor of the shape of parameter {@code i}, saved as {@code state.<i>.<key>}. */
    final Tensor stateTensor(int i, String key) {
        Tensor like = params.get(i).value();
        return slots.get(i).buffer(key, Tensor.zeros(like.format(), like.shape()));
    }

    /** A new int64 state counter (0) of parameter {@code i}, saved as {@code state.<i>.<key>}. */
    final Counter stateCounter(int i, String key) {
        return slots.get(i).counter(key);
    }

    /** The parameters, in the order given (the {@code i} of the state keys). */
    public final List<Parameter> parameters() {
        return params;
    }

    /** Changes the learning rate (e.g. for a schedule); finite and &gt;= 0. */
    public final void setLearningRate(double lr) {
        nonNegative("lr", lr);
        this.lr = lr;
    }

    /** The learning rate. */
    public final double learningRate() {
        return lr;
    }

    /**
     * One update of every parameter from its accumulated gradient; all parameters are checked
     * before the first is changed.
     *
     * @throws IllegalStateException if the optimizer or a parameter (value or gradient) is closed
     */
    public final void step() {
        checkOpen();
        checkParameters("no parameter was updated");
        for (int i = 0; i < params.size(); i++) {
            Parameter p = params.get(i);
            update(i, p.value().segment(), p.grad().segment(), p.value().size());
        }
    }

    /** Throws unless every parameter's value and gradient is open and accessible from this thread. */
    private void checkParameters(String consequence) {
        for (int i = 0; i < params.size(); i++) {
            Parameter p = params.get(i);
            if (!p.value().isAlive() || !p.grad().isAlive()) {
                throw new IllegalStateException("params[" + i + "]: " + p + " is closed (value " + p.value()
                        + ", grad " + p.grad() + "); " + consequence);
            }
            p.value().segment(); // throws WrongThreadException now rather than after some changes
            p.grad().segment();
        }
    }

    /** Updates parameter {@code i} (its value {@code v} from its gradient {@code g}, {@code n} floats); cannot fail. */
    abstract void update(int i, MemorySegment v, MemorySegment g, long n);

    /** Sets every parameter's gradient to zero (all parameters are checked first, as for {@link #step()}). */
    public final void zeroGrad() {
        checkOpen();
        checkParameters("no gradient was cleared");
        for (Parameter p : params) {
            p.grad().fill(0f);
        }
    }

    /** The state as a module of buffers and counters, for {@link StateDicts}. */
    final Module state() {
        checkOpen();
        return state;
    }

    /** Frees the state; idempotent. */
    @Override
    public final void close() {
        if (!closed) {
            state.close();
            closed = true;
        }
    }

    final void checkOpen() {
        if (closed) {
            throw new IllegalStateException(name + ": closed");
        }
    }

    /** A container of named state tensors and counters, so that {@link StateDicts} saves and loads it like a model's. */
    private static final class State extends Module {

        State child(String key) {
            return registerChild(key, new State());
        }

        Tensor buffer(String key, Tensor t) {
            return registerBuffer(key, t);
        }

        Counter counter(String key) {
            return registerCounter(key);
        }

        @Override
        public Tensor forward(Tensor inp) {
            throw new UnsupportedOperationException("optimizer state: no forward");
        }

        @Override
        public Tensor backward(Tensor dout) {
            throw new UnsupportedOperationException("optimizer state: no backward");
        }
    }
}
