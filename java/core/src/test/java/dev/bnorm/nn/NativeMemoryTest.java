package dev.bnorm.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * No native memory growth over 100,000 create/close cycles of a tensor and a BatchNorm1d with a
 * forward and a backward ({@link NativeMemoryProbe#cycle}; about 6 KB allocated per cycle, so
 * ~0.6 GB in all), run in a child JVM with a fixed heap and Native Memory Tracking: measured by
 * bnorm's tensor counters, by the JVM (NMT's "Other" category, where {@code Arena} memory is
 * counted) and by the process's resident set size.
 */
class NativeMemoryTest {

    static final int CYCLES = 100_000;
    static final int HANG_SECONDS = 600;

    @Test
    void nativeMemoryTrackingAndResidentSetOfAChildJvmSeeNoGrowth() throws IOException, InterruptedException {
        String java = ProcessHandle.current().info().command().orElseThrow();
        // a fixed, pre-touched heap: garbage cannot grow the resident set, native leaks would
        Process p = new ProcessBuilder(List.of(java, "-XX:NativeMemoryTracking=summary", "--enable-native-access=ALL-UNNAMED",
                "-Xms64m", "-Xmx64m", "-XX:+AlwaysPreTouch",
                "-cp", System.getProperty("java.class.path"),
                NativeMemoryProbe.class.getName(), Integer.toString(CYCLES)))
                .redirectErrorStream(true).start();
        // a guard against a hung child, not a speed check: a cycle took under 0.6 ms on the Xeon
        // guest this was written on and 1.1-1.3 ms on a Zen 4 guest (each tensor's shared arena
        // is closed with a handshake), 2 minutes in all
        if (!p.waitFor(HANG_SECONDS, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("the child JVM did not finish within " + HANG_SECONDS + " s");
        }
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), output);
        Map<String, String> v = new HashMap<>();
        output.lines().filter(l -> l.contains("=")).forEach(l -> v.put(l.substring(0, l.indexOf('=')),
                l.substring(l.indexOf('=') + 1)));
        assertEquals(Long.toString(CYCLES * NativeMemoryProbe.BYTES_PER_CYCLE), v.get("tensor.allocated.delta"), output);
        assertEquals("0", v.get("tensor.live.delta"), output);
        assertEquals("true", v.get("nmt"), "NMT summary readable in the child JVM:\n" + output);
        long committedGrowthKb = Long.parseLong(v.get("nmt.other.committed.kb.after"))
                - Long.parseLong(v.get("nmt.other.committed.kb.before"));
        long countGrowth = Long.parseLong(v.get("nmt.other.count.after")) - Long.parseLong(v.get("nmt.other.count.before"));
        assertTrue(committedGrowthKb < 256 && countGrowth < 16, "NMT Other grew by " + committedGrowthKb + " KB and "
                + countGrowth + " allocations over " + CYCLES + " cycles:\n" + output);
        long rssBefore = Long.parseLong(v.get("rss.kb.before"));
        if (rssBefore >= 0) { // Linux
            long rssGrowthKb = Long.parseLong(v.get("rss.kb.after")) - rssBefore;
            assertTrue(rssGrowthKb < 32 * 1024, "resident set grew by " + rssGrowthKb + " KB:\n" + output);
        }
    }
}
