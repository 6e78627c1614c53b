package dev.bnorm.bench;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.bnorm.Tensor;
import dev.bnorm.kernel.NativeKernels;
import dev.bnorm.nn.BatchNorm1d;
import dev.bnorm.nn.Linear;
import dev.bnorm.nn.Module;
import dev.bnorm.nn.ReLU;
import dev.bnorm.nn.Sequential;
import dev.bnorm.nn.StateDicts;
import dev.bnorm.serve.InferenceModel;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Latency of one inference call (JMH sample time: p50, p99; calls/s = threads / mean) of the BN
 * MLPs of {@code bench/peers/export_mlp.py} (small 64-100-100-100-10, wide 1024-4096-4096-1000),
 * batch 1, 8, 64, from one or more JMH threads ({@code -t 8}: 8 concurrent callers):
 * <ul>
 * <li>{@code serve}: bnorm's {@link InferenceModel} (one shared model, native segments in and out);</li>
 * <li>{@code ort}: ONNX Runtime's Java API on the ONNX export of the same PyTorch model (one shared
 *     session, one intra-op thread, all graph optimizations; a reused input tensor per thread);</li>
 * <li>{@code module}: bnorm's Module API, the eval-mode {@link Sequential} (one per thread: modules
 *     are confined to their thread).</li>
 * </ul>
 * Both bnorm paths load the state dict that ONNX Runtime's model was exported from (directory:
 * environment variable {@code BNORM_BENCH_MODELS}, default {@code bench/target/models}, made by
 * {@code bench/run-serving}). bnorm's library runs
 * one thread per call (the peer's configuration). {@code @Setup} checks that each implementation's
 * output agrees with {@code serve} (relative 1e-3); a missing ONNX file makes {@code ort} fail
 * in setup (reported absent by the runner).
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xmx8g"})
@Warmup(iterations = 2, time = 1, timeUnit = TimeUnit.SECONDS)
@Measurement(iterations = 3, time = 1, timeUnit = TimeUnit.SECONDS)
public class ServingBench {

    static final Map<String, int[]> WIDTHS = Map.of("small", new int[] {64, 100, 100, 100, 10},
            "wide", new int[] {1024, 4096, 4096, 1000});

    /** The network, shared by all threads. */
    @State(Scope.Benchmark)
    public static class Net {
        @Param({"small", "wide"})
        public String model;

        @Param({"1", "8", "64"})
        public int batch;

        @Param({"serve", "ort", "module"})
        public String impl;

        int[] widths;
        Path dir;
        InferenceModel serve;
        OrtEnvironment env;
        OrtSession ort;

        @Setup(Level.Trial)
        public void setup() throws Exception {
            NativeKernels.setNumThreads(1);
            widths = WIDTHS.get(model);
            String models = System.getenv("BNORM_BENCH_MODELS");
            dir = Path.of(models != null ? models : "bench/target/models");
            try (Sequential s = architecture(widths)) {
                serve = InferenceModel.load(s, dir.resolve(model + ".safetensors"), 64);
            }
            if (impl.equals("ort")) {
                Path onnx = dir.resolve(model + ".onnx");
                if (!Files.exists(onnx)) {
                    throw new IllegalStateException("ONNX Runtime peer absent: no " + onnx);
                }
                env = OrtEnvironment.getEnvironment();
                OrtSession.SessionOptions o = new OrtSession.SessionOptions();
                o.setIntraOpNumThreads(1);
                o.setInterOpNumThreads(1);
                o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
                ort = env.createSession(onnx.toString(), o);
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() throws OrtException {
            serve.close();
            if (ort != null) {
                ort.close();
            }
        }
    }

    /** One caller's buffers (and, for {@code module}, its own model). */
    @State(Scope.Thread)
    public static class Caller {
        Arena arena;
        MemorySegment in;
        MemorySegment out;
        OnnxTensor ortIn;
        Sequential module;
        Tensor moduleIn;

        @Setup(Level.Trial)
        public void setup(Net net) throws Exception {
            arena = Arena.ofShared();
            int w0 = net.widths[0];
            int wl = net.widths[net.widths.length - 1];
            in = arena.allocate(4L * net.batch * w0, 64);
            out = arena.allocate(4L * net.batch * wl, 64);
            SplittableRandom r = new SplittableRandom(Thread.currentThread().threadId());
            float[] x = new float[net.batch * w0];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) r.nextGaussian();
            }
            MemorySegment.copy(x, 0, in, ValueLayout.JAVA_FLOAT, 0, x.length);
            net.serve.predict(in, out, net.batch);
            float[] expected = out.toArray(ValueLayout.JAVA_FLOAT);
            float[] got;
            switch (net.impl) {
                case "ort" -> {
                    FloatBuffer fb = ByteBuffer.allocateDirect(4 * x.length).order(ByteOrder.nativeOrder()).asFloatBuffer();
                    fb.put(x).flip();
                    ortIn = OnnxTensor.createTensor(net.env, fb, new long[] {net.batch, w0});
                    try (OrtSession.Result res = net.ort.run(Map.of("x", ortIn))) {
                        FloatBuffer y = ((OnnxTensor) res.get(0)).getFloatBuffer();
                        got = new float[y.remaining()];
                        y.get(got);
                    }
                }
                case "module" -> {
                    module = architecture(net.widths);
                    StateDicts.load(module, net.dir.resolve(net.model + ".safetensors"));
                    module.eval();
                    moduleIn = Tensor.zeros(Tensor.Format.NC, net.batch, w0);
                    MemorySegment.copy(x, 0, moduleIn.segment(), ValueLayout.JAVA_FLOAT, 0, x.length);
                    got = module.forward(moduleIn).segment().toArray(ValueLayout.JAVA_FLOAT);
                }
                default -> got = expected;
            }
            for (int i = 0; i < expected.length; i++) {
                if (!(Math.abs(got[i] - expected[i]) <= 1e-3 * (1 + Math.abs(expected[i])))) {
                    throw new IllegalStateException(net.impl + " differs from serve at " + i + ": " + got[i] + " vs "
                            + expected[i]);
                }
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            if (ortIn != null) {
                ortIn.close();
            }
            if (module != null) {
                moduleIn.close();
                module.close();
            }
            arena.close();
        }
    }

    /** The architecture of export_mlp.py: Linear(bias=False) → BatchNorm1d → ReLU per hidden layer, then Linear. */
    static Sequential architecture(int[] widths) {
        List<Module> m = new ArrayList<>();
        for (int i = 0; i + 2 < widths.length; i++) {
            m.add(new Linear(widths[i], widths[i + 1], false, 0));
            m.add(BatchNorm1d.builder(widths[i + 1]).build());
            m.add(new ReLU());
        }
        m.add(new Linear(widths[widths.length - 2], widths[widths.length - 1], true, 0));
        return new Sequential(m.toArray(Module[]::new));
    }

    @Benchmark
    public Object call(Net net, Caller c) throws OrtException, IOException {
        switch (net.impl) {
            case "serve" -> {
                net.serve.predict(c.in, c.out, net.batch);
                return c.out;
            }
            case "ort" -> {
                try (OrtSession.Result res = net.ort.run(Map.of("x", c.ortIn))) {
                    return ((OnnxTensor) res.get(0)).getFloatBuffer().get(0);
                }
            }
            default -> {
                return c.module.forward(c.moduleIn);
            }
        }
    }
}
