package dev.bnorm.bench;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.style.CategoryStyler;
import org.knowm.xchart.style.Styler;

/**
 * Turns one run's raw results into {@code results.md} (tables) and {@code results.png} (bar
 * chart): {@code java -cp benchmarks.jar dev.bnorm.bench.Report <raw dir> <output dir>}.
 *
 * <p>Raw inputs: {@code jmh-kernels-<i>.json} per shape and {@code jmh-floor-<i>.json} per new
 * size, as bench/run writes them, or one {@code jmh.json} and {@code jmh-floor.json} (JMH,
 * {@code -rf json}: {@link KernelBench} and {@link FloorBench}, run apart because the floor runs
 * on as many JMH threads as the engines use; see {@link #readJmhFiles}), {@code onednn.csv} and
 * {@code pytorch.csv} (the peers' output, see bench/peers, with bnorm's rows when the harness
 * timed it in turn with the peer; a file whose comment says {@code # absent: reason}, or no
 * file, is an absent peer), and optionally {@code run.txt}
 * ({@code key: value} lines about the run, written by bench/run). The machine is described from
 * /proc/cpuinfo, /proc/meminfo and /sys/devices/system/cpu/cpu0/cache of the machine running the
 * report (bench/run runs it on the machine that ran the benchmarks).
 *
 * <p>Every time is the median of the iteration means with their min-max (JMH AverageTime
 * iterations; the peers use the same scheme). GB/s counts the minimal bytes of a call (forward:
 * read inp once, write out = 8 bytes per element; backward: read dout and inp, write dinp = 12
 * bytes per element). x floor is time / the time of the floor that applies at that size (see
 * {@link #floor}), measured by {@link FloorBench} in the same run with as many threads.
 *
 * <p>{@code Report --dtype bf16 <raw dir> <output dir> [file]} writes {@code half.md} (or the file named) instead (see
 * {@link #halfMarkdown}): a run of bench/run --dtype, bnorm native in f32 and in the 16-bit dtype
 * ({@link KernelBench}'s dtype), the peers in that dtype, the floors at 4 and 2 bytes an element,
 * and {@code accuracy.txt} (bnorm's and PyTorch's bf16 accuracy, bench/peers/half_accuracy.py) when present.
 */
public final class Report {

    /** Median, min and max of the iteration means, in microseconds. */
    record Stat(double median, double min, double max) {
        static Stat of(List<Double> values) {
            double[] v = values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
            int m = v.length;
            double median = m % 2 == 1 ? v[m / 2] : (v[m / 2 - 1] + v[m / 2]) / 2;
            return new Stat(median, v[0], v[m - 1]);
        }
    }

    /** A native peer: present with its results, or absent with the reason. */
    record Peer(String name, String absent, List<String> notes, Map<String, Stat> results, Map<String, String> impls) {
        boolean present() {
            return absent == null;
        }
    }

    static final String[] OPS = {"forwardTraining", "forwardInference", "backward"};
    static final String[] OP_TITLES = {"Forward training", "Forward inference", "Backward"};
    static final String[] IMPLS = {"native", "java", "vector"};
    static final String[] IMPL_TITLES = {"bnorm native", "Java (oracle)", "Vector API"};

    /**
     * The floor of a pass at a size: the bytes it must move ({@code kind}: reads and writes of a
     * tensor), where its tensors fit ({@code where}: L2, L3 or memory), the {@link FloorBench}
     * method that moves those bytes fastest, its time and the bytes it moves.
     */
    record Floor(String kind, String where, String method, Stat stat, long bytes) {}

    /**
     * The caches that decide which floor applies, read at run time: the size of one L2 and how
     * many there are, and the size of the last level (L3); 0 when unknown.
     */
    record Caches(long l2, int l2Count, long l3) {
        static Caches of(Path dir, int cpus) {
            long l2 = 0;
            long l3 = 0;
            int l2Count = 1;
            for (int i = 0; Files.isDirectory(dir.resolve("index" + i)); i++) {
                Path index = dir.resolve("index" + i);
                if ("Instruction".equals(read(index.resolve("type")))) {
                    continue;
                }
                long size = parseSize(read(index.resolve("size")));
                switch (read(index.resolve("level"))) {
                    case "2" -> {
                        l2 = size;
                        l2Count = Math.max(1, cpus / Math.max(1, countCpus(read(index.resolve("shared_cpu_list")))));
                    }
                    case "3" -> l3 = size;
                    default -> { }
                }
            }
            return new Caches(l2, l2Count, l3);
        }

        /** Where the tensors of a pass, {@code bytes} in all, stay between calls on {@code threads} threads. */
        String where(long bytes, int threads) {
            if (l2 > 0 && bytes <= l2 * Math.min(threads, l2Count)) {
                return "L2";
            }
            return l3 > 0 && bytes <= l3 ? "L3" : "memory";
        }

        /** "2048K" (as in /sys) in bytes; 0 if not a size. */
        static long parseSize(String size) {
            if (!size.matches("[0-9]+[KMG]?")) {
                return 0;
            }
            char unit = size.charAt(size.length() - 1);
            long shift = switch (unit) {
                case 'K' -> 10;
                case 'M' -> 20;
                case 'G' -> 30;
                default -> 0;
            };
            return Long.parseLong(Character.isDigit(unit) ? size : size.substring(0, size.length() - 1)) << shift;
        }

