package dev.bnorm.nn;

import dev.bnorm.Tensor;
import dev.bnorm.kernel.DType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.function.Function;

/**
 * A layer or a model: {@link #forward} and {@link #backward} over off-heap {@link Tensor}s, with
 * PyTorch's names for its state. Beside {@code import dev.bnorm.nn.*;} import this class by name
 * ({@code import dev.bnorm.nn.Module;}): otherwise {@code Module} is ambiguous with
 * {@link java.lang.Module}.
 *
 * <p><b>Forward and backward.</b> {@code forward(inp)} returns the output as a borrowed view of
 * memory the module owns and reuses: its values are valid until the next forward (or close) of
 * the module; closing the view is harmless (it ends only that view: the module, its memory and a
 * pending backward are unaffected). The module keeps a reference to {@code inp}, not a copy: the
 * input must stay alive and unchanged until the matching {@code backward}. {@code backward(dout)}
 * takes the gradient of the loss with respect to the last forward's output and returns the
 * gradient with respect to its input (a module-owned view in the same way, valid until the next
 * backward); it <em>adds</em> the parameter gradients into {@link Parameter#grad()} (accumulates,
 * like PyTorch), so clear them with {@link #zeroGrad()} between steps.
 *
 * <p><b>Tensors that are the module's state</b> ({@link Parameter#value()},
 * {@link Parameter#grad()}, {@link #buffers()}, {@link #stateDict()}) are the module's own, live
 * tensors, not views: read and write them, but do not close them; closing one frees that memory,
 * and the module and optimizers then refuse to use it ({@link IllegalStateException}).
 *
 * <p><b>No allocation in the steady state.</b> Outputs, gradients and scratch buffers are
 * allocated at the first step with a given input shape, grow when a larger batch comes, and are
 * reused for every batch up to the largest seen: switching between batch sizes allocates nothing
 * once the largest has been seen (the memory is held until {@link #close()}). No activation is
 * copied to the Java heap.
 *
 * <p><b>State.</b> {@link #namedParameters()}, {@link #buffers()} (float32, e.g. running
 * statistics) and {@link #counters()} (int64, e.g. {@code num_batches_tracked}) use PyTorch's
 * keys; containers prefix their children's keys with the child's name ({@code "0."},
 * {@code "1."} in a {@link Sequential}). The maps hold the live tensors, not copies.
 *
 * <p><b>Threads.</b> A module is not thread-safe and is confined to the thread that created it,
 * like the tensors it owns (confined arenas): calling it from another thread throws
 * {@link WrongThreadException} before anything is read or written. To use a model on another
 * thread, create it there. Using a closed module throws {@link IllegalStateException}. Once the
 * creating thread has ended, {@link #close()} (and only that) works from any thread, so a model
 * made on a short-lived thread can still be freed.
 *
 * <p><b>Writing a module.</b> Subclasses register their state in the constructor
 * ({@link #registerParameter}, {@link #registerBuffer}, {@link #registerCounter},
 * {@link #registerChild}) and get reusable outputs from {@link #workspace()}; {@link #close()}
 * frees all of them. Call {@link #checkUsable()} first in every public method that touches state.
 */
public abstract class Module implements AutoCloseable {

    private final Thread owner = Thread.currentThread();
    private final Map<String, Parameter> params = new LinkedHashMap<>();
    private final Map<String, Tensor> buffers = new LinkedHashMap<>();
    private final Map<String, Counter> counters = new LinkedHashMap<>();
    private final Map<String, Module> children = new LinkedHashMap<>();
    private final List<Workspace> workspaces = new ArrayList<>();
    private boolean training = true;
    private boolean closed;

    /** A new module in training mode, confined to the calling thread. */
    protected Module() {
    }

