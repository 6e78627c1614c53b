package dev.bnorm.nn;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.management.ObjectName;

/**
 * Create/close cycles of tensors and modules, and the native memory they leave behind as seen by
 * bnorm's counters, the JVM (Native Memory Tracking, when the JVM runs with
 * {@code -XX:NativeMemoryTracking=summary}) and Linux (resident set size; meaningful when the
 * Java heap is fixed and pre-touched, else heap growth shows in it). {@link #main} is run in a
 * child JVM by {@link NativeMemoryTest}.
 */
final class NativeMemoryProbe {

    static final int C = 64;
    /** Native bytes one cycle allocates through tensors (all freed by the end of the cycle). */
    static final long BYTES_PER_CYCLE = 4L * (4 * C      // input (4, C)
            + 4 * C                                       // weight, weight.grad, bias, bias.grad
            + 2 * C                                       // running_mean, running_var
            + 4 * C                                       // save_mean, save_rstd, dgamma, dbeta
            + 4 * C + 4 * C                               // output, dinp (4, C)
            + 6 * C + 4 * C);                             // doubles: statistics (3, C), mean and rstd (2, C)

    private NativeMemoryProbe() {
    }

    /** One cycle: an input tensor and a BatchNorm1d, a forward and a backward, then both closed. */
    static void cycle(int i) {
        try (Tensor x = Tensor.zeros(Format.NC, 4, C);
             BatchNorm1d bn = BatchNorm1d.builder(C).build()) {
            x.set(i, 0, 0);
            bn.backward(bn.forward(x));
        }
    }

    /** The committed KB and the number of live allocations of NMT's "Other" category (Unsafe.allocateMemory), or null. */
    static long[] nmtOther() {
        try {
            String summary = (String) ManagementFactory.getPlatformMBeanServer().invoke(
                    new ObjectName("com.sun.management:type=DiagnosticCommand"), "vmNativeMemory",
                    new Object[] {new String[] {"summary"}}, new String[] {String[].class.getName()});
            Matcher m = Pattern.compile("Other \\(reserved=\\d+KB, committed=(\\d+)KB\\)\\s*\\(malloc=\\d+KB tag=Other #(\\d+)")
                    .matcher(summary);
            return m.find() ? new long[] {Long.parseLong(m.group(1)), Long.parseLong(m.group(2))} : null;
        } catch (Exception e) {
            return null;
        }
    }

    /** VmRSS in KB from /proc/self/status, or -1 where there is no such file. */
    static long rssKb() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }

    /** Prints "key=value" lines: cycles, tensor counters and NMT "Other" before and after the cycles. */
    public static void main(String[] args) {
        int cycles = Integer.parseInt(args[0]);
        for (int i = 0; i < 1000; i++) {
            cycle(i); // warm-up: classes loaded, library loaded, caches filled
        }
        long[] before = nmtOther();
        long rss = rssKb();
        long live = Tensor.liveBytes();
        long allocated = Tensor.allocatedBytes();
        for (int i = 0; i < cycles; i++) {
            cycle(i);
        }
        long[] after = nmtOther();
        System.out.println("cycles=" + cycles);
        System.out.println("rss.kb.before=" + rss);
        System.out.println("rss.kb.after=" + rssKb());
        System.out.println("tensor.live.delta=" + (Tensor.liveBytes() - live));
        System.out.println("tensor.allocated.delta=" + (Tensor.allocatedBytes() - allocated));
        System.out.println("nmt=" + (before != null && after != null));
        if (before != null && after != null) {
            System.out.println("nmt.other.committed.kb.before=" + before[0]);
            System.out.println("nmt.other.committed.kb.after=" + after[0]);
            System.out.println("nmt.other.count.before=" + before[1]);
            System.out.println("nmt.other.count.after=" + after[1]);
        }
    }
}