        /** The CPUs in a list such as "0-3,8,10-11". */
        static int countCpus(String list) {
            int n = 0;
            for (String part : list.split(",")) {
                String[] r = part.strip().split("-");
                try {
                    int first = Integer.parseInt(r[0]);
                    n += r.length == 2 ? Integer.parseInt(r[1]) - first + 1 : 1;
                } catch (NumberFormatException e) {
                    return 0;
                }
            }
            return n;
        }
    }

    private final Map<String, Stat> jmh = new LinkedHashMap<>();   // impl|op|shape, floor|method|dims
    private final Set<String> shapes = new LinkedHashSet<>();
    final List<Peer> peers = new ArrayList<>();
    private JsonObject jmhRun;                                       // the first JMH result: the JVM
    private final Map<String, String> jmhSettings = new TreeMap<>(); // benchmark class -> its JMH settings
    private int floorThreads = 1;                                    // FloorBench's JMH threads
    Caches caches = Caches.of(Path.of("/sys/devices/system/cpu/cpu0/cache"), Runtime.getRuntime().availableProcessors());

    public static void main(String[] args) throws IOException {
        if ((args.length == 4 || args.length == 5) && "--dtype".equals(args[0])) {
            half(args[1], Path.of(args[2]), Path.of(args[3]), args.length == 5 ? args[4] : "half.md");
            return;
        }
        if (args.length != 2 && args.length != 3) {
            System.err.println("usage: Report <raw dir: jmh-kernels-<i>.json and jmh-floor-<i>.json (or jmh.json, jmh-floor.json), onednn.csv, pytorch.csv, run.txt> <output dir> [base name, default results]");
            System.exit(2);
        }
        Path raw = Path.of(args[0]);
        Path out = Path.of(args[1]);
        String base = args.length == 3 ? args[2] : "results";
        Report report = new Report();
        report.readJmhFiles(raw);
        report.peers.add(readPeer(raw.resolve("onednn.csv"), "oneDNN"));
        report.peers.add(readPeer(raw.resolve("pytorch.csv"), "PyTorch"));
        Files.createDirectories(out);
        Files.writeString(out.resolve(base + ".md"), report.markdown(readRun(raw.resolve("run.txt"))));
        report.chart(out.resolve(base + ".png"));
        System.out.println("wrote " + out.resolve(base + ".md") + " and " + out.resolve(base + ".png"));
    }

    // ------------------------------------------------------------------------------------------
    // inputs

    /**
     * Reads the JMH results in {@code raw}: bench/run's {@code jmh-kernels-<i>.json} (one per
     * shape) and {@code jmh-floor-<i>.json} (one per new size), in the order run, and a single
     * {@code jmh.json} (required when there are no per-shape files) and {@code jmh-floor.json}.
     */
    void readJmhFiles(Path raw) throws IOException {
        List<Path> kernels = numbered(raw, "jmh-kernels-"), floors = numbered(raw, "jmh-floor-");
        if (kernels.isEmpty() || Files.exists(raw.resolve("jmh.json"))) {
            kernels.addFirst(raw.resolve("jmh.json"));
        }
        if (Files.exists(raw.resolve("jmh-floor.json"))) {
            floors.addFirst(raw.resolve("jmh-floor.json"));
        }
        for (Path f : kernels) {
            readJmh(f);
        }
        for (Path f : floors) {
            readJmh(f);
        }
    }

    /** The files {@code prefix<i>.json} in {@code dir}, by i. */
    private static List<Path> numbered(Path dir, String prefix) throws IOException {
        Pattern name = Pattern.compile(Pattern.quote(prefix) + "(\\d+)\\.json");
        List<Path> files = new ArrayList<>();
        try (Stream<Path> list = Files.list(dir)) {
            list.filter(f -> name.matcher(f.getFileName().toString()).matches()).forEach(files::add);
        }
        files.sort(Comparator.comparingInt(f -> {
            Matcher m = name.matcher(f.getFileName().toString());
            m.matches();
            return Integer.parseInt(m.group(1));
        }));
        return files;
    }

    void readJmh(Path file) throws IOException {
        JsonArray results = JsonParser.parseString(Files.readString(file)).getAsJsonArray();
        for (JsonElement e : results) {
            JsonObject r = e.getAsJsonObject();
            if (jmhRun == null) {
                jmhRun = r;
            }
            String benchmark = r.get("benchmark").getAsString();
            String method = benchmark.substring(benchmark.lastIndexOf('.') + 1);
            String type = benchmark.substring(0, benchmark.lastIndexOf('.'));
            jmhSettings.putIfAbsent(type.substring(type.lastIndexOf('.') + 1), "mode " + str(r, "mode") + ", "
                    + str(r, "forks") + " fork(s), warm-up " + str(r, "warmupIterations") + " x " + str(r, "warmupTime")
                    + ", measurement " + str(r, "measurementIterations") + " x " + str(r, "measurementTime")
                    + ", threads " + str(r, "threads"));
            JsonObject params = r.getAsJsonObject("params");
            JsonObject metric = r.getAsJsonObject("primaryMetric");
            double toMicros = micros(metric.get("scoreUnit").getAsString());
            List<Double> values = new ArrayList<>();
            for (JsonElement fork : metric.getAsJsonArray("rawData")) {
                for (JsonElement v : fork.getAsJsonArray()) {
                    values.add(v.getAsDouble() * toMicros);
                }
            }
            if (benchmark.contains(".FloorBench.")) {
                floorThreads = r.get("threads").getAsInt();
                jmh.put(key(floorName(params.has("elementBytes") ? params.get("elementBytes").getAsInt() : 4), method,
                        params.get("dims").getAsString()), Stat.of(values));
            } else {
                String shape = params.get("shape").getAsString();
                shapes.add(shape);
                String dtype = params.has("dtype") ? params.get("dtype").getAsString() : "f32";
                jmh.put(key(params.get("impl").getAsString() + ("f32".equals(dtype) ? "" : "-" + dtype), method, shape),
                        Stat.of(values));
            }
        }
    }