    /**
     * Computes the output for {@code inp}. Ownership: the result is a borrowed view of
     * module-owned memory, valid until the next forward or close; closing it is harmless. A failed
     * forward changes nothing: the previous output and a pending backward stay valid (for a
     * {@link Sequential}, see there).
     *
     * @throws IllegalArgumentException if {@code inp} has the wrong format or shape for this module
     */
    public abstract Tensor forward(Tensor inp);

    /**
     * Makes exactly the checks of forward on its input that do not need the values (format, shape,
     * M = N*S, the memory of {@code inp.tensor()} against the module's own) and throws what forward
     * throws; changes nothing. Forward calls it first, after {@link #checkOpen}; {@link Sequential}
     * calls it, with {@link #output}, through its whole chain before any module runs, so that a
     * forward refused by a later module changes nothing. The default checks nothing.
     */
    void checkInput(Input inp) {
    }

    /**
     * The output forward gives for {@code inp} (which passed {@link #checkInput}), or null for a
     * module that cannot tell (the default: a module of another package): a chain is then checked
     * up to that module.
     */
    Input output(Input inp) {
        return null;
    }

    /**
     * What a forward receives, as its checks see it: a format and shape, the tensor whose memory it
     * is ({@code tensor}, null when it is memory no other module writes: the output of a module
     * earlier in the chain, in that module's own workspace), and the module it is the output of
     * ({@code from}, null for the caller's tensor), which messages name.
     */
    record Input(Tensor.Format format, long[] shape, Tensor tensor, Module from) {

        /** The caller's tensor {@code t} (its shape is read from it when needed: no copy per forward). */
        static Input of(Tensor t) {
            return new Input(t.format(), null, t, null);
        }

        /** The output of {@code from}, in memory of its own or in that of {@code tensor}. */
        static Input output(Module from, Tensor tensor, Tensor.Format format, long... shape) {
            return new Input(format, shape, tensor, from);
        }

        @Override
        public long[] shape() {
            return shape != null ? shape : tensor.shape();
        }

        long n() {
            return shape != null ? format.n(shape) : tensor.n();
        }

        long c() {
            return shape != null ? format.c(shape) : tensor.c();
        }

        long s() {
            return shape != null ? format.s(shape) : tensor.s();
        }

        @Override
        public String toString() {
            return from == null ? tensor.toString()
                    : "the output " + format + " " + Arrays.toString(shape) + " of " + from;
        }
    }

    /**
     * Returns the gradient with respect to the last forward's input and adds the parameter
     * gradients into {@link Parameter#grad()}. Ownership: the result is a borrowed view of
     * module-owned memory, valid until the next backward or close; closing it is harmless.
     *
     * @param dout gradient with respect to the last forward's output, of the same format and shape
     * @throws IllegalStateException if there was no forward since the module was created
     */
    public abstract Tensor backward(Tensor dout);

    // ---- modes ----

    /** Training mode for this module and its children; returns this. */
    public Module train() {
        setTraining(true);
        return this;
    }

    /** Evaluation (inference) mode for this module and its children; returns this. */
    public Module eval() {
        setTraining(false);
        return this;
    }

    /** Whether the module is in training mode (the default). */
    public boolean isTraining() {
        return training;
    }

    private void setTraining(boolean mode) {
        checkUsable();
        training = mode;
        for (Module child : children.values()) {
            child.setTraining(mode);
        }
    }

    // ---- state ----

    /** Every parameter of this module and its children, in registration order. */
    public List<Parameter> parameters() {
        return List.copyOf(namedParameters().values());
    }

    /** Every parameter by its PyTorch key ({@code "weight"}, {@code "0.weight"}, ...). */
    public Map<String, Parameter> namedParameters() {
        return select(StateEntry::parameter);
    }

    /** The float32 buffers (not trained: running statistics) by PyTorch key; the module's own tensors (do not close). */
    public Map<String, Tensor> buffers() {
        return select(e -> e.parameter() == null ? e.tensor() : null);
    }

    /** The int64 buffers ({@code num_batches_tracked}) by PyTorch key. */
    public Map<String, Counter> counters() {
        return select(StateEntry::counter);
    }

