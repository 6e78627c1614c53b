package dev.bnorm.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The floor that applies to a pass (issue: forward training 1R1W in cache and 2R1W out of it,
 * backward 2R1W and 4R1W, inference 1R1W), and the cache sizes it is decided by; the 16-bit
 * report's floors, ratios and verdicts on the targets of issue 20.
 */
class ReportTest {

    private static final long MIB = 1 << 20;

    @Test
    void readsCacheSizesAsSysfsWritesThem(@TempDir Path dir) throws IOException {
        cache(dir, 0, "1", "Data", "48K", "0");
        cache(dir, 1, "1", "Instruction", "32K", "0");
        cache(dir, 2, "2", "Unified", "2048K", "0");
        cache(dir, 3, "3", "Unified", "307200K", "0-1");
        assertEquals(new Report.Caches(2 * MIB, 2, 300 * MIB), Report.Caches.of(dir, 2));
        assertEquals(new Report.Caches(0, 1, 0), Report.Caches.of(dir.resolve("absent"), 2));
        assertEquals(5, Report.Caches.countCpus("0-3,8"));
        assertEquals(0, Report.Caches.parseSize("?"));
    }

    @Test
    void dataInTheL2sOfTheThreadsUsedThenL3ThenMemory() {
        Report.Caches c = new Report.Caches(2 * MIB, 2, 300 * MIB);
        assertEquals("L3", c.where(3 * MIB, 1));
        assertEquals("L2", c.where(3 * MIB, 2));
        assertEquals("L2", c.where(4 * MIB, 8)); // two L2s, however many threads
        assertEquals("L3", c.where(300 * MIB, 2));
        assertEquals("memory", c.where(300 * MIB + 1, 2));
    }

    @Test
    void appliesTheFloorOfEachPassAtEachSize(@TempDir Path dir) throws IOException {
        // 32x64: 8 KiB a tensor (in L2); 128x256x56x56: 392 MiB a tensor (beyond a 300 MiB L3)
        StringBuilder json = new StringBuilder("[");
        String[] methods = {"copy", "stream", "add", "sumCopy", "sumAdd"};
        double[] small = {0.3, 0.2, 0.4, 0.5, 0.9};
        double[] large = {90000, 95000, 130000, 170000, 260000};
        for (int m = 0; m < methods.length; m++) {
            json.append(result(methods[m], "32x64", small[m])).append(',');
            json.append(result(methods[m], "128x256x56x56", large[m])).append(m + 1 < methods.length ? "," : "");
        }
        Path file = dir.resolve("jmh-floor.json");
        Files.writeString(file, json.append(']').toString());
        Report report = new Report();
        report.caches = new Report.Caches(2 * MIB, 2, 300 * MIB);
        report.readJmh(file);
        long big = 4L * 128 * 256 * 56 * 56;

        assertFloor(report.floor("forwardTraining", "NC:32x64"), "1R1W", "L2", "stream", 0.2, 2 * 8192);
        assertFloor(report.floor("forwardInference", "NC:32x64"), "1R1W", "L2", "stream", 0.2, 2 * 8192);
        assertFloor(report.floor("backward", "NC:32x64"), "2R1W", "L2", "add", 0.4, 3 * 8192);
        assertFloor(report.floor("forwardTraining", "NHWC:128x256x56x56"), "2R1W", "memory", "sumCopy", 170000, 3 * big);
        assertFloor(report.floor("forwardInference", "NCHW:128x256x56x56"), "1R1W", "memory", "copy", 90000, 2 * big);
        assertFloor(report.floor("backward", "NHWC:128x256x56x56"), "4R1W", "memory", "sumAdd", 260000, 5 * big);
        assertEquals(null, report.floor("backward", "NC:64x4096")); // no floor measured at that size
    }

    @Test
    void readsTheFilesOfEachShapeInTurn(@TempDir Path dir) throws IOException {
        // bench/run: one kernels file per shape (a tenth too), a floor file per new size; nothing
        // from a stray file of another name
        Files.writeString(dir.resolve("jmh-kernels-1.json"), "[" + kernel("backward", "NC:32x64", "f32", 3) + "]");
        Files.writeString(dir.resolve("jmh-kernels-2.json"), "[" + kernel("backward", "NCHW:32x64x7x7", "f32", 50) + "]");
        Files.writeString(dir.resolve("jmh-kernels-10.json"), "[" + kernel("backward", "NHWC:32x64x7x7", "f32", 60) + "]");
        Files.writeString(dir.resolve("jmh-floor-1.json"), "[" + result("add", "32x64", 0.4) + "]");
        Files.writeString(dir.resolve("jmh-floor-2.json"), "[" + result("add", "32x64x7x7", 7) + "]");
        Files.writeString(dir.resolve("jmh-kernels-x.json"), "[" + kernel("backward", "NC:1x1", "f32", 1) + "]");
        Report report = new Report();
        report.caches = new Report.Caches(2 * MIB, 2, 300 * MIB);
        report.readJmhFiles(dir);
        assertEquals(3, report.result("native", "backward", "NC:32x64").median());
        assertEquals(50, report.result("native", "backward", "NCHW:32x64x7x7").median());
        assertEquals(60, report.result("native", "backward", "NHWC:32x64x7x7").median());
        assertEquals(null, report.result("native", "backward", "NC:1x1"));
        assertEquals(0.4, report.floor("backward", "NC:32x64").stat().median());
        assertEquals(7, report.floor("backward", "NHWC:32x64x7x7").stat().median());
    }