    private static double micros(String unit) {
        return switch (unit) {
            case "ns/op" -> 1e-3;
            case "us/op" -> 1;
            case "ms/op" -> 1e3;
            case "s/op" -> 1e6;
            default -> throw new IllegalArgumentException("jmh.json: expected a time per op unit, got " + unit);
        };
    }

    /**
     * Peer CSV: '# key: value' comments, a header, rows op,shape,calls,median_us,min_us,max_us,impl.
     * Rows whose impl starts with "bnorm " are bnorm timed by the peer's harness in turn with the
     * peer (bn_onednn or pytorch_bn.py with --bnorm): kept under {@link #alternated}(name), apart
     * from the peer's own.
     */
    static Peer readPeer(Path file, String name) throws IOException {
        if (!Files.exists(file)) {
            return new Peer(name, "not run (no " + file.getFileName() + ")", List.of(), Map.of(), Map.of());
        }
        String absent = null;
        List<String> notes = new ArrayList<>();
        Map<String, Stat> results = new LinkedHashMap<>();
        Map<String, String> impls = new LinkedHashMap<>();
        for (String line : Files.readAllLines(file)) {
            if (line.startsWith("# absent:")) {
                absent = line.substring("# absent:".length()).strip();
            } else if (line.startsWith("#")) {
                notes.add(line.substring(1).strip());
            } else if (!line.isBlank() && !line.startsWith("op,")) {
                String[] f = line.split(",", -1);
                if (f.length != 7) {
                    throw new IllegalArgumentException(file + ": expected op,shape,calls,median_us,min_us,max_us,impl, got " + line);
                }
                String who = f[6].startsWith("bnorm ") ? alternated(name) : name; // see alternatedTable
                results.put(key(who, f[0], f[1]),
                        new Stat(Double.parseDouble(f[3]), Double.parseDouble(f[4]), Double.parseDouble(f[5])));
                if (who.equals(name)) {
                    impls.put(key(name, f[0], f[1]), f[6]);
                }
            }
        }
        return new Peer(name, absent, notes, results, impls);
    }

    static Map<String, String> readRun(Path file) throws IOException {
        Map<String, String> run = new LinkedHashMap<>();
        if (Files.exists(file)) {
            for (String line : Files.readAllLines(file)) {
                int colon = line.indexOf(':');
                if (colon > 0) {
                    run.put(line.substring(0, colon).strip(), line.substring(colon + 1).strip());
                }
            }
        }
        return run;
    }

    /** Who bnorm's rows in a peer's CSV stand for (see readPeer). */
    static String alternated(String peer) {
        return "bnorm alternated with " + peer;
    }

    private static String key(String who, String op, String shape) {
        return who + "|" + op + "|" + shape;
    }

    /** The floor's results of FloorBench's elementBytes: "floor" (4), "floor-2" (2). */
    private static String floorName(int elementBytes) {
        return elementBytes == 4 ? "floor" : "floor-" + elementBytes;
    }

    // ------------------------------------------------------------------------------------------
    // derived figures

    /** Minimal bytes of one call of op on shape: 8 (forward) or 12 (backward) per element. */
    static long bytes(String op, String shape) {
        return Shape.parse(shape).elements() * ("backward".equals(op) ? 12 : 8);
    }

    /**
     * The floor that applies to op at shape's size; null if not measured. A pass's tensors
     * (forward: inp and out; backward: inp, dout and dinp) in cache (L2 or L3, see
     * {@link Caches#where}) can be read a second time from there: forward training and inference
     * 1R1W (copy, stream), backward 2R1W (add). Out of cache, a two-pass kernel reads them twice:
     * forward training 2R1W (sumCopy), backward 4R1W (sumAdd); inference is 1R1W at any size.
     */
    Floor floor(String op, String shape) {
        return floor(op, shape, 4);
    }

    /** {@link #floor(String, String)} for activations of {@code elementBytes} (4, or 2 for bf16 and f16). */
    Floor floor(String op, String shape, int elementBytes) {
        Shape sh = Shape.parse(shape);
        long tensor = elementBytes * sh.elements();
        boolean backward = "backward".equals(op);
        String where = caches.where((backward ? 3 : 2) * tensor, floorThreads);
        boolean inCache = !"memory".equals(where);
        String kind;
        String[] methods;
        if ("forwardInference".equals(op) || "forwardTraining".equals(op) && inCache) {
            kind = "1R1W";
            methods = new String[] {"copy", "stream"};
        } else if ("forwardTraining".equals(op)) {
            kind = "2R1W";
            methods = new String[] {"sumCopy"};
        } else if (inCache) {
            kind = "2R1W";
            methods = new String[] {"add"};
        } else {
            kind = "4R1W";
            methods = new String[] {"sumAdd"};
        }
        Floor best = null;
        long bytes = tensor * (kind.charAt(0) - '0' + 1);
        for (String m : methods) {
            Stat s = jmh.get(key(floorName(elementBytes), m, sh.dims()));
            if (s != null && (best == null || s.median() < best.stat().median())) {
                best = new Floor(kind, where, m, s, bytes);
            }
        }
        return best;
    }

    Stat result(String who, String op, String shape) {
        for (Peer p : peers) {
            if (p.name().equals(who)) {
                return p.results().get(key(who, op, shape));
            }
        }
        return jmh.get(key(who, op, shape));
    }

