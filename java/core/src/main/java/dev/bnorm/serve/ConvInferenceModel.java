package dev.bnorm.serve;

import dev.bnorm.Tensor;
import dev.bnorm.kernel.ConvKernels;
import dev.bnorm.kernel.ConvShape;
import dev.bnorm.kernel.DType;
import dev.bnorm.kernel.Im2colConv;
import dev.bnorm.kernel.Layout;
import dev.bnorm.kernel.LinearKernels;
import dev.bnorm.kernel.LinearKernels.Activation;
import dev.bnorm.nn.AdaptiveAvgPool2d;
import dev.bnorm.nn.BasicBlock;
import dev.bnorm.nn.BatchNorm2d;
import dev.bnorm.nn.Conv2d;
import dev.bnorm.nn.Flatten;
import dev.bnorm.nn.Folding;
import dev.bnorm.nn.Linear;
import dev.bnorm.nn.MaxPool2d;
import dev.bnorm.nn.Module;
import dev.bnorm.nn.ReLU;
import dev.bnorm.nn.ResNet;
import dev.bnorm.nn.Sequential;
import dev.bnorm.nn.StateDicts;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * An immutable, thread-safe inference model of a convolutional network: the evaluation-mode
 * function of a {@link ResNet}, or of a {@link Sequential} of {@link Conv2d}, {@link BatchNorm2d}
 * (right after a Conv2d), {@link ReLU}, {@link MaxPool2d}, {@link AdaptiveAvgPool2d},
 * {@link BasicBlock}, {@link Flatten}, {@link Linear} and nested Sequentials, on images of one
 * size fixed at construction, in the layout (NCHW or NHWC) it was built with. The sibling of
 * {@link InferenceModel} (rows of features): its steps need image shapes, a residual buffer and
 * convolution scratch, which the MLP plan has no place for.
 *
 * <p>Folding: every Conv2d followed by a BatchNorm2d is one convolution with bias, computed by
 * {@link Folding#fold(Conv2d, BatchNorm2d)} (PyTorch's {@code fuse_conv_bn_eval}: {@code W' = W·s},
 * {@code b' = (b − running_mean)·s + beta}, {@code s = gamma/sqrt(running_var + eps)}, in double,
 * rounded once to float). A BasicBlock is {@code relu(conv2'(relu(conv1'(x))) + shortcut(x))} with
 * the folded convolutions and {@code shortcut} the identity or the folded downsample. The products
 * run in {@link ConvKernels} ({@link Im2colConv} over the given {@link LinearKernels}) and the
 * {@link LinearKernels}; ReLU, pooling and the residual add run in Java. {@link #steps()} describes
 * the plan.
 *
 * <p>Memory: the folded weights live in off-heap memory of a shared arena, handed to the kernels
 * only as read-only segments and shared by all callers; a convolution's weight is stored in the
 * row order of {@link Im2colConv}'s im2col matrix (for NHWC reordered once, at construction).
 * Each call borrows a session from a lock-free pool ({@code SessionPool}, as {@link InferenceModel}):
 * four activation buffers and the convolution scratch, sized for {@code maxBatch} images at
 * construction. Once a caller's session exists, a call allocates nothing on the heap (the shapes
 * are made at construction, im2col works in the session's scratch).
 *
 * <p>Calls: {@code predict} with {@code float[]}, {@link MemorySegment} or {@link Tensor}: 1 to
 * {@link #maxBatch()} images of {@link #inputSize()} floats in the model's layout, {@link #outputWidth()}
 * floats per image out. Every argument is checked before any native call, as in
 * {@link InferenceModel}: a bad one is an {@link IllegalArgumentException} naming it with the
 * expected and actual values, and nothing is written. Results do not depend on the calling thread,
 * on other callers or on the other images of the batch.
 *
 * <p>Lifetime: {@link #close()} frees the model's memory, only once no call is running. The
 * source model is not referenced after construction and may be closed.
 */
public final class ConvInferenceModel implements AutoCloseable {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    private final Arena arena = Arena.ofShared();
    private final Step[] plan;
    private final Layout layout;
    private final int channels;
    private final int height;
    private final int width;
    private final int outputWidth;
    private final long maxSize; // most floats of one image's activation anywhere in the plan
    private final long scratchFloats;
    private final int maxBatch;
    private final LinearKernels linear;
    private final Im2colConv conv;
    private final SessionPool<Session> pool;
    private final SessionPool.Runner<Session> runner = this::run; // made once, not per call
    private volatile boolean closed;

    private ConvInferenceModel(Module model, Layout layout, int channels, int height, int width, int maxBatch,
                               int sessions, LinearKernels linear) {
        this.layout = layout;
        this.channels = channels;
        this.height = height;
        this.width = width;
        this.maxBatch = maxBatch;
        this.linear = linear;
        this.conv = new Im2colConv(linear);
        Planner p = new Planner(arena, layout, channels, height, width, maxBatch, conv);
        try {
            p.add("model", model);
            if (p.steps.isEmpty()) {
                throw new IllegalArgumentException("model: expected at least one module, got " + model);
            }
            if (p.h != 1 || p.w != 1) {
                throw new IllegalArgumentException("model: expected an output of (N, features), got images of "
                        + p.c + " channels, " + p.h + "x" + p.w + " pixels (end with AdaptiveAvgPool2d, Flatten, Linear)");
            }
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
        this.plan = p.steps.toArray(Step[]::new);
        this.outputWidth = p.c;
        this.maxSize = p.maxSize;
        this.scratchFloats = p.scratch;
        this.pool = new SessionPool<>(sessions, arena, (a, pooled) -> new Session(a, this, pooled));
    }

    /**
     * The evaluation-mode function of {@code model} (running statistics, whatever its current
     * mode) on images of {@code channels × height × width} in {@code layout}, for batches of up to
     * {@code maxBatch} images, with {@link LinearKernels#best()}. Must be called on the model's thread.
     *
     * @throws IllegalArgumentException for an unsupported module (a BatchNorm2d not right after a
     *                                  Conv2d, a BatchNorm without running statistics, a Linear on
     *                                  an image larger than 1×1 pixel, ...), shapes that do not
     *                                  chain, a layout other than NCHW/NHWC, a size &lt; 1
     */
    public static ConvInferenceModel of(Module model, Layout layout, int channels, int height, int width,
                                        int maxBatch) {
        return of(model, layout, channels, height, width, maxBatch,
                Math.max(16, 2 * Runtime.getRuntime().availableProcessors()), LinearKernels.best());
    }

    /** As {@link #of(Module, Layout, int, int, int, int)}, with the most sessions the pool keeps and the kernels. */
    public static ConvInferenceModel of(Module model, Layout layout, int channels, int height, int width,
                                        int maxBatch, int sessions, LinearKernels kernels) {
        if (model == null) {
            throw new IllegalArgumentException("model: expected a ResNet or Sequential, got null");
        }
        if (layout != Layout.NCHW && layout != Layout.NHWC) {
            throw new IllegalArgumentException("layout: expected NCHW or NHWC, got " + layout);
        }
        positive("channels", channels);
        positive("height", height);
        positive("width", width);
        positive("maxBatch", maxBatch);
        positive("sessions", sessions);
        if ((long) channels * height * width > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("channels*height*width: expected at most " + (Integer.MAX_VALUE - 8)
                    + " floats per image (a Java array), got " + (long) channels * height * width);
        }
        if (kernels == null) {
            throw new IllegalArgumentException("kernels: expected LinearKernels, got null");
        }
        return new ConvInferenceModel(model, layout, channels, height, width, maxBatch, sessions, kernels);
    }

    /**
     * Loads a PyTorch state dict (safetensors, PyTorch's keys: {@code conv1.weight},
     * {@code bn1.running_mean}, {@code layer1.0.conv1.weight}, {@code layer2.0.downsample.1.running_var},
     * …) into {@code architecture}, then builds the model from it as
     * {@link #of(Module, Layout, int, int, int, int)} does.
     *
     * @throws dev.bnorm.nn.SafetensorsException for a malformed file or one that does not fit
     * @throws IOException                       if the file cannot be read
     */
    public static ConvInferenceModel load(Module architecture, Path stateDict, Layout layout, int channels, int height,
                                          int width, int maxBatch) throws IOException {
        if (architecture == null) {
            throw new IllegalArgumentException("architecture: expected a ResNet or Sequential, got null");
        }
        StateDicts.load(architecture, stateDict);
        return of(architecture, layout, channels, height, width, maxBatch);
    }

    private static void positive(String name, int v) {
        if (v < 1) {
            throw new IllegalArgumentException(name + ": expected at least 1, got " + v);
        }
    }

    /** The input layout, NCHW or NHWC. */
    public Layout layout() {
        return layout;
    }

    /** Floats per input image: channels·height·width. */
    public int inputSize() {
        return channels * height * width;
    }

    /** Floats per output row. */
    public int outputWidth() {
        return outputWidth;
    }

    /** The most images a call may have. */
    public int maxBatch() {
        return maxBatch;
    }

    /** What each call runs, in order, one line per step. */
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
     * {@code out[i*outputWidth + j]} for the {@code in.length / inputSize()} images of {@code in}.
     *
     * @param in  a positive whole number of images in the model's layout, at most {@link #maxBatch()}
     * @param out at least images·{@link #outputWidth()} floats; only those are written
     */
    public void predict(float[] in, float[] out) {
        checkOpen();
        if (in == null) {
            throw new IllegalArgumentException("in: expected a float[], got null");
        }
        int size = inputSize();
        if (in.length == 0 || in.length % size != 0) {
            throw new IllegalArgumentException("in: expected a positive multiple of " + size + " floats (images of "
                    + image() + "), got " + in.length);
        }
        int batch = in.length / size;
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

    /** The first {@code batch} images of {@code in} into the first {@code batch} rows of {@code out}. */
    public void predict(MemorySegment in, MemorySegment out, long batch) {
        checkOpen();
        checkBatch(batch);
        long inBytes = 4 * batch * inputSize();
        long outBytes = 4 * batch * outputWidth;
        InferenceModel.checkSegment("in", in, inBytes, batch, inputSize(), false);
        InferenceModel.checkSegment("out", out, outBytes, batch, outputWidth, true);
        if (InferenceModel.overlap(in, inBytes, out, outBytes)) {
            throw new IllegalArgumentException("out: expected no overlap with in, got out at "
                    + InferenceModel.where(out, outBytes) + " and in at " + InferenceModel.where(in, inBytes));
        }
        pool.call(in, inBytes, out, outBytes, (int) batch, runner);
    }

    /** {@code in} (N, C, H, W) or (N, H, W, C), as the model's layout, into {@code out} (N, outputWidth), format NC. */
    public void predict(Tensor in, Tensor out) {
        checkOpen();
        if (in == null || out == null) {
            throw new IllegalArgumentException((in == null ? "in" : "out") + ": expected a tensor, got null");
        }
        if (in.dtype() != DType.F32 || out.dtype() != DType.F32) {
            throw new IllegalArgumentException((in.dtype() != DType.F32 ? "in" : "out") + ": expected dtype F32, got "
                    + (in.dtype() != DType.F32 ? in : out));
        }
        Tensor.Format format = layout == Layout.NHWC ? Tensor.Format.NHWC : Tensor.Format.NCHW;
        long[] s = in.shape();
        boolean fits = in.format() == format && (layout == Layout.NHWC
                ? s[1] == height && s[2] == width && s[3] == channels
                : s[1] == channels && s[2] == height && s[3] == width);
        if (!fits) {
            throw new IllegalArgumentException("in: expected an " + format + " tensor of images of " + image() + ", got "
                    + in);
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

    private String image() {
        return layout == Layout.NHWC ? "(H, W, C) = (" + height + ", " + width + ", " + channels + ")"
                                     : "(C, H, W) = (" + channels + ", " + height + ", " + width + ")";
    }

    // the steps; activations alternate between the session's buffers a and b
    private void run(Session s, MemorySegment in, MemorySegment out, int n) {
        MemorySegment src = in;
        for (int i = 0; i < plan.length; i++) {
            MemorySegment dst = i == plan.length - 1 ? out : (i % 2 == 0 ? s.a : s.b);
            plan[i].run(this, s, src, dst, n);
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
            throw new IllegalArgumentException("batch: expected 1 to " + maxBatch + " images (maxBatch), got " + batch);
        }
    }

    // ---- sessions ----

    /** Scratch of one call: staging for heap input and output, four activation buffers, the convolution scratch. */
    private static final class Session extends SessionPool.Session {
        final MemorySegment a;
        final MemorySegment b;
        final MemorySegment t1;
        final MemorySegment t2;
        final MemorySegment scratch; // null when no convolution needs one

        Session(Arena arena, ConvInferenceModel m, boolean pooled) {
            super(arena, 4L * m.maxBatch * m.inputSize(), 4L * m.maxBatch * m.outputWidth, pooled);
            long act = 4L * m.maxBatch * m.maxSize;
            a = arena.allocate(act, 64);
            b = arena.allocate(act, 64);
            t1 = arena.allocate(act, 64);
            t2 = arena.allocate(act, 64);
            scratch = m.scratchFloats == 0 ? null : arena.allocate(4L * m.scratchFloats, 64);
        }
    }

    // ---- steps ----

    private sealed interface Step permits Conv, Block, Pool, AvgPool, Dense, Relu {
        void run(ConvInferenceModel m, Session s, MemorySegment in, MemorySegment out, int n);
    }

    /**
     * out = conv(in) + b, then ReLU in place if {@code relu}; {@code shape} is for maxBatch images,
     * {@code w} in the row order of the im2col matrix ({@link Im2colConv#rowWeight}).
     */
    private record Conv(MemorySegment w, MemorySegment b, ConvShape shape, boolean relu, String from) implements Step {
        @Override
        public void run(ConvInferenceModel m, Session s, MemorySegment x, MemorySegment y, int n) {
            m.conv.forwardRows(y, x, w, b, s.scratch, shape, n);
            if (relu) {
                for (long i = 0, size = n * shape.cout() * shape.p(); i < size; i++) {
                    y.setAtIndex(F, i, Activation.RELU.apply(y.getAtIndex(F, i)));
                }
            }
        }

        @Override
        public String toString() {
            return "Conv2d(" + shape.cin() + " -> " + shape.cout() + ", " + shape.kh() + "x" + shape.kw() + ", stride "
                    + shape.sh() + ", padding " + shape.ph() + ", bias=" + (b != null) + (relu ? ", RELU" : "")
                    + ") from " + from;
        }
    }

    /** out = relu(conv2(conv1(in)) + (down == null ? in : down(in))), through the session's t1 and t2. */
    private record Block(Conv conv1, Conv conv2, Conv down, long outSize, String from) implements Step {
        @Override
        public void run(ConvInferenceModel m, Session s, MemorySegment x, MemorySegment y, int n) {
            conv1.run(m, s, x, s.t1, n);
            conv2.run(m, s, s.t1, s.t2, n);
            MemorySegment identity = x;
            if (down != null) {
                down.run(m, s, x, s.t1, n);
                identity = s.t1;
            }
            for (long i = 0, size = n * outSize; i < size; i++) {
                y.setAtIndex(F, i, Activation.RELU.apply(s.t2.getAtIndex(F, i) + identity.getAtIndex(F, i)));
            }
        }

        @Override
        public String toString() {
            return "BasicBlock[" + conv1 + "; " + conv2 + (down == null ? "; identity" : "; downsample " + down)
                    + "; add, RELU] from " + from;
        }
    }

    /** MaxPool2d's forward (first maximum wins, NaN propagates). */
    private record Pool(Layout layout, int kernel, int stride, int padding, long c, long h, long w, long ho, long wo,
                        String from) implements Step {
        @Override
        public void run(ConvInferenceModel m, Session s, MemorySegment x, MemorySegment y, int batch) {
            boolean nhwc = layout == Layout.NHWC;
            for (long n = 0; n < batch; n++) {
                for (long ch = 0; ch < c; ch++) {
                    for (long oy = 0; oy < ho; oy++) {
                        long y0 = oy * stride - padding;
                        long y1 = Math.min(y0 + kernel, h);
                        y0 = Math.max(y0, 0);
                        for (long ox = 0; ox < wo; ox++) {
                            long x0 = ox * stride - padding;
                            long x1 = Math.min(x0 + kernel, w);
                            x0 = Math.max(x0, 0);
                            float max = Float.NEGATIVE_INFINITY;
                            for (long yy = y0; yy < y1; yy++) {
                                for (long xx = x0; xx < x1; xx++) {
                                    long p = yy * w + xx;
                                    float v = x.getAtIndex(F, nhwc ? (n * h * w + p) * c + ch : (n * c + ch) * h * w + p);
                                    if (v > max || v != v) {
                                        max = v;
                                    }
                                }
                            }
                            long q = oy * wo + ox;
                            y.setAtIndex(F, nhwc ? (n * ho * wo + q) * c + ch : (n * c + ch) * ho * wo + q, max);
                        }
                    }
                }
            }
        }

        @Override
        public String toString() {
            return "MaxPool2d(" + kernel + ", stride " + stride + ", padding " + padding + ") in Java from " + from;
        }
    }

    /** AdaptiveAvgPool2d(1)'s forward: the mean of each channel, summed in double. */
    private record AvgPool(Layout layout, long c, long pixels, String from) implements Step {
        @Override
        public void run(ConvInferenceModel m, Session s, MemorySegment x, MemorySegment y, int batch) {
            boolean nhwc = layout == Layout.NHWC;
            for (long n = 0; n < batch; n++) {
                for (long ch = 0; ch < c; ch++) {
                    double sum = 0;
                    for (long p = 0; p < pixels; p++) {
                        sum += x.getAtIndex(F, nhwc ? (n * pixels + p) * c + ch : (n * c + ch) * pixels + p);
                    }
                    y.setAtIndex(F, n * c + ch, (float) (sum / pixels));
                }
            }
        }

        @Override
        public String toString() {
            return "AdaptiveAvgPool2d(1) over " + pixels + " pixels in Java from " + from;
        }
    }

    /** out = act(in · Wᵀ + b), W (out, in): one {@code bn_linear_forward}. */
    private record Dense(MemorySegment w, MemorySegment b, Activation act, int in, int out, String from)
            implements Step {
        @Override
        public void run(ConvInferenceModel m, Session s, MemorySegment x, MemorySegment y, int n) {
            m.linear.forward(y, x, w, b, act, n, in, out);
        }

        @Override
        public String toString() {
            return "Linear(" + in + " -> " + out + ", bias=" + (b != null) + ", " + act + ") from " + from;
        }
    }

    /** out = relu(in) over one image's {@code size} floats per sample. */
    private record Relu(long size, String from) implements Step {
        @Override
        public void run(ConvInferenceModel m, Session s, MemorySegment x, MemorySegment y, int n) {
            for (long i = 0, all = n * size; i < all; i++) {
                y.setAtIndex(F, i, Activation.RELU.apply(x.getAtIndex(F, i)));
            }
        }

        @Override
        public String toString() {
            return "RELU(" + size + ") in Java from " + from;
        }
    }

    // ---- planning ----

    /** Walks the modules, tracking the image shape (c, h, w), folding each Conv2d with the BatchNorm2d after it. */
    private static final class Planner {
        final Arena arena;
        final Layout layout;
        final int maxBatch;
        final Im2colConv conv;
        final List<Step> steps = new ArrayList<>();
        int c;
        long h;
        long w;
        long maxSize;
        long scratch;

        Planner(Arena arena, Layout layout, int c, long h, long w, int maxBatch, Im2colConv conv) {
            this.arena = arena;
            this.layout = layout;
            this.c = c;
            this.h = h;
            this.w = w;
            this.maxBatch = maxBatch;
            this.conv = conv;
            this.maxSize = c * h * w;
        }

        void add(String name, Module m) {
            if (m == null) {
                throw new IllegalArgumentException("model: module " + name + " is null");
            }
            if (m.isClosed()) {
                throw new IllegalArgumentException("model: module " + name + " is closed");
            }
            switch (m) {
                case ResNet r -> {
                    steps.add(conv(name + ".conv1", r.conv1(), r.bn1(), true));
                    if (r.maxpool() != null) {
                        pool(name + ".maxpool", r.maxpool());
                    }
                    for (int i = 0; i < r.layers().size(); i++) {
                        add(name + ".layer" + (i + 1), r.layers().get(i));
                    }
                    avgPool(name + ".avgpool");
                    linear(name + ".fc", r.fc());
                }
                case Sequential s -> {
                    for (int i = 0; i < s.size(); i++) {
                        Module next = i + 1 < s.size() ? s.get(i + 1) : null;
                        if (s.get(i) instanceof Conv2d cv && next instanceof BatchNorm2d bn) {
                            steps.add(conv(name + "." + i + "," + (i + 1), cv, bn, bn.relu()));
                            i++;
                        } else {
                            add(name + "." + i, s.get(i));
                        }
                    }
                }
                case Conv2d cv -> steps.add(conv(name, cv, null, false));
                case BasicBlock b -> block(name, b);
                case MaxPool2d p -> pool(name, p);
                case AdaptiveAvgPool2d a -> avgPool(name);
                case ReLU r -> relu(name);
                case Flatten f -> flatten(name);
                case Linear l -> linear(name, l);
                case BatchNorm2d bn -> throw new IllegalArgumentException("model: module " + name + " " + bn
                        + " does not follow a Conv2d, so it cannot be folded (only Conv2d → BatchNorm2d is served)");
                default -> throw new IllegalArgumentException("model: module " + name + " " + m
                        + " is not supported by ConvInferenceModel (expected ResNet, Sequential, Conv2d, BatchNorm2d"
                        + " after a Conv2d, ReLU, MaxPool2d, AdaptiveAvgPool2d, BasicBlock, Flatten, Linear)");
            }
        }

        /** A (folded) convolution step from the current shape; advances the shape. */
        private Conv conv(String name, Conv2d cv, BatchNorm2d bn, boolean relu) {
            if (cv.in() != c) {
                throw new IllegalArgumentException("model: module " + name + " " + cv + " expects " + cv.in()
                        + " channels, got the " + c + " of the input or the module before it");
            }
            if (bn != null && bn.isClosed()) {
                throw new IllegalArgumentException("model: module " + name + " " + bn + " is closed");
            }
            ConvShape shape;
            try {
                shape = cv.shape(layout, maxBatch, h, w);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("model: module " + name + " " + cv + " does not fit images of " + c
                        + " channels, " + h + "x" + w + " pixels: " + e.getMessage(), e);
            }
            MemorySegment weight;
            MemorySegment bias;
            if (bn != null) {
                Conv2d folded;
                try {
                    folded = Folding.fold(cv, bn);
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("model: module " + name + ": " + e.getMessage(), e);
                }
                try (folded) {
                    weight = rowWeight(folded.weight().value().segment(), shape);
                    bias = copy(folded.bias().value().segment(), cv.out());
                }
            } else {
                weight = rowWeight(cv.weight().value().segment(), shape);
                bias = cv.bias() == null ? null : copy(cv.bias().value().segment(), cv.out());
            }
            c = cv.out();
            h = shape.ho();
            w = shape.wo();
            grow();
            scratch = Math.max(scratch, conv.scratchSize(shape));
            return new Conv(weight, bias, shape, relu, name + (bn == null ? "" : " (BN folded)"));
        }

        private void block(String name, BasicBlock b) {
            int c0 = c;
            long h0 = h;
            long w0 = w;
            Conv c1 = conv(name + ".conv1", b.conv1(), b.bn1(), true);
            Conv c2 = conv(name + ".conv2", b.conv2(), b.bn2(), false);
            Conv down = null;
            if (b.downsample() != null) {
                int c2out = c;
                long h2 = h;
                long w2 = w;
                c = c0;
                h = h0;
                w = w0;
                Sequential d = b.downsample();
                down = conv(name + ".downsample", (Conv2d) d.get(0), d.size() > 1 ? (BatchNorm2d) d.get(1) : null, false);
                if (c != c2out || h != h2 || w != w2) {
                    throw new IllegalArgumentException("model: module " + name + ".downsample gives " + c + "x" + h + "x"
                            + w + ", conv2 " + c2out + "x" + h2 + "x" + w2);
                }
            } else if (c != c0 || h != h0 || w != w0) {
                throw new IllegalArgumentException("model: module " + name + " changes the shape without a downsample");
            }
            steps.add(new Block(c1, c2, down, (long) c * h * w, name));
        }

        private void pool(String name, MaxPool2d p) {
            if (h + 2L * p.padding() < p.kernel() || w + 2L * p.padding() < p.kernel()) {
                throw new IllegalArgumentException("model: module " + name + " " + p + " needs images of at least "
                        + (p.kernel() - 2 * p.padding()) + " pixels per side, got " + h + "x" + w);
            }
            long ho = (h + 2L * p.padding() - p.kernel()) / p.stride() + 1;
            long wo = (w + 2L * p.padding() - p.kernel()) / p.stride() + 1;
            steps.add(new Pool(layout, p.kernel(), p.stride(), p.padding(), c, h, w, ho, wo, name));
            h = ho;
            w = wo;
        }

        private void avgPool(String name) {
            steps.add(new AvgPool(layout, c, h * w, name));
            h = 1;
            w = 1;
        }

        private void relu(String name) {
            Step last = steps.isEmpty() ? null : steps.get(steps.size() - 1);
            if (last instanceof Conv cv && !cv.relu()) {
                steps.set(steps.size() - 1, new Conv(cv.w(), cv.b(), cv.shape(), true, cv.from() + ", " + name));
            } else if (last instanceof Dense d && d.act() == Activation.NONE) {
                steps.set(steps.size() - 1, new Dense(d.w(), d.b(), Activation.RELU, d.in(), d.out(), d.from() + ", " + name));
            } else {
                steps.add(new Relu((long) c * h * w, name));
            }
        }

        private void flatten(String name) {
            if (h * w != 1 && layout == Layout.NHWC) {
                throw new IllegalArgumentException("model: module " + name + " flattens NHWC images of " + h + "x" + w
                        + " pixels, whose memory order differs from PyTorch's flattening (pool to 1x1 first)");
            }
            long f = c * h * w; // NCHW memory of (C, H, W) is the flattened row
            if (f > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("model: module " + name + " gives " + f + " features, too many");
            }
            c = (int) f;
            h = 1;
            w = 1;
        }

        private void linear(String name, Linear l) {
            if (h != 1 || w != 1) {
                throw new IllegalArgumentException("model: module " + name + " " + l + " follows images of " + h + "x" + w
                        + " pixels (expected 1x1: AdaptiveAvgPool2d or Flatten before it)");
            }
            if (l.in() != c) {
                throw new IllegalArgumentException("model: module " + name + " " + l + " expects " + l.in()
                        + " features, got the " + c + " of the module before it");
            }
            MemorySegment weight = copy(l.weight().value().segment(), (long) l.out() * l.in());
            MemorySegment bias = l.bias() == null ? null : copy(l.bias().value().segment(), l.out());
            steps.add(new Dense(weight, bias, Activation.NONE, l.in(), l.out(), name));
            c = l.out();
            grow();
        }

        private void grow() {
            maxSize = Math.max(maxSize, (long) c * h * w);
        }

        /** A read-only copy of a convolution's weight in the model's arena, in the im2col matrix's row order. */
        private MemorySegment rowWeight(MemorySegment weight, ConvShape shape) {
            MemorySegment s = arena.allocate(4L * shape.weightSize(), 64);
            Im2colConv.rowWeight(s, weight, shape);
            return s.asReadOnly();
        }

        /** A read-only copy of {@code count} floats in the model's arena. */
        private MemorySegment copy(MemorySegment src, long count) {
            MemorySegment s = arena.allocate(4L * count, 64);
            MemorySegment.copy(src, 0, s, 0, 4L * count);
            return s.asReadOnly();
        }
    }
}