    /**
     * The float32 state by PyTorch key, in PyTorch's order: parameter values and float buffers
     * (the module's own live tensors: do not close them). PyTorch's {@code state_dict()} also holds the int64 entries of
     * {@link #counters()}; {@link StateDicts} saves and loads both.
     */
    public Map<String, Tensor> stateDict() {
        return select(StateEntry::tensor);
    }

    /** The non-null values of {@code part} over the state entries, by key, in order. */
    private <V> Map<String, V> select(Function<StateEntry, V> part) {
        Map<String, V> map = new LinkedHashMap<>();
        for (StateEntry e : stateEntries()) {
            V v = part.apply(e);
            if (v != null) {
                map.put(e.key(), v);
            }
        }
        return Collections.unmodifiableMap(map);
    }

    /**
     * Copies {@code state} into the float32 state (strict: exactly the keys of
     * {@link #stateDict()}, each of the same size, any format); counters are left unchanged.
     * Everything is checked before anything is written: on failure the module is unchanged.
     *
     * @throws IllegalArgumentException naming missing or unexpected keys, or a key with the wrong size
     */
    public void loadStateDict(Map<String, Tensor> state) {
        load(state, null);
    }

    /**
     * As {@link #loadStateDict(Map)}, and also sets the counters (exactly the keys of
     * {@link #counters()}, values at least 0).
     */
    public void loadStateDict(Map<String, Tensor> state, Map<String, Long> counterValues) {
        if (counterValues == null) {
            throw new IllegalArgumentException("counterValues: expected a map, got null");
        }
        load(state, counterValues);
    }

    private void load(Map<String, Tensor> state, Map<String, Long> counterValues) {
        checkUsable();
        if (state == null) {
            throw new IllegalArgumentException("state: expected a map, got null");
        }
        Map<String, Tensor> targets = stateDict();
        targets.forEach(Module::checkWritable);
        checkKeys("state", targets.keySet(), state.keySet());
        for (Map.Entry<String, Tensor> e : targets.entrySet()) {
            Tensor src = state.get(e.getKey());
            if (src == null || !src.isAlive() || src.size() != e.getValue().size()) {
                throw new IllegalArgumentException("state[" + e.getKey() + "]: expected an open tensor of "
                        + e.getValue().size() + " elements like " + e.getValue() + ", got " + src
                        + (src == null ? "" : " (" + src.size() + " elements)"));
            }
            src.segment(); // throws WrongThreadException now rather than half-way through the copies
        }
        Map<String, Counter> counterTargets = counters();
        if (counterValues != null) {
            checkKeys("counterValues", counterTargets.keySet(), counterValues.keySet());
            for (Map.Entry<String, Long> e : counterValues.entrySet()) {
                if (e.getValue() == null || e.getValue() < 0) {
                    throw new IllegalArgumentException("counterValues[" + e.getKey() + "]: expected at least 0, got "
                            + e.getValue());
                }
            }
        }
        for (Map.Entry<String, Tensor> e : targets.entrySet()) {
            e.getValue().copyFrom(state.get(e.getKey()));
        }
        if (counterValues != null) {
            for (Map.Entry<String, Counter> e : counterTargets.entrySet()) {
                e.getValue().set(counterValues.get(e.getKey()));
            }
        }
    }

    static void checkKeys(String what, java.util.Set<String> expected, java.util.Set<String> actual) {
        TreeSet<String> missing = new TreeSet<>(expected);
        missing.removeAll(actual);
        TreeSet<String> unexpected = new TreeSet<>(actual);
        unexpected.removeAll(expected);
        if (!missing.isEmpty() || !unexpected.isEmpty()) {
            throw new IllegalArgumentException(what + ": expected the keys " + new TreeSet<>(expected)
                    + ", got missing keys " + missing + " and unexpected keys " + unexpected);
        }
    }