    /** time / floor time, or NaN when either is missing. */
    double timesFloor(String who, String op, String shape) {
        Stat s = result(who, op, shape);
        Floor f = floor(op, shape);
        return s == null || f == null ? Double.NaN : s.median() / f.stat().median();
    }

    // ------------------------------------------------------------------------------------------
    // 16-bit activations (bench/run --dtype)

    /** The float32 tensor size from which the 16-bit speed-up target applies (issue 20: shapes >= 8 MiB). */
    static final long TARGET_BYTES = 8L << 20;
    /** The 16-bit speed-up target over bnorm's own float32 (forward training and backward). */
    static final double TARGET_SPEEDUP = 1.7;

    /** Reads a bench/run --dtype run from {@code raw} and writes {@code out}/{@code file}. */
    static void half(String dtype, Path raw, Path out, String file) throws IOException {
        Report report = new Report();
        report.readJmhFiles(raw);
        report.peers.add(readPeer(raw.resolve("pytorch.csv"), "PyTorch"));
        report.peers.add(readPeer(raw.resolve("onednn.csv"), "oneDNN"));
        Path accuracy = raw.resolve("accuracy.txt");
        Files.createDirectories(out);
        Files.writeString(out.resolve(file), report.halfMarkdown(dtype, readRun(raw.resolve("run.txt")),
                Files.exists(accuracy) ? Files.readString(accuracy) : null));
        System.out.println("wrote " + out.resolve(file));
    }

    /**
     * One table per run: per pass and shape, the floors at 4 and 2 bytes an element, bnorm native
     * in f32 and in {@code dtype}, the peers in {@code dtype}, and the ratios; then each target of
     * issue 20 cell by cell, and the accuracy figures ({@code accuracy}: a script's output, or null).
     */
    String halfMarkdown(String dtype, Map<String, String> run, String accuracy) {
        String half = "native-" + dtype;
        StringBuilder md = new StringBuilder();
        md.append("# bnorm benchmarks: ").append(dtype).append(" activations\n\n");
        md.append("Batch norm with ").append(dtype).append(" activations (inp, out, dout, dinp; float32 parameters and "
                + "statistics) next to bnorm's float32, the peers in ").append(dtype).append(" and the floors, on ")
                .append(floorThreads).append(" thread(s), all measured in one run on the machine below (shared and "
                + "noisy: compare within this run only). Written by `bench/run --dtype ").append(dtype)
                .append("` (`dev.bnorm.bench.Report`); the terms are those of [results.md](results.md).\n\n");
        md.append("- **Time**: median time of one call over the iteration means, min-max in parentheses.\n");
        md.append("- **floor f32 / ").append(dtype).append("**: the floor of the pass (as in results.md) at 4 and at "
                + "2 bytes an element (`FloorBench -p elementBytes=4,2`): the time of only moving the pass's bytes, "
                + "its kind (reads and writes of a tensor) and where the tensors fit at that size.\n");
        md.append("- **f32 / ").append(dtype).append("**: bnorm f32's time / bnorm ").append(dtype)
                .append("'s (the speed-up; 2.0 would be all the halved bytes); **faster peer / bnorm**: the faster ")
                .append(dtype).append(" peer's time / bnorm ").append(dtype).append("'s (> 1: bnorm is faster); **x floor**: bnorm ")
                .append(dtype).append("'s time / its floor.\n\n");
        machine(md, run);
        md.append("\n## Times\n\n| op | shape | tensor f32 | floor f32 | floor ").append(dtype).append(" | bnorm f32 | bnorm ")
                .append(dtype);
        for (Peer p : peers) {
            md.append(" | ").append(p.name()).append(' ').append(dtype);
        }
        md.append(" | f32 / ").append(dtype).append(" | faster peer / bnorm | x floor |\n|---|---|---:|---:|---:|---:|---:")
                .append("|---:".repeat(peers.size() + 3)).append("|\n");
        for (int o = 0; o < OPS.length; o++) {
            for (String shape : shapes) {
                md.append("| ").append(OP_TITLES[o]).append(" | ").append(shape).append(" | ")
                        .append(mib(4 * Shape.parse(shape).elements()));
                for (int bytes : new int[] {4, 2}) {
                    Floor f = floor(OPS[o], shape, bytes);
                    md.append(" | ").append(f == null ? "not measured"
                            : f.kind() + " in " + f.where() + ": " + duration(f.stat().median()));
                }
                for (String who : new String[] {"native", half}) {
                    Stat st = result(who, OPS[o], shape);
                    md.append(" | ").append(st == null ? "not measured" : time(st));
                }
                for (Peer p : peers) {
                    Stat st = p.present() ? result(p.name(), OPS[o], shape) : null;
                    md.append(" | ").append(!p.present() ? "absent" : st == null ? "not measured" : time(st));
                }
                Stat f32 = result("native", OPS[o], shape);
                Stat h = result(half, OPS[o], shape);
                Stat peer = fasterPeer(OPS[o], shape);
                Floor f = floor(OPS[o], shape, 2);
                md.append(" | ").append(ratio(f32, h)).append(" | ").append(ratio(peer, h)).append(" | ")
                        .append(h == null || f == null ? "-" : String.format(Locale.ROOT, "%.2fx", h.median() / f.stat().median()))
                        .append(" |\n");
            }
        }
        halfTargets(md, dtype, half);
        alternatedTable(md);
        if (accuracy != null) {
            md.append("\n## Accuracy\n\nThe output of `bench/peers/half_accuracy.py compare`, run by `bench/run --dtype "
                    + "bf16` after `dev.bnorm.bench.HalfAccuracy` (bnorm's and PyTorch's ").append(dtype).append(" batch "
                    + "norm and backward against float64 on the same rounded inputs):\n\n```\n").append(accuracy.strip())
                    .append("\n```\n");
        }
        return md.toString();
    }

