package dev.bnorm.serve;

import dev.bnorm.Tensor;
import dev.bnorm.kernel.DType;
import dev.bnorm.kernel.LinearKernels;
import dev.bnorm.kernel.LinearKernels.Activation;
import dev.bnorm.nn.BatchNorm1d;
import dev.bnorm.nn.Flatten;
import dev.bnorm.nn.Linear;
import dev.bnorm.nn.Module;
import dev.bnorm.nn.ReLU;
import dev.bnorm.nn.Sequential;
import dev.bnorm.nn.Sigmoid;
import dev.bnorm.nn.StateDicts;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * An immutable, thread-safe inference model: the evaluation-mode function of a trained
 * {@link Sequential} of {@link Linear}, {@link BatchNorm1d}, {@link ReLU}, {@link Sigmoid} and
 * {@link Flatten}, folded into as few native calls as the math allows, callable concurrently from
 * any number of platform and virtual threads.
 *
 * <p>Folding (in double, each folded value rounded once to float), with BatchNorm1d's evaluation
 * map {@code y = s·x + t}, {@code s = gamma/sqrt(running_var + eps)}, {@code t = beta − s·running_mean}:
 * <ul>
 * <li>{@code Linear → BatchNorm1d}: {@code W' = diag(s)·W}, {@code b' = s·b + t};</li>
 * <li>a BatchNorm1d that is first, or follows an activation, and is followed by a Linear (with
 *     nothing but Flatten between): {@code W' = W·diag(s)}, {@code b' = b + W·t};</li>
 * <li>a ReLU or Sigmoid right after a (folded) Linear is applied by the same native call, so
 *     {@code Linear(bias=false) → BatchNorm1d → ReLU} is one {@code bn_linear_forward_t} (or, for
 *     layers of more than 256 inputs, {@code bn_linear_forward}) per layer.</li>
 * </ul>
 * Anything left over (a BatchNorm1d followed by an activation or by nothing; an activation not
 * after a Linear) is a per-feature scale/shift or an activation applied in Java. {@link #steps()}
 * describes the result. Flatten is the identity on the (batch, features) rows served here.
 *
 * <p>Memory: the folded weights live in off-heap memory of a shared arena, handed to the kernels
 * only as read-only segments and shared by all callers (never copied per thread). Each call
 * borrows a session (scratch buffers for {@code maxBatch} rows) from a lock-free pool and returns
 * it. Sessions are created on first need, up to {@code sessions} of them (default
 * {@code max(16, 2·availableProcessors)}); once the pool holds as many as there are callers at
 * once, a call allocates nothing, on the heap or off it. Callers beyond that get a temporary
 * session (allocated, freed by the garbage collector).
 *
 * <p>Calls: {@code predict} with {@code float[]}, {@link MemorySegment} (native or heap) or
 * {@link Tensor}: a batch of 1 to {@link #maxBatch()} rows of {@link #inputWidth()} floats in,
 * {@link #outputWidth()} floats per row written into the caller's buffer. Every argument is
 * checked before any native call: a wrong width, a batch over the maximum, a too small, read-only,
 * misaligned or overlapping buffer is an {@link IllegalArgumentException} naming it with the
 * expected and actual values, a closed segment or model an {@link IllegalStateException}, and
 * nothing is written. A row's result does not depend on the calling thread, on other callers or on
 * the other rows of its batch.
 *
 * <p>Lifetime: the model owns its memory; {@link #close()} frees it and must be called only once
 * no call is running (a call that starts after it fails with {@link IllegalStateException}). The
 * source model is not referenced after construction and may be closed or trained further.
 */
public final class InferenceModel implements AutoCloseable {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    /** Inputs per layer up to which the weight is stored transposed (see {@link Dense}). */
    static final int TRANSPOSE_MAX = 256;

    private final Arena arena = Arena.ofShared();
    private final Step[] plan;
    private final int inputWidth;
    private final int outputWidth;
    private final int maxWidth;
    private final int maxBatch;
    private final LinearKernels kernels;
    private final SessionPool<Session> pool;
    private final SessionPool.Runner<Session> runner = this::run; // made once: a call allocates nothing
    private volatile boolean closed;

    private InferenceModel(Folder f, int maxBatch, int sessions, LinearKernels kernels) {
        try {
            this.plan = f.finish(arena).toArray(Step[]::new);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
        this.inputWidth = f.inputWidth;
        int widest = inputWidth;
        for (Step s : plan) {
            widest = Math.max(widest, s.out());
        }
        this.outputWidth = plan[plan.length - 1].out();
        this.maxWidth = widest;
        this.maxBatch = maxBatch;
        this.kernels = kernels;
        this.pool = new SessionPool<>(sessions, arena,
                (a, pooled) -> new Session(a, this.maxBatch, this.inputWidth, this.outputWidth, this.maxWidth, pooled));
    }

    /**
     * The evaluation-mode function of {@code model} (running statistics, whatever its current
     * mode), for batches of up to {@code maxBatch} rows, with {@link LinearKernels#best()}. Must
     * be called on the model's thread.
     *
     * @throws IllegalArgumentException for a module other than Linear, BatchNorm1d, ReLU, Sigmoid
     *                                  or Flatten; a BatchNorm1d without running statistics;
     *                                  widths that do not chain; maxBatch &lt; 1
     */
    public static InferenceModel of(Sequential model, int maxBatch) {
        return of(model, maxBatch, Math.max(16, 2 * Runtime.getRuntime().availableProcessors()), LinearKernels.best());
    }

    /** As {@link #of(Sequential, int)}, with the most sessions the pool keeps and the kernels to use. */
    public static InferenceModel of(Sequential model, int maxBatch, int sessions, LinearKernels kernels) {
        if (model == null) {
            throw new IllegalArgumentException("model: expected a Sequential, got null");
        }
        if (maxBatch < 1) {
            throw new IllegalArgumentException("maxBatch: expected at least 1, got " + maxBatch);
        }
        if (sessions < 1) {
            throw new IllegalArgumentException("sessions: expected at least 1, got " + sessions);
        }
        if (kernels == null) {
            throw new IllegalArgumentException("kernels: expected LinearKernels, got null");
        }
        Folder f = new Folder();
        for (int i = 0; i < model.size(); i++) {
            f.add(i, model.get(i));
        }
        if (f.width < 0) {
            throw new IllegalArgumentException("model: expected at least one Linear or BatchNorm1d, got " + model);
        }
        return new InferenceModel(f, maxBatch, sessions, kernels);
    }

    /**
     * Loads a state dict (safetensors, PyTorch's keys: {@code 0.weight}, {@code 1.running_mean},
     * …, as written by {@code safetensors.torch.save_file(model.state_dict(), path)}) into
     * {@code architecture}, the same module list as the trained model, then builds the model
     * from it as {@link #of(Sequential, int)} does.
     *
     * @throws dev.bnorm.nn.SafetensorsException for a malformed file or one that does not fit
     * @throws IOException                       if the file cannot be read
     */
    public static InferenceModel load(Sequential architecture, Path stateDict, int maxBatch) throws IOException {
        if (architecture == null) {
            throw new IllegalArgumentException("architecture: expected a Sequential, got null");
        }
        StateDicts.load(architecture, stateDict);
        return of(architecture, maxBatch);
    }

    /** Floats per input row. */
    public int inputWidth() {
        return inputWidth;
    }

    /** Floats per output row. */
    public int outputWidth() {
        return outputWidth;
    }

    /** The most rows a call may have. */
    public int maxBatch() {
        return maxBatch;
    }

    /** What each call runs, in order: one line per step (a native Linear call, or a step in Java). */
    public List<String> steps() {
        List<String> s = new ArrayList<>();
        for (Step p : plan) {
            s.add(p.toString());
        }
        return s;
    }

    /** Sessions made for the pool so far (at most the pool's size); for tests of allocation. */
    int sessionsCreated() {
        return pool.created();
    }

    // ---- calls ----

    /**
     * {@code out[r*outputWidth + j]} for the {@code in.length / inputWidth()} rows of {@code in}.
     *
     * @param in  a positive whole number of rows, at most {@link #maxBatch()}
     * @param out at least rows·{@link #outputWidth()} floats; only those are written
     */
    public void predict(float[] in, float[] out) {
        checkOpen();
        if (in == null) {
            throw new IllegalArgumentException("in: expected a float[], got null");
        }
        if (in.length == 0 || in.length % inputWidth != 0) {
            throw new IllegalArgumentException("in: expected a positive multiple of " + inputWidth
                    + " floats (rows of the input width), got " + in.length);
        }
        int batch = in.length / inputWidth;
        checkBatch(batch);
        if (out == null) {
            throw new IllegalArgumentException("out: expected a float[], got null");
        }
        if (out == in) {
            throw new IllegalArgumentException("out: expected an array other than in, got the same array");
        }
        if (out.length < (long) batch * outputWidth) {
            throw new IllegalArgumentException("out: expected at least " + (long) batch * outputWidth + " floats ("
                    + batch + " rows of " + outputWidth + "), got " + out.length);
        }
        Session s = pool.acquire();
        try {
            MemorySegment.copy(in, 0, s.in, F, 0, in.length);
            run(s, s.in, s.out, batch);
            MemorySegment.copy(s.out, F, 0, out, 0, batch * outputWidth);
        } finally {
            pool.release(s);
        }
    }

    /**
     * The first {@code batch} rows of {@code in} into the first {@code batch} rows of {@code out};
     * either may be native or heap memory.
     */
    public void predict(MemorySegment in, MemorySegment out, long batch) {
        checkOpen();
        checkBatch(batch);
        long inBytes = 4 * batch * inputWidth;
        long outBytes = 4 * batch * outputWidth;
        checkSegment("in", in, inBytes, batch, inputWidth, false);
        checkSegment("out", out, outBytes, batch, outputWidth, true);
        if (overlap(in, inBytes, out, outBytes)) {
            throw new IllegalArgumentException("out: expected no overlap with in, got out at " + where(out, outBytes)
                    + " and in at " + where(in, inBytes));
        }
        pool.call(in, inBytes, out, outBytes, (int) batch, runner);
    }

    /** {@code in} (N, inputWidth) into {@code out} (N, outputWidth), both format NC. */
    public void predict(Tensor in, Tensor out) {
        checkOpen();
        if (in == null || out == null) {
            throw new IllegalArgumentException((in == null ? "in" : "out") + ": expected a tensor, got null");
        }
        if (in.dtype() != DType.F32 || out.dtype() != DType.F32) {
            throw new IllegalArgumentException((in.dtype() != DType.F32 ? "in" : "out") + ": expected dtype F32, got "
                    + (in.dtype() != DType.F32 ? in : out));
        }
        if (in.format() != Tensor.Format.NC || in.c() != inputWidth) {
            throw new IllegalArgumentException("in: expected an NC tensor of " + inputWidth + " features, got " + in);
        }
        if (out.format() != Tensor.Format.NC || out.c() != outputWidth || out.n() != in.n()) {
            throw new IllegalArgumentException("out: expected an NC tensor (" + in.n() + ", " + outputWidth + "), got "
                    + out);
        }
        predict(in.segment(), out.segment(), in.n());
    }

    /** Frees the weights and sessions; only once no call is running. Idempotent. */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        arena.close();
    }

    // the steps; intermediate results alternate between the session's two buffers
    private void run(Session s, MemorySegment in, MemorySegment out, int n) {
        MemorySegment src = in;
        for (int i = 0; i < plan.length; i++) {
            MemorySegment dst = i == plan.length - 1 ? out : (i % 2 == 0 ? s.a : s.b);
            plan[i].run(kernels, src, dst, n);
            src = dst;
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("model: closed");
        }
    }

    private void checkBatch(long batch) {
        if (batch < 1 || batch > maxBatch) {
            throw new IllegalArgumentException("batch: expected 1 to " + maxBatch + " rows (maxBatch), got " + batch);
        }
    }

    static void checkSegment(String name, MemorySegment s, long bytes, long rows, int width, boolean output) {
        if (s == null) {
            throw new IllegalArgumentException(name + ": expected a segment, got null");
        }
        if (!s.scope().isAlive()) {
            throw new IllegalStateException(name + ": segment is closed");
        }
        if (!s.isAccessibleBy(Thread.currentThread())) {
            throw new WrongThreadException(name + ": segment is not accessible by thread "
                    + Thread.currentThread().getName() + " (confined to another thread)");
        }
        if (output && s.isReadOnly()) {
            throw new IllegalArgumentException(name + ": expected a writable segment, got a read-only segment");
        }
        if (s.address() % 4 != 0) {
            throw new IllegalArgumentException(name + ": expected a 4-byte aligned address, got "
                    + (s.isNative() ? "0x" + Long.toHexString(s.address()) : "heap offset " + s.address()));
        }
        if (s.byteSize() < bytes) {
            throw new IllegalArgumentException(name + ": expected at least " + bytes + " bytes (" + rows + " rows of "
                    + width + " floats), got " + s.byteSize());
        }
    }

    static boolean overlap(MemorySegment a, long aBytes, MemorySegment b, long bBytes) {
        if (a.isNative() != b.isNative()) {
            return false;
        }
        if (!a.isNative()) {
            Object ha = a.heapBase().orElse(null);
            if (ha == null || ha != b.heapBase().orElse(null)) {
                return false; // a read-only heap segment hides its array; it is only read
            }
        }
        return a.address() < b.address() + bBytes && b.address() < a.address() + aBytes;
    }

    static String where(MemorySegment s, long bytes) {
        return "[" + (s.isNative() ? "0x" + Long.toHexString(s.address()) : "heap " + s.address()) + ", +" + bytes + ")";
    }

    // ---- sessions ----

    /** Scratch of one call: staging for heap or array input and output, two buffers for the steps. */
    private static final class Session extends SessionPool.Session {
        final MemorySegment a;
        final MemorySegment b;

        Session(Arena arena, int maxBatch, int inputWidth, int outputWidth, int maxWidth, boolean pooled) {
            super(arena, 4L * maxBatch * inputWidth, 4L * maxBatch * outputWidth, pooled);
            a = arena.allocate(4L * maxBatch * maxWidth, 64);
            b = arena.allocate(4L * maxBatch * maxWidth, 64);
        }
    }

    // ---- steps ----

    private sealed interface Step permits Dense, Affine, Act {
        int out();

        void run(LinearKernels k, MemorySegment in, MemorySegment out, int n);
    }

    /**
     * out = act(in · Wᵀ + b): one native call. Layers of at most {@value #TRANSPOSE_MAX} inputs
     * store W transposed (in x out) for {@code bn_linear_forward_t}, whose kernel needs no
     * horizontal sums (faster for short rows); wider ones keep PyTorch's (out x in) for
     * {@code bn_linear_forward} (faster for long rows: measured in bench/, LinearBench).
     */
    private record Dense(MemorySegment w, boolean transposed, MemorySegment b, Activation act, int in, int out,
                         String from) implements Step {
        @Override
        public void run(LinearKernels k, MemorySegment x, MemorySegment y, int n) {
            if (transposed) {
                k.forwardTransposed(y, x, w, b, act, n, in, out);
            } else {
                k.forward(y, x, w, b, act, n, in, out);
            }
        }

        @Override
        public String toString() {
            return "Linear(" + in + " -> " + out + ", bias=" + (b != null) + ", " + act + ") from " + from;
        }
    }

    /** out = s·in + t per feature (one rounding: fma). */
    private record Affine(MemorySegment s, MemorySegment t, int out, String from) implements Step {
        @Override
        public void run(LinearKernels k, MemorySegment x, MemorySegment y, int n) {
            for (long r = 0; r < n; r++) {
                for (long j = 0; j < out; j++) {
                    long i = r * out + j;
                    y.setAtIndex(F, i, Math.fma(x.getAtIndex(F, i), s.getAtIndex(F, j), t.getAtIndex(F, j)));
                }
            }
        }

        @Override
        public String toString() {
            return "ScaleShift(" + out + ") in Java from " + from;
        }
    }

    /** out = act(in). */
    private record Act(Activation act, int out, String from) implements Step {
        @Override
        public void run(LinearKernels k, MemorySegment x, MemorySegment y, int n) {
            for (long i = 0, size = (long) n * out; i < size; i++) {
                y.setAtIndex(F, i, act.apply(x.getAtIndex(F, i)));
            }
        }

        @Override
        public String toString() {
            return act + "(" + out + ") in Java from " + from;
        }
    }

    // ---- folding ----

    /** Walks the modules, folding in double; {@link #finish} rounds once to float into the arena. */
    private static final class Folder {
        int inputWidth = -1;
        int width = -1;
        final List<Proto> protos = new ArrayList<>();
        double[] ps; // pending scale/shift on the current features (a BatchNorm not yet folded)
        double[] pt;
        String pendingFrom;

        /** A step in double: w (out, in) row-major and b; or scale and b (shift); or neither (act only). */
        static final class Proto {
            double[] w;
            double[] scale;
            double[] b;
            int in;
            int out;
            Activation act = Activation.NONE;
            String from;
        }

        void add(int index, Module m) {
            String name = index + ":" + m;
            switch (m) {
                case Linear l -> linear(name, l);
                case BatchNorm1d bn -> batchNorm(name, bn);
                case ReLU r -> activation(name, Activation.RELU);
                case Sigmoid s -> activation(name, Activation.SIGMOID);
                case Flatten f -> { }
                case null -> throw new IllegalArgumentException("model: module " + index + " is null");
                default -> throw new IllegalArgumentException("model: module " + name
                        + " is not supported by InferenceModel (expected Linear, BatchNorm1d, ReLU, Sigmoid, Flatten)");
            }
        }

        private void chain(String name, int in) {
            if (width >= 0 && in != width) {
                throw new IllegalArgumentException("model: module " + name + " expects " + in
                        + " features, got the " + width + " of the module before it");
            }
            if (inputWidth < 0) {
                inputWidth = in;
            }
        }

        private void linear(String name, Linear l) {
            chain(name, l.in());
            int in = l.in();
            int out = l.out();
            Proto p = new Proto();
            p.in = in;
            p.out = out;
            p.w = read(l.weight().value().segment(), (long) out * in);
            p.b = l.bias() == null ? null : read(l.bias().value().segment(), out);
            p.from = name;
            if (ps != null) { // W' = W·diag(s), b' = b + W·t
                double[] b = p.b == null ? new double[out] : p.b;
                for (int o = 0; o < out; o++) {
                    double shift = 0;
                    for (int k = 0; k < in; k++) {
                        shift += p.w[o * in + k] * pt[k];
                        p.w[o * in + k] *= ps[k];
                    }
                    b[o] += shift;
                }
                p.b = b;
                p.from = pendingFrom + ", " + name;
                ps = null;
                pt = null;
            }
            protos.add(p);
            width = out;
        }

        private void batchNorm(String name, BatchNorm1d bn) {
            if (!bn.trackRunningStats()) {
                throw new IllegalArgumentException("model: module " + name
                        + " has no running statistics (trackRunningStats=false): its evaluation uses batch statistics");
            }
            int c = bn.numFeatures();
            chain(name, c);
            width = c;
            double[] mean = read(bn.runningMean().segment(), c);
            double[] var = read(bn.runningVar().segment(), c);
            double[] gamma = bn.affine() ? read(bn.weight().value().segment(), c) : null;
            double[] beta = bn.affine() ? read(bn.bias().value().segment(), c) : null;
            double[] s = new double[c];
            double[] t = new double[c];
            for (int j = 0; j < c; j++) {
                s[j] = (gamma == null ? 1.0 : gamma[j]) / Math.sqrt(var[j] + bn.eps());
                t[j] = (beta == null ? 0.0 : beta[j]) - s[j] * mean[j];
            }
            Proto last = protos.isEmpty() ? null : protos.get(protos.size() - 1);
            if (ps == null && last != null && last.w != null && last.act == Activation.NONE) {
                for (int o = 0; o < c; o++) { // W' = diag(s)·W, b' = s·b + t
                    for (int k = 0; k < last.in; k++) {
                        last.w[o * last.in + k] *= s[o];
                    }
                }
                double[] b = new double[c];
                for (int o = 0; o < c; o++) {
                    b[o] = (last.b == null ? 0.0 : s[o] * last.b[o]) + t[o];
                }
                last.b = b;
                last.from += ", " + name;
            } else if (ps == null) {
                ps = s;
                pt = t;
                pendingFrom = name;
            } else { // two in a row: s2·(s1·x + t1) + t2
                for (int j = 0; j < c; j++) {
                    ps[j] *= s[j];
                    pt[j] = s[j] * pt[j] + t[j];
                }
                pendingFrom += ", " + name;
            }
        }

        private void activation(String name, Activation act) {
            if (width < 0) {
                throw new IllegalArgumentException("model: module " + name
                        + " comes before any Linear or BatchNorm1d, so the input width is unknown");
            }
            flushPending();
            Proto last = protos.isEmpty() ? null : protos.get(protos.size() - 1);
            if (last != null && last.act == Activation.NONE) {
                last.act = act;
                last.from += ", " + name;
            } else {
                Proto p = new Proto();
                p.in = width;
                p.out = width;
                p.act = act;
                p.from = name;
                protos.add(p);
            }
        }

        private void flushPending() {
            if (ps != null) {
                Proto p = new Proto();
                p.in = width;
                p.out = width;
                p.b = pt;
                p.from = pendingFrom;
                p.scale = ps;
                protos.add(p);
                ps = null;
                pt = null;
            }
        }

        List<Step> finish(Arena arena) {
            flushPending();
            List<Step> steps = new ArrayList<>();
            for (Proto p : protos) {
                if (p.w != null) {
                    boolean transposed = p.in <= TRANSPOSE_MAX;
                    double[] w = p.w;
                    if (transposed) {
                        w = new double[p.w.length];
                        for (int o = 0; o < p.out; o++) {
                            for (int k = 0; k < p.in; k++) {
                                w[k * p.out + o] = p.w[o * p.in + k];
                            }
                        }
                    }
                    steps.add(new Dense(write(arena, w), transposed, p.b == null ? null : write(arena, p.b), p.act,
                            p.in, p.out, p.from));
                } else {
                    if (p.scale != null) {
                        steps.add(new Affine(write(arena, p.scale), write(arena, p.b), p.out, p.from));
                    }
                    if (p.act != Activation.NONE) {
                        steps.add(new Act(p.act, p.out, p.from));
                    }
                }
            }
            return steps;
        }

        private static double[] read(MemorySegment s, long count) {
            double[] d = new double[(int) count];
            for (int i = 0; i < count; i++) {
                d[i] = s.getAtIndex(F, i);
            }
            return d;
        }

        private static MemorySegment write(Arena arena, double[] d) {
            MemorySegment s = arena.allocate(4L * d.length, 64);
            for (int i = 0; i < d.length; i++) {
                s.setAtIndex(F, i, (float) d[i]);
            }
            return s.asReadOnly();
        }
    }
}
