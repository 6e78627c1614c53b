package dev.bnorm.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The floor that applies to a pass (issue: forward training 1R1W in cache and 2R1W out of it,
 * backward 2R1W and 4R1W, inference 1R1W), and the cache sizes it is decided by.
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