    private void halfTargets(StringBuilder md, String dtype, String half) {
        md.append("\n## Targets (issue 20)\n\n### ").append(dtype).append(" forward training and backward >= ")
                .append(TARGET_SPEEDUP).append("x bnorm's f32 on shapes >= 8 MiB (float32 tensor)\n\n");
        int met = 0;
        int cells = 0;
        for (String op : new String[] {"forwardTraining", "backward"}) {
            for (String shape : shapes) {
                if (4 * Shape.parse(shape).elements() < TARGET_BYTES) {
                    continue;
                }
                Stat f32 = result("native", op, shape);
                Stat h = result(half, op, shape);
                md.append("- ").append(title(op)).append(' ').append(shape).append(": ");
                cells++;
                if (f32 == null || h == null) {
                    md.append("not measured\n");
                    continue;
                }
                double x = f32.median() / h.median();
                boolean ok = x >= TARGET_SPEEDUP;
                met += ok ? 1 : 0;
                md.append(String.format(Locale.ROOT, "%.2fx", x)).append(ok ? ", met" : String.format(Locale.ROOT,
                        ", **not met** (%.2fx short; %s would have to take %s, it takes %s)", TARGET_SPEEDUP - x, dtype,
                        duration(f32.median() / TARGET_SPEEDUP), duration(h.median()))).append("\n");
            }
        }
        if (cells == 0) {
            md.append("- no shape of this run is >= 8 MiB\n");
        }
        md.append("\nMet in ").append(met).append(" of ").append(cells).append(" cells.\n\n### bnorm ").append(dtype)
                .append(" faster than every ").append(dtype).append(" peer on every shape (each pass)\n\n");
        met = 0;
        cells = 0;
        for (int o = 0; o < OPS.length; o++) {
            for (String shape : shapes) {
                Stat h = result(half, OPS[o], shape);
                md.append("- ").append(OP_TITLES[o]).append(' ').append(shape).append(": ");
                cells++;
                if (h == null) {
                    md.append("not measured\n");
                    continue;
                }
                boolean ok = true;
                int measured = 0;
                List<String> parts = new ArrayList<>();
                for (Peer p : peers) {
                    Stat st = p.present() ? result(p.name(), OPS[o], shape) : null;
                    if (st == null) {
                        parts.add(p.name() + " " + (p.present() ? "not measured" : "absent"));
                        continue;
                    }
                    ok &= h.median() < st.median();
                    measured++;
                    parts.add(p.name() + String.format(Locale.ROOT, " %.2fx", st.median() / h.median()));
                }
                ok &= measured > 0;
                met += ok ? 1 : 0;
                md.append(String.join(", ", parts)).append(measured == 0 ? ": no peer to compare with"
                        : " (peer time / bnorm time)" + (ok ? ", met" : ", **not met**")).append("\n");
            }
        }
        md.append("\nMet in ").append(met).append(" of ").append(cells).append(" cells (a cell counts as met when bnorm is "
                + "faster than each peer present).\n");
    }

    /** The faster present peer's result for op at shape, or null. */
    private Stat fasterPeer(String op, String shape) {
        Stat fastest = null;
        for (Peer p : peers) {
            Stat st = p.present() ? result(p.name(), op, shape) : null;
            if (st != null && (fastest == null || st.median() < fastest.median())) {
                fastest = st;
            }
        }
        return fastest;
    }

    private static String ratio(Stat numerator, Stat denominator) {
        return numerator == null || denominator == null ? "-"
                : String.format(Locale.ROOT, "%.2f", numerator.median() / denominator.median());
    }

    private static String title(String op) {
        return OP_TITLES[Arrays.asList(OPS).indexOf(op)];
    }

    // ------------------------------------------------------------------------------------------
    // markdown