    @Test
    void halfReportJudgesEachCellAgainstTheTargets(@TempDir Path dir) throws IOException {
        // NC:4096x1024 is 16 MiB in float32 (the speed-up target applies), NC:32x64 8 KiB (it does not)
        StringBuilder json = new StringBuilder("[");
        String[] ops = {"forwardTraining", "forwardInference", "backward"};
        double[] f32 = {1800, 900, 1500};
        double[] bf16 = {1000, 500, 1000};
        for (int o = 0; o < 3; o++) {
            json.append(kernel(ops[o], "NC:4096x1024", "f32", f32[o])).append(',')
                    .append(kernel(ops[o], "NC:4096x1024", "bf16", bf16[o])).append(',')
                    .append(kernel(ops[o], "NC:32x64", "f32", 3)).append(',')
                    .append(kernel(ops[o], "NC:32x64", "bf16", 2.5)).append(o < 2 ? "," : "]");
        }
        Files.writeString(dir.resolve("jmh.json"), json.toString());
        Files.writeString(dir.resolve("jmh-floor.json"), "[" + floor("copy", "4096x1024", 4, 400) + ","
                + floor("copy", "4096x1024", 2, 200) + "]");
        Files.writeString(dir.resolve("pytorch.csv"), "# peer: PyTorch\nop,shape,calls,median_us,min_us,max_us,impl\n"
                + "forwardTraining,NC:4096x1024,10,2000,1900,2100,aten\nbackward,NC:4096x1024,10,3000,2900,3100,aten\n"
                + "forwardTraining,NC:32x64,10,10,9,11,aten\n");
        Files.writeString(dir.resolve("onednn.csv"), "# peer: oneDNN\nop,shape,calls,median_us,min_us,max_us,impl\n"
                + "forwardTraining,NC:4096x1024,10,1100,1000,1200,jit\nbackward,NC:4096x1024,10,800,700,900,jit\n"
                + "forwardTraining,NC:32x64,10,4,3,5,jit\n");
        Report report = new Report();
        report.caches = new Report.Caches(2 * MIB, 2, 300 * MIB);
        report.readJmh(dir.resolve("jmh.json"));
        report.readJmh(dir.resolve("jmh-floor.json"));
        report.peers.add(Report.readPeer(dir.resolve("pytorch.csv"), "PyTorch"));
        report.peers.add(Report.readPeer(dir.resolve("onednn.csv"), "oneDNN"));
        String md = report.halfMarkdown("bf16", Map.of(), "figures");

        // 16 MiB in f32 and 8 MiB in bf16: inference 1R1W in L3 either way, 400 and 200 us
        assertEquals(200, report.floor("forwardInference", "NC:4096x1024", 2).stat().median());
        assertEquals(2L * 2 * 4096 * 1024, report.floor("forwardInference", "NC:4096x1024", 2).bytes());
        assertTrue(md.contains("| Forward inference | NC:4096x1024 | 16.0 MiB | 1R1W in L3: 400 µs | 1R1W in L3: 200 µs "
                + "| 900 µs (900–900) | 500 µs (500–500) | not measured | not measured | 1.80 | - | 2.50x |"), md);
        assertTrue(md.contains("- Forward training NC:4096x1024: 1.80x, met\n"), md);
        assertTrue(md.contains("- Backward NC:4096x1024: 1.50x, **not met** (0.20x short; bf16 would have to take 882 µs, "
                + "it takes 1.00 ms)\n"), md);
        assertFalse(md.contains("- Forward training NC:32x64: 1."), md); // below 8 MiB: not judged for the speed-up
        assertTrue(md.contains("Met in 1 of 2 cells.\n"), md);
        assertTrue(md.contains("- Forward training NC:4096x1024: PyTorch 2.00x, oneDNN 1.10x (peer time / bnorm time), met\n"),
                md);
        assertTrue(md.contains("- Backward NC:4096x1024: PyTorch 3.00x, oneDNN 0.80x (peer time / bnorm time), **not met**\n"),
                md);
        assertTrue(md.contains("- Forward training NC:32x64: PyTorch 4.00x, oneDNN 1.60x (peer time / bnorm time), met\n"), md);
        assertTrue(md.contains("- Backward NC:32x64: PyTorch not measured, oneDNN not measured: no peer to compare with\n"), md);
        assertTrue(md.contains("Met in 2 of 6 cells"), md);
        assertTrue(md.contains("```\nfigures\n```"), md);
    }