    /**
     * Throws unless the model's tensor {@code key} can be written by this thread: a load checks every
     * target before it writes any, so that a closed one cannot leave the model half-loaded.
     */
    static void checkWritable(String key, Tensor t) {
        if (!t.isAlive()) {
            throw new IllegalStateException(key + ": expected an open tensor in the model, got " + t);
        }
        t.segment(); // WrongThreadException for a tensor confined to another thread
    }

    /** One entry of the state, in PyTorch's order: exactly one of tensor (with parameter or not) and counter. */
    record StateEntry(String key, Tensor tensor, Parameter parameter, Counter counter) {
    }

    /** The whole state with PyTorch keys and order: per module its parameters, buffers, counters, then children. */
    final List<StateEntry> stateEntries() {
        checkUsable();
        List<StateEntry> list = new ArrayList<>();
        collect("", list);
        return list;
    }

    private void collect(String prefix, List<StateEntry> list) {
        params.forEach((k, p) -> list.add(new StateEntry(prefix + k, p.value(), p, null)));
        buffers.forEach((k, t) -> list.add(new StateEntry(prefix + k, t, null, null)));
        counters.forEach((k, c) -> list.add(new StateEntry(prefix + k, null, null, c)));
        children.forEach((k, m) -> m.collect(prefix + k + ".", list));
    }

    /**
     * Sets every parameter gradient of this module and its children to zero; all are checked
     * (open, this thread) before the first is cleared.
     */
    public void zeroGrad() {
        List<Parameter> all = parameters();
        for (Parameter p : all) {
            if (!p.grad().isAlive()) {
                throw new IllegalStateException("zeroGrad: the gradient of " + p + " is closed; no gradient was cleared");
            }
        }
        for (Parameter p : all) {
            p.grad().fill(0f);
        }
    }

    // ---- lifetime and threads ----

    /** Frees everything the module owns, and closes its children; idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        if (owner.isAlive()) {
            checkThread();
        }
        closed = true;
        for (Module child : children.values()) {
            child.close();
        }
        params.values().forEach(Parameter::close);
        buffers.values().forEach(Tensor::close);
        workspaces.forEach(Workspace::close);
    }

    /** Whether {@link #close()} was called. */
    public boolean isClosed() {
        return closed;
    }

    /**
     * Throws {@link WrongThreadException} when called from a thread other than the creator, and
     * {@link IllegalStateException} when the module is closed.
     */
    protected final void checkUsable() {
        checkThread();
        if (closed) {
            throw new IllegalStateException(getClass().getSimpleName() + ": module is closed");
        }
    }

    private void checkThread() {
        if (Thread.currentThread() != owner) {
            throw new WrongThreadException(getClass().getSimpleName() + ": module is confined to thread \""
                    + owner.getName() + "\" which created it, called from thread \""
                    + Thread.currentThread().getName() + "\"");
        }
    }

    // ---- for subclasses ----

    /** Registers a new zero parameter (value and gradient) under {@code name}. */
    protected final Parameter registerParameter(String name, Tensor.Format format, long... shape) {
        checkName(name);
        Parameter p = new Parameter(name, format, shape);
        params.put(name, p);
        return p;
    }

    /** Registers a float32 buffer the module owns (closed with it) under {@code name}. */
    protected final Tensor registerBuffer(String name, Tensor buffer) {
        checkName(name);
        buffers.put(name, buffer);
        return buffer;
    }

    /** Registers a new int64 counter (0) under {@code name}. */
    protected final Counter registerCounter(String name) {
        checkName(name);
        Counter c = new Counter();
        counters.put(name, c);
        return c;
    }

    /** Registers a child module (closed with this one) under {@code name}; it must belong to this thread. */
    protected final <M extends Module> M registerChild(String name, M child) {
        checkName(name);
        if (child == null) {
            throw new IllegalArgumentException(name + ": expected a module, got null");
        }
        child.checkUsable();
        children.put(name, child);
        return child;
    }