    String markdown(Map<String, String> run) {
        StringBuilder md = new StringBuilder();
        md.append("# bnorm benchmarks\n\n");
        md.append("Batch norm on float32, bnorm, the peers and the floor on " + floorThreads + " thread(s), all measured in one "
                + "run on the machine below (shared and noisy: compare within this run only). Written by `bench/run` "
                + "(`dev.bnorm.bench.Report`).\n\n");
        md.append("- **Time**: median time of one call, over the iteration means, with min-max in parentheses "
                + "(JMH AverageTime; the native peers time the same way).\n");
        md.append("- **GB/s**: the minimal bytes of a call / time. Forward (training and inference): read inp once, "
                + "write out, 8 bytes per element (training needs the statistics before it can write, so a kernel "
                + "that does not keep inp in cache reads it twice or three times; only once is counted). Backward: "
                + "read dout and inp, write dinp, 12 bytes per element. The (C,) vectors are not counted.\n");
        md.append("- **floor**: the time of only moving the bytes a pass must move at that size, measured in this run "
                + "(`FloorBench`, on as many threads). Where the pass's tensors (forward: inp, out; backward: inp, dout, "
                + "dinp) fit in cache (**in**: L2 if within the L2s of the threads' cores, else L3; the sizes below, read "
                + "from /sys at run time), a second read can come from there: forward training and inference **1R1W** "
                + "(read inp, write out: the faster of a memcpy and a Vector API copy), backward **2R1W** (z = a + b). "
                + "Out of cache (memory), a two-pass kernel must read its inputs twice: forward training **2R1W** (sum x, "
                + "then copy x), backward **4R1W** (sum a*b, then z = a + b); inference stays 1R1W. The floor's GB/s "
                + "counts the bytes it moves (R+W tensors).\n");
        md.append("- **x floor**: time / floor time; 1.0x means as fast as moving the bytes (below 1.0x: the kernel "
                + "re-reads from cache where the floor assumes it cannot).\n");
        md.append("- **native / peer**: bnorm native's time / the peer's time (< 1: bnorm is faster); **faster peer / "
                + "native**: the faster present peer's time / bnorm's (> 1: bnorm is faster).\n\n");
        machine(md, run);
        md.append("\n## Summary: time as a multiple of the floor (lower is better)\n\n");
        md.append("| op | shape | tensor | in | floor | ").append(String.join(" | ", IMPL_TITLES));
        for (Peer p : peers) {
            md.append(" | ").append(p.name());
        }
        md.append(" | faster peer / native |\n|---|---|---:|---|---:")
                .append("|---:".repeat(IMPLS.length + peers.size() + 1)).append("|\n");
        for (int o = 0; o < OPS.length; o++) {
            for (String shape : shapes) {
                Floor f = floor(OPS[o], shape);
                md.append("| ").append(OP_TITLES[o]).append(" | ").append(shape).append(" | ")
                        .append(mib(4 * Shape.parse(shape).elements())).append(" | ")
                        .append(f == null ? "-" : f.where()).append(" | ")
                        .append(f == null ? "not measured" : f.kind() + " " + time(f.stat()).replaceAll(" \\(.*", "")
                                + ", " + gbps(f.bytes(), f.stat()));
                for (String impl : IMPLS) {
                    md.append(" | ").append(floorCell(impl, OPS[o], shape));
                }
                Stat fastest = null;
                for (Peer p : peers) {
                    md.append(" | ").append(p.present() ? floorCell(p.name(), OPS[o], shape) : "absent");
                    Stat ps = p.present() ? result(p.name(), OPS[o], shape) : null;
                    if (ps != null && (fastest == null || ps.median() < fastest.median())) {
                        fastest = ps;
                    }
                }
                Stat nativeStat = result("native", OPS[o], shape);
                md.append(" | ").append(nativeStat == null || fastest == null ? "-"
                        : String.format(Locale.ROOT, "%.2f", fastest.median() / nativeStat.median()));
                md.append(" |\n");
            }
        }
        alternatedTable(md);
        for (int o = 0; o < OPS.length; o++) {
            detail(md, o);
        }
        return md.toString();
    }

    /**
     * For each peer whose harness also timed bnorm (readPeer), bnorm's and the peer's times of
     * those alternated iterations, shape by shape, and how many cells bnorm is the faster in.
     */
    private void alternatedTable(StringBuilder md) {
        for (Peer p : peers) {
            String bn = alternated(p.name());
            StringBuilder rows = new StringBuilder();
            int cells = 0, ahead = 0;
            for (int o = 0; o < OPS.length; o++) {
                for (String shape : shapes) {
                    Stat b = p.results().get(key(bn, OPS[o], shape)), q = p.results().get(key(p.name(), OPS[o], shape));
                    if (b == null || q == null) {
                        continue;
                    }
                    cells++;
                    ahead += q.median() > b.median() ? 1 : 0;
                    rows.append("| ").append(OP_TITLES[o]).append(" | ").append(shape).append(" | ").append(time(b))
                            .append(" | ").append(time(q)).append(" | ").append(ratio(q, b)).append(" |\n");
                }
            }
            if (cells == 0) {
                continue;
            }
            md.append("\n## bnorm and ").append(p.name()).append(", alternated\n\n");
            md.append(p.name()).append("'s harness also timed bnorm's C library (the same build, called by the harness: "
                    + "no Java; a Python harness adds ctypes' cost of about a microsecond a call), with KernelBench's flags "
                    + "on the peer's input buffers, iteration by iteration in turn with ").append(p.name())
                    .append(" (which of the two goes first swaps every iteration), so that a slower or faster spell of the "
                    + "shared machine falls on both. Medians and min-max of the iteration means, as above; > 1 in the last "
                    + "column: bnorm is faster.\n\n");
            md.append("| op | shape | bnorm | ").append(p.name()).append(" | ").append(p.name())
                    .append(" / bnorm |\n|---|---|---:|---:|---:|\n").append(rows);
            md.append("\nbnorm faster in ").append(ahead).append(" of ").append(cells).append(" cells.\n");
        }
    }

    private String floorCell(String who, String op, String shape) {
        double x = timesFloor(who, op, shape);
        return Double.isNaN(x) ? (result(who, op, shape) == null ? "not measured" : "no floor") : String.format(Locale.ROOT, "%.2fx", x);
    }