    @Test
    void keepsBnormsAlternatedRowsApartFromThePeers(@TempDir Path dir) throws IOException {
        // bn_onednn --bnorm: each of oneDNN's rows followed by bnorm's, timed in turn with it
        Files.writeString(dir.resolve("jmh.json"), "[" + kernel("forwardTraining", "NC:4096x1024", "f32", 900) + ","
                + kernel("backward", "NC:4096x1024", "f32", 1500) + "]");
        Files.writeString(dir.resolve("onednn.csv"), "# peer: oneDNN\n# bnorm: 0.1.0 (lib.so), 1 thread(s)\n"
                + "op,shape,calls,median_us,min_us,max_us,impl\n"
                + "forwardTraining,NC:4096x1024,10,1100,1000,1200,jit\n"
                + "forwardTraining,NC:4096x1024,12,1000,950,1050,bnorm 0.1.0 (alternated)\n"
                + "backward,NC:4096x1024,10,800,700,900,jit\n"
                + "backward,NC:4096x1024,8,1600,1500,1700,bnorm 0.1.0 (alternated)\n");
        Report report = new Report();
        report.caches = new Report.Caches(2 * MIB, 2, 300 * MIB);
        report.readJmhFiles(dir);
        report.peers.add(Report.readPeer(dir.resolve("onednn.csv"), "oneDNN"));
        assertEquals(800, report.result("oneDNN", "backward", "NC:4096x1024").median());
        assertEquals(1500, report.result("native", "backward", "NC:4096x1024").median());
        assertEquals(Map.of("oneDNN|backward|NC:4096x1024", "jit", "oneDNN|forwardTraining|NC:4096x1024", "jit"),
                report.peers.get(0).impls());
        String md = report.markdown(Map.of());
        assertTrue(md.contains("| Forward training | NC:4096x1024 | 1.00 ms (0.950–1.05) | 1.10 ms (1.00–1.20) | 1.10 |\n"
                + "| Backward | NC:4096x1024 | 1.60 ms (1.50–1.70) | 800 µs (700–900) | 0.50 |\n"), md);
        assertTrue(md.contains("bnorm faster in 1 of 2 cells."), md);
        // the other tables compare JMH's bnorm with oneDNN's own rows (backward 800 / 1500)
        assertTrue(md.contains("| Backward | NC:4096x1024 | 16.0 MiB | - | not measured | no floor | not measured "
                + "| not measured | no floor | 0.53 |"), md);
    }

    private static String kernel(String op, String shape, String dtype, double micros) {
        return "{\"benchmark\":\"dev.bnorm.bench.KernelBench." + op + "\",\"mode\":\"avgt\",\"threads\":1,\"forks\":1,"
                + "\"params\":{\"impl\":\"native\",\"shape\":\"" + shape + "\",\"dtype\":\"" + dtype + "\"},"
                + "\"primaryMetric\":{\"scoreUnit\":\"us/op\",\"rawData\":[[" + micros + "]]}}";
    }

    private static String floor(String method, String dims, int elementBytes, double micros) {
        return result(method, dims, micros).replace("\"params\":{", "\"params\":{\"elementBytes\":\"" + elementBytes + "\",");
    }

    private static void assertFloor(Report.Floor f, String kind, String where, String method, double micros, long bytes) {
        assertEquals(kind, f.kind());
        assertEquals(where, f.where());
        assertEquals(method, f.method());
        assertEquals(micros, f.stat().median());
        assertEquals(bytes, f.bytes());
    }

    private static String result(String method, String dims, double micros) {
        return "{\"benchmark\":\"dev.bnorm.bench.FloorBench." + method + "\",\"mode\":\"avgt\",\"threads\":2,\"forks\":1,"
                + "\"warmupIterations\":3,\"warmupTime\":\"200 ms\",\"measurementIterations\":1,\"measurementTime\":\"200 ms\","
                + "\"params\":{\"dims\":\"" + dims + "\"},\"primaryMetric\":{\"scoreUnit\":\"us/op\",\"rawData\":[[" + micros + "]]}}";
    }

    private static void cache(Path dir, int index, String level, String type, String size, String shared) throws IOException {
        Path d = Files.createDirectories(dir.resolve("index" + index));
        Files.writeString(d.resolve("level"), level + "\n");
        Files.writeString(d.resolve("type"), type + "\n");
        Files.writeString(d.resolve("size"), size + "\n");
        Files.writeString(d.resolve("shared_cpu_list"), shared + "\n");
    }
}