    private void checkName(String name) {
        checkUsable();
        if (name == null || name.isEmpty() || name.contains(".") || params.containsKey(name)
                || buffers.containsKey(name) || counters.containsKey(name) || children.containsKey(name)) {
            throw new IllegalArgumentException("name: expected a new non-empty name without '.', got \"" + name + "\"");
        }
    }

    /** A new reusable tensor slot owned by this module (closed with it). */
    protected final Workspace workspace() {
        Workspace w = new Workspace();
        workspaces.add(w);
        return w;
    }

    /**
     * A module-owned output or scratch buffer that grows to the largest size requested and is
     * reused for every smaller one: the way a module keeps its outputs without allocating in the
     * steady state, also when the batch size alternates (e.g. 300 in training and 60 in
     * evaluation). The memory is released only by the module's {@link Module#close()}.
     *
     * <p>{@link #get} returns a borrowed view (see {@link Tensor#ownsMemory()}) of the first
     * bytes of that memory, in the requested dtype (float32 unless named), format and shape. A caller that closes the view only
     * ends its own use of it: the memory stays the module's, and the module makes a new view when it
     * needs one. Its contents are what was last written there (zeros in new memory).
     */
    protected static final class Workspace {
        private Tensor storage; // owned, (capacity,): grows, never shrinks
        private Tensor view;    // borrowed view of storage in the last requested format and shape

        Workspace() {
        }

        /**
         * A view of the given format and shape: the current one if it matches and is open, else a
         * new view of this workspace's memory, which grows first when it is too small (the larger
         * memory is allocated before the smaller is freed, so a failed allocation changes nothing).
         */
        public Tensor get(Tensor.Format format, long... shape) {
            return get(DType.F32, format, shape);
        }

        /** As {@link #get(Tensor.Format, long...)}, a view of elements of {@code dtype}. */
        public Tensor get(DType dtype, Tensor.Format format, long... shape) {
            if (view != null && view.isAlive() && view.dtype() == dtype && view.format() == format
                    && Arrays.equals(view.shape(), shape)) {
                return view;
            }
            long size = 1;
            for (long d : shape) {
                size = Math.multiplyExact(size, d);
            }
            long floats = (Math.multiplyExact(size, dtype.bytes()) + 3) / 4; // the memory, in floats
            if (storage == null || storage.size() < floats) {
                Tensor grown = Tensor.zeros(Tensor.Format.C, floats);
                close();
                storage = grown;
            }
            view = Tensor.wrap(storage.segment(), dtype, format, shape);
            return view;
        }

        /** A view of the dtype, format and shape of {@code like}. */
        public Tensor like(Tensor like) {
            return get(like.dtype(), like.format(), like.shape());
        }

        /**
         * The view last returned by {@code get}, or null before the first; if a caller closed it,
         * a new view of the same memory, format and shape (the contents are kept).
         */
        public Tensor current() {
            if (view != null && !view.isAlive() && storage.isAlive()) {
                view = Tensor.wrap(storage.segment(), view.dtype(), view.format(), view.shape());
            }
            return view;
        }

        /** All the memory this workspace holds (a call may write any of it), or null before the first. */
        Tensor memory() {
            return storage;
        }

        /** The number of floats of memory held (the largest size requested so far), 0 before the first. */
        long capacity() {
            return storage == null ? 0 : storage.size();
        }

        void close() {
            if (storage != null) {
                storage.close();
                storage = null;
                view = null;
            }
        }
    }

    /** Throws if {@code t} is null, closed, or not of one of the {@code formats}. */
    static void checkTensor(String name, Tensor t, Tensor.Format... formats) {
        checkOpen(name, t);
        checkFormat(name, t.format(), t, formats);
    }

    /** Throws if {@code t} is null, closed, or not float32 (the modules compute on float32 tensors). */
    static void checkOpen(String name, Tensor t) {
        checkAlive(name, t);
        checkF32(name, t);
    }