    private void detail(StringBuilder md, int o) {
        String op = OPS[o];
        md.append("\n## ").append(OP_TITLES[o]).append("\n\n");
        md.append("| shape | floor | ").append(String.join(" | ", IMPL_TITLES));
        for (Peer p : peers) {
            md.append(" | ").append(p.name());
        }
        for (Peer p : peers) {
            md.append(" | native / ").append(p.name());
        }
        md.append(" |\n|---").append("|---:".repeat(1 + IMPLS.length + 2 * peers.size())).append("|\n");
        for (String shape : shapes) {
            long bytes = bytes(op, shape);
            md.append("| ").append(shape).append(" | ");
            Floor f = floor(op, shape);
            md.append(f == null ? "not measured" : f.kind() + " in " + f.where() + ": " + time(f.stat()) + "<br>"
                    + gbps(f.bytes(), f.stat()) + " (" + f.method() + ")");
            for (String impl : IMPLS) {
                md.append(" | ").append(cell(impl, op, shape, bytes));
            }
            for (Peer p : peers) {
                md.append(" | ").append(p.present() ? cell(p.name(), op, shape, bytes) : "absent");
            }
            Stat nativeStat = result("native", op, shape);
            for (Peer p : peers) {
                Stat ps = p.present() ? result(p.name(), op, shape) : null;
                md.append(" | ").append(nativeStat == null || ps == null ? "-"
                        : String.format(Locale.ROOT, "%.2f", nativeStat.median() / ps.median()));
            }
            md.append(" |\n");
        }
    }

    private String cell(String who, String op, String shape, long bytes) {
        Stat s = result(who, op, shape);
        if (s == null) {
            return "not measured";
        }
        double x = timesFloor(who, op, shape);
        return "**" + time(s) + "**<br>" + gbps(bytes, s)
                + (Double.isNaN(x) ? "" : String.format(Locale.ROOT, " · %.2fx", x));
    }

    /** "12.3 ms (12.1-12.9)": the median with its unit, min-max in the same unit. */
    static String time(Stat s) {
        double scale;
        String unit;
        if (s.median() >= 1e6) {
            scale = 1e6;
            unit = "s";
        } else if (s.median() >= 1e3) {
            scale = 1e3;
            unit = "ms";
        } else {
            scale = 1;
            unit = "µs";
        }
        return sig(s.median() / scale) + " " + unit + " (" + sig(s.min() / scale) + "–" + sig(s.max() / scale) + ")";
    }

    /** "12.3 ms": microseconds with the unit of {@link #time}. */
    static String duration(double micros) {
        return time(new Stat(micros, micros, micros)).replaceAll(" \\(.*", "");
    }

    /** Three significant digits. */
    static String sig(double v) {
        if (v >= 100) {
            return String.format(Locale.ROOT, "%.0f", v);
        }
        return String.format(Locale.ROOT, v >= 10 ? "%.1f" : v >= 1 ? "%.2f" : "%.3f", v);
    }

    /** "392.0 MiB", or "8.0 KiB" below 1 MiB. */
    static String mib(long bytes) {
        return bytes < 1 << 20 ? String.format(Locale.ROOT, "%.1f KiB", bytes / 1024.0)
                : String.format(Locale.ROOT, "%.1f MiB", bytes / (1024.0 * 1024));
    }

    private static String gbps(long bytes, Stat s) {
        return String.format(Locale.ROOT, "%.1f GB/s", bytes / s.median() / 1e3);
    }

    private void machine(StringBuilder md, Map<String, String> run) {
        md.append("## Machine and run\n\n");
        md.append("- CPU: ").append(cpu()).append("\n");
        md.append("- Caches (cpu0): ").append(caches()).append("\n");
        md.append("- Cache sizes for the floors: ").append(caches.l2() == 0 ? "L2 unknown" : "L2 " + mib(caches.l2()) + " x "
                + caches.l2Count() + " (" + mib(caches.l2() * Math.min(floorThreads, caches.l2Count())) + " for "
                + floorThreads + " thread(s))").append(", ").append(caches.l3() == 0 ? "L3 unknown" : "L3 " + mib(caches.l3()))
                .append("\n");
        md.append("- Memory: ").append(memory()).append("; OS: ").append(System.getProperty("os.name")).append(' ')
                .append(System.getProperty("os.version")).append(' ').append(System.getProperty("os.arch")).append("\n");
        if (jmhRun != null) {
            md.append("- JVM: ").append(str(jmhRun, "vmName")).append(' ').append(str(jmhRun, "vmVersion"))
                    .append(" (JDK ").append(str(jmhRun, "jdkVersion")).append("), JMH ").append(str(jmhRun, "jmhVersion"))
                    .append(", args ").append(jmhRun.get("jvmArgs")).append("\n");
            jmhSettings.forEach((type, settings) -> md.append("- JMH ").append(type).append(": ").append(settings).append("\n"));
            String team = System.getenv("BNORM_NUM_THREADS");
            md.append("- Threads: one JMH thread; bnorm's native thread team: ")
                    .append(team != null ? team + " (BNORM_NUM_THREADS)" : "the JVM's available processors (BNORM_NUM_THREADS unset)")
                    .append("; the peers: as stated below\n");
        }
        for (Peer p : peers) {
            md.append("- ").append(p.name()).append(": ");
            if (!p.present()) {
                md.append("**absent**: ").append(p.absent()).append("\n");
                continue;
            }
            md.append(String.join("; ", p.notes()));
            Map<String, Set<String>> byImpl = new TreeMap<>();
            p.impls().forEach((k, impl) -> byImpl.computeIfAbsent(impl, x -> new LinkedHashSet<>())
                    .add(Shape.parse(k.substring(k.lastIndexOf('|') + 1)).layout().toString()));
            md.append("; implementations: ");
            List<String> parts = new ArrayList<>();
            byImpl.forEach((impl, layouts) -> parts.add("`" + impl + "` (" + String.join(", ", layouts) + ")"));
            md.append(String.join(", ", parts)).append("\n");
        }
        run.forEach((k, v) -> md.append("- ").append(k).append(": ").append(v).append("\n"));
    }

    private static String str(JsonObject o, String name) {
        JsonElement e = o.get(name);
        return e == null ? "?" : e.getAsString();
    }