    /** Throws if {@code t} is null or closed (any dtype). */
    static void checkAlive(String name, Tensor t) {
        if (t == null) {
            throw new IllegalArgumentException(name + ": expected a tensor, got null");
        }
        if (!t.isAlive()) {
            throw new IllegalStateException(name + ": " + t + " is closed");
        }
    }

    /** Throws unless {@code t} is float32. */
    static void checkF32(String name, Tensor t) {
        if (t.dtype() != DType.F32) {
            throw new IllegalArgumentException(name + ": expected dtype F32, got " + t.dtype() + " (" + t + ")");
        }
    }

    /** Throws unless {@code format} of argument {@code name} (shown as {@code got}) is one of the {@code formats}. */
    static void checkFormat(String name, Tensor.Format format, Object got, Tensor.Format... formats) {
        for (Tensor.Format f : formats) {
            if (format == f) {
                return;
            }
        }
        throw new IllegalArgumentException(name + ": expected format " + (formats.length == 1 ? formats[0]
                : "one of " + Arrays.toString(formats)) + ", got " + got);
    }

    /**
     * Throws unless there was a forward ({@code saved}, the tensor backward needs from it, is not
     * null and still alive) and {@code dout} has the format, shape and dtype of its output {@code out}.
     */
    static void checkBackward(Tensor dout, Tensor out, Tensor saved) {
        if (saved == null || out == null) {
            throw new IllegalStateException("backward: expected a forward first, got none");
        }
        if (!saved.isAlive()) {
            throw new IllegalStateException("backward: the tensor saved by the last forward is closed: " + saved);
        }
        if (dout == null || !dout.sameShape(out)) {
            throw new IllegalArgumentException("dout: expected the format and shape of the last output "
                    + Arrays.toString(out.shape()) + " " + out.format() + ", got " + dout);
        }
        if (!dout.isAlive()) {
            throw new IllegalStateException("dout: " + dout + " is closed");
        }
        if (dout.dtype() != out.dtype()) {
            throw new IllegalArgumentException("dout: expected dtype " + out.dtype() + " (that of the last output), got "
                    + dout.dtype() + " (" + dout + ")");
        }
    }

    /**
     * Throws unless {@code t} (argument {@code name}) is clear of {@code owned} (may be null),
     * memory this module writes during the call ({@code what}): no byte in common, or, when
     * {@code inPlace}, exactly the same memory (a computation that reads each element before it
     * writes it). A view, reshape or wrap of a module's own output counts, not just the same object.
     */
    static void checkClear(String name, Tensor t, String what, Tensor owned, boolean inPlace) {
        if (owned == null || !t.overlaps(owned) || (inPlace && t.sameMemory(owned))) {
            return;
        }
        throw new IllegalArgumentException(name + ": expected memory apart from this module's " + what
                + (inPlace ? " or exactly it" : "") + ", got " + t + " at " + range(t) + " overlapping "
                + owned + " at " + range(owned));
    }

    /**
     * Throws unless {@code t} (argument {@code name}) is clear of the memory of {@code ws}, which
     * this module writes during the call ({@code what}): no byte in common with any of the
     * workspace's memory (a view made at an earlier, larger batch included), or, when
     * {@code inPlace}, exactly the view the call will write (it starts where the workspace starts
     * and has {@code t}'s format and shape, as an elementwise output or input gradient does).
     */
    static void checkClear(String name, Tensor t, String what, Workspace ws, boolean inPlace) {
        Tensor memory = ws.memory();
        if (memory == null || !t.overlaps(memory)
                || (inPlace && t.segment().address() == memory.segment().address())) {
            return;
        }
        throw new IllegalArgumentException(name + ": expected memory apart from this module's " + what
                + (inPlace ? " or exactly it" : "") + ", got " + t + " at " + range(t) + " overlapping "
                + memory + " at " + range(memory));
    }

    private static String range(Tensor t) {
        return "[0x" + Long.toHexString(t.segment().address()) + ", +" + t.dtype().bytes() * t.size() + ")";
    }
}