    static String cpu() {
        List<String> lines = lines(Path.of("/proc/cpuinfo"));
        String model = lines.stream().filter(l -> l.startsWith("model name")).findFirst()
                .map(l -> l.substring(l.indexOf(':') + 1).strip()).orElse("unknown model");
        long cpus = lines.stream().filter(l -> l.startsWith("processor")).count();
        String mhz = lines.stream().filter(l -> l.startsWith("cpu MHz")).findFirst()
                .map(l -> ", " + l.substring(l.indexOf(':') + 1).strip() + " MHz").orElse("");
        String flags = lines.stream().filter(l -> l.startsWith("flags")).findFirst()
                .map(l -> Arrays.asList(l.substring(l.indexOf(':') + 1).strip().split(" "))).map(f ->
                        (f.contains("avx512f") ? ", AVX-512" : f.contains("avx2") ? ", AVX2" : "")
                                + (f.contains("avx512_bf16") ? ", AVX512-BF16" : "")
                                + (f.contains("avx512_fp16") ? ", AVX512-FP16" : f.contains("f16c") ? ", F16C" : ""))
                .orElse("");
        return model + ", " + cpus + " logical CPUs (" + Runtime.getRuntime().availableProcessors()
                + " available to the JVM)" + mhz + flags;
    }

    static String caches() {
        List<String> parts = new ArrayList<>();
        Path dir = Path.of("/sys/devices/system/cpu/cpu0/cache");
        for (int i = 0; Files.isDirectory(dir.resolve("index" + i)); i++) {
            Path index = dir.resolve("index" + i);
            String type = read(index.resolve("type"));
            String t = switch (type) {
                case "Data" -> "d";
                case "Instruction" -> "i";
                default -> "";
            };
            parts.add("L" + read(index.resolve("level")) + t + " " + read(index.resolve("size"))
                    + " (shared by CPUs " + read(index.resolve("shared_cpu_list")) + ")");
        }
        return parts.isEmpty() ? "unknown (no " + dir + ")" : String.join(", ", parts);
    }

    static String memory() {
        return lines(Path.of("/proc/meminfo")).stream().filter(l -> l.startsWith("MemTotal")).findFirst()
                .map(l -> String.format(Locale.ROOT, "%.1f GiB",
                        Long.parseLong(l.replaceAll("[^0-9]", "")) / (1024.0 * 1024)))
                .orElse("unknown");
    }

    private static List<String> lines(Path file) {
        try {
            return Files.readAllLines(file);
        } catch (IOException e) {
            return List.of();
        }
    }

    private static String read(Path file) {
        List<String> l = lines(file);
        return l.isEmpty() ? "?" : l.get(0).strip();
    }

    // ------------------------------------------------------------------------------------------
    // chart

    /** One bar chart per op (x floor, log scale), stacked in one PNG. */
    void chart(Path file) throws IOException {
        // one log scale for all panels, whole decades (XChart's bars need an explicit minimum on a log axis)
        double lo = Double.POSITIVE_INFINITY;
        double hi = 0;
        for (String op : OPS) {
            for (String shape : shapes) {
                for (String who : series()) {
                    double x = timesFloor(who, op, shape);
                    if (x > 0) {
                        lo = Math.min(lo, x);
                        hi = Math.max(hi, x);
                    }
                }
            }
        }
        List<CategoryChart> charts = new ArrayList<>();
        List<String> labels = new ArrayList<>();
        for (String shape : shapes) {
            labels.add(shape.replace(':', ' '));
        }
        for (int o = 0; o < OPS.length; o++) {
            CategoryChart chart = new CategoryChartBuilder().width(1400).height(440)
                    .title(OP_TITLES[o] + ": time as a multiple of the bandwidth floor (lower is better; 1 = floor)")
                    .xAxisTitle("shape (layout N x C [x H x W])").yAxisTitle("time / floor (log scale)").build();
            CategoryStyler s = chart.getStyler();
            s.setYAxisLogarithmic(true);
            s.setAvailableSpaceFill(0.85);
            s.setLegendPosition(Styler.LegendPosition.OutsideE);
            s.setChartTitleFont(s.getChartTitleFont().deriveFont(16f));
            s.setYAxisDecimalPattern("#,##0.###");
            if (hi > 0) {
                s.setYAxisMin(Math.pow(10, Math.floor(Math.log10(lo))));
                s.setYAxisMax(Math.pow(10, Math.ceil(Math.log10(hi))));
            }
            List<String> who = series();
            for (int i = 0; i < who.size(); i++) {
                addSeries(chart, i < IMPLS.length ? IMPL_TITLES[i] : who.get(i), who.get(i), OPS[o], labels);
            }
            charts.add(chart);
        }
        BitmapEncoder.saveBitmap(charts, charts.size(), 1, file.toString(), BitmapEncoder.BitmapFormat.PNG);
    }

    /** The implementations, then the present peers. */
    private List<String> series() {
        List<String> who = new ArrayList<>(List.of(IMPLS));
        for (Peer p : peers) {
            if (p.present()) {
                who.add(p.name());
            }
        }
        return who;
    }

    private void addSeries(CategoryChart chart, String title, String who, String op, List<String> labels) {
        List<Double> y = new ArrayList<>();
        boolean any = false;
        for (String shape : shapes) {
            double x = timesFloor(who, op, shape);
            y.add(Double.isNaN(x) ? null : x);
            any |= !Double.isNaN(x);
        }
        if (any) {
            chart.addSeries(title, labels, y);
        }
    }
}
