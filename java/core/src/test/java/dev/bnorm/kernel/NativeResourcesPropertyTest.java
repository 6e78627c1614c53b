package dev.bnorm.kernel;

import static dev.bnorm.kernel.BatchNormKernels.UPDATE_RUNNING;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bnorm.ffi.NativeLibrary;
import dev.bnorm.ffi.bn_h;
import dev.bnorm.kernel.KernelPropertyTest.Call;
import dev.bnorm.kernel.KernelPropertyTest.Fault;
import dev.bnorm.kernel.KernelPropertyTest.Spec;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.IntSupplier;
import net.jqwik.api.Assume;
import net.jqwik.api.Example;

/**
 * Native resources and rejected calls. bn.h promises that nothing is allocated, printed or
 * aborted inside the library: its dynamic symbol table must import no allocator, printer or
 * abort. And 10,000 rejected calls (random invalid calls from {@link KernelPropertyTest}'s
 * generators, rejected by the Java checks before any downcall, and straight calls through the
 * bindings that the C library's own checks reject, one per error status) must not grow the
 * process's native memory beyond generous bounds: glibc's bytes in use ({@code mallinfo2}, through
 * which Arena's and the JVM's own native allocations go) by at most 32 MiB, the resident set (VmRSS)
 * by at most 128 MiB. The bounds are set by noise, not by a leak: after warm-up the JVM alone
 * (JIT compilers, GC) moves glibc's bytes in use by up to ~6 MiB and the RSS by tens of MiB between
 * two measurements, so these catch a leak of ~3 KB (glibc) or ~13 KB (RSS) per call, e.g. a
 * scratch buffer per call; the import check is the exact statement about the C library. Linux
 * only (ELF, glibc, /proc).
 */
class NativeResourcesPropertyTest {

    /** Imports that would break "nothing is allocated, printed or aborted inside the library". */
    static final Set<String> FORBIDDEN = Set.of("malloc", "calloc", "realloc", "reallocarray", "free",
            "aligned_alloc", "posix_memalign", "memalign", "valloc", "pvalloc", "mmap", "mmap64", "sbrk", "brk",
            "strdup", "strndup", "printf", "fprintf", "__printf_chk", "__fprintf_chk", "puts", "fputs", "putchar",
            "fwrite", "perror", "abort", "exit", "_exit", "__assert_fail");

    static final int CALLS = 10_000;

    @Example
    void theLibraryImportsNoAllocatorPrinterOrAbort() throws IOException {
        Path library = NativeLibrary.load().path();
        Assume.that(library.getFileName().toString().endsWith(".so"));
        Set<String> defined = new TreeSet<>();
        Set<String> imported = new TreeSet<>();
        dynamicSymbols(library, defined, imported);
        // the parser really read the symbol table: the API is there
        assertTrue(defined.containsAll(List.of("bn_forward_training", "bn_forward_inference", "bn_backward",
                "bn_strerror", "bn_version")), () -> library + " defines " + defined);
        Set<String> bad = new TreeSet<>(imported);
        bad.retainAll(FORBIDDEN);
        assertTrue(bad.isEmpty(), () -> library + " imports " + bad + " (all imports: " + imported + ")");
    }

    @Example
    void tenThousandRejectedCallsGrowNoNativeMemory() throws Throwable {
        MethodHandle mallinfo2 = mallinfo2();
        Assume.that(mallinfo2 != null && Files.isReadable(Path.of("/proc/self/status")));
        try (Arena arena = Arena.ofConfined()) {
            List<Runnable> calls = new ArrayList<>(javaRejected(arena, 100));
            calls.addAll(cRejected(arena));
            // warm-up: JIT compilation, lazy holders, class loading
            for (int round = 0; round < 5; round++) {
                run(calls, CALLS);
                System.gc();
            }
            long heap0 = mallocInUse(mallinfo2, arena);
            long rss0 = rssBytes();
            run(calls, CALLS);
            System.gc();
            long heap1 = mallocInUse(mallinfo2, arena);
            long rss1 = rssBytes();
            assertTrue(heap1 - heap0 <= 32 << 20, () -> "glibc bytes in use grew by " + (heap1 - heap0)
                    + " over " + CALLS + " rejected calls (" + heap0 + " -> " + heap1 + ")");
            assertTrue(rss1 - rss0 <= 128 << 20, () -> "VmRSS grew by " + (rss1 - rss0) + " bytes over " + CALLS
                    + " rejected calls (" + rss0 + " -> " + rss1 + ")");
        }
    }

    private static void run(List<Runnable> calls, int count) {
        for (int i = 0; i < count; i++) {
            calls.get(i % calls.size()).run();
        }
    }

    /** Invalid calls from the property test's generators, each asserted to be rejected by NativeKernels. */
    private static List<Runnable> javaRejected(Arena arena, int count) {
        BatchNormKernels nat = NativeKernels.get();
        List<Runnable> calls = new ArrayList<>();
        Iterator<Spec> specs = new KernelPropertyTest().specs().sampleStream().iterator();
        while (calls.size() < count) {
            Spec spec = specs.next();
            Call call = new Call(arena, spec);
            if (call.valid(true) || spec.hit().fault() == Fault.WRONG_THREAD) {
                continue;
            }
            calls.add(() -> {
                try {
                    assertNotNull(call.run(nat), () -> "accepted: " + spec);
                } catch (InterruptedException e) {
                    throw new AssertionError(e);
                }
            });
        }
        return calls;
    }

    /** Straight calls through the bindings with valid buffers, one per error status of bn.h. */
    private static List<Runnable> cRejected(Arena arena) {
        long n = 4, c = 3, s = 5;
        int nchw = Layout.NCHW.code;
        MemorySegment x = Buffers.filled(arena, n * c * s, 1.5f);
        MemorySegment y = Buffers.filled(arena, n * c * s, 0);
        MemorySegment[] ch = new MemorySegment[4];
        for (int i = 0; i < ch.length; i++) {
            ch[i] = Buffers.filled(arena, c, 1);
        }
        MemorySegment none = MemorySegment.NULL;
        List<Runnable> calls = new ArrayList<>();
        expect(calls, bn_h.BN_ERR_NULL_POINTER(), () -> bn_h.bn_backward(y, none, none, none, none, none, x, none, ch[0], ch[1],
                0, 1, nchw, n, c, s));
        expect(calls, bn_h.BN_ERR_BAD_DIMENSION(), () -> bn_h.bn_forward_training(y, ch[0], ch[1], none, none, x,
                none, none, none, 1e-5, 0.1, 0, nchw, 0, c, s));
        expect(calls, bn_h.BN_ERR_OVERFLOW(), () -> bn_h.bn_forward_training(y, ch[0], ch[1], none, none, x,
                none, none, none, 1e-5, 0.1, 0, nchw, Long.MAX_VALUE, c, s));
        expect(calls, bn_h.BN_ERR_BAD_LAYOUT(), () -> bn_h.bn_forward_training(y, ch[0], ch[1], none, none, x,
                none, none, none, 1e-5, 0.1, 0, 7, n, c, s));
        expect(calls, bn_h.BN_ERR_BAD_FLAGS(), () -> bn_h.bn_forward_training(y, ch[0], ch[1], none, none, x,
                none, none, none, 1e-5, 0.1, 0x100, nchw, n, c, s));
        expect(calls, bn_h.BN_ERR_BAD_EPS(), () -> bn_h.bn_forward_inference(y, x, none, ch[0], ch[1], none, none,
                Double.NaN, 0, nchw, n, c, s));
        expect(calls, bn_h.BN_ERR_BAD_MOMENTUM(), () -> bn_h.bn_forward_training(y, ch[0], ch[1], ch[2], ch[3], x,
                none, none, none, 1e-5, 2.0, UPDATE_RUNNING, nchw, n, c, s));
        expect(calls, bn_h.BN_ERR_SINGLE_VALUE(), () -> bn_h.bn_forward_training(y, ch[0], ch[1], none, none, x,
                none, none, none, 1e-5, 0.1, 0, nchw, 1, c, 1));
        expect(calls, bn_h.BN_ERR_MISALIGNED(), () -> bn_h.bn_forward_inference(y.asSlice(2), x, none, ch[0], ch[1],
                none, none, 1e-5, 0, nchw, n, c, s - 1));
        expect(calls, bn_h.BN_ERR_ALIAS(), () -> bn_h.bn_forward_inference(y, y.asSlice(4), none, ch[0], ch[1], none,
                none, 1e-5, 0, nchw, n, c, s - 1));
        expect(calls, bn_h.BN_ERR_BAD_MASK(), () -> bn_h.bn_backward(none, none, none, none, y, none, x, none, ch[0], ch[1],
                0, 0, nchw, n, c, s));
        return calls;
    }

    private static void expect(List<Runnable> calls, int status, IntSupplier call) {
        calls.add(() -> assertEquals(status, call.getAsInt(),
                () -> "expected status " + status + " (" + NativeLibrary.strerror(status) + ")"));
    }

    // ---- measurements ----

    private static final StructLayout MALLINFO2 = MemoryLayout.structLayout(
            ValueLayout.JAVA_LONG.withName("arena"), ValueLayout.JAVA_LONG.withName("ordblks"),
            ValueLayout.JAVA_LONG.withName("smblks"), ValueLayout.JAVA_LONG.withName("hblks"),
            ValueLayout.JAVA_LONG.withName("hblkhd"), ValueLayout.JAVA_LONG.withName("usmblks"),
            ValueLayout.JAVA_LONG.withName("fsmblks"), ValueLayout.JAVA_LONG.withName("uordblks"),
            ValueLayout.JAVA_LONG.withName("fordblks"), ValueLayout.JAVA_LONG.withName("keepcost"));

    /** glibc's {@code struct mallinfo2 mallinfo2(void)}, or null where there is none. */
    private static MethodHandle mallinfo2() {
        Linker linker = Linker.nativeLinker();
        return linker.defaultLookup().find("mallinfo2")
                .map(f -> linker.downcallHandle(f, FunctionDescriptor.of(MALLINFO2)))
                .orElse(null);
    }

    /** Bytes allocated by malloc and not freed: uordblks (arenas) + hblkhd (mmap'ed chunks). */
    private static long mallocInUse(MethodHandle mallinfo2, Arena arena) throws Throwable {
        MemorySegment m = (MemorySegment) mallinfo2.invokeExact((SegmentAllocator) arena);
        return m.get(ValueLayout.JAVA_LONG, MALLINFO2.byteOffset(MemoryLayout.PathElement.groupElement("uordblks")))
                + m.get(ValueLayout.JAVA_LONG, MALLINFO2.byteOffset(MemoryLayout.PathElement.groupElement("hblkhd")));
    }

    private static long rssBytes() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        throw new IOException("no VmRSS in /proc/self/status");
    }

    // ---- ELF ----

    /** Defined and undefined (imported) names of the dynamic symbol table of an ELF64 little-endian file. */
    static void dynamicSymbols(Path file, Set<String> defined, Set<String> imported) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        assertTrue(b.getInt(0) == 0x464c457f && b.get(4) == 2 && b.get(5) == 1, file + ": not ELF64 little-endian");
        int shoff = Math.toIntExact(b.getLong(0x28));
        int shentsize = Short.toUnsignedInt(b.getShort(0x3A));
        int shnum = Short.toUnsignedInt(b.getShort(0x3C));
        for (int i = 0; i < shnum; i++) {
            int sh = shoff + i * shentsize;
            if (b.getInt(sh + 4) != 11) { // SHT_DYNSYM
                continue;
            }
            int offset = Math.toIntExact(b.getLong(sh + 0x18));
            int size = Math.toIntExact(b.getLong(sh + 0x20));
            int entsize = Math.toIntExact(b.getLong(sh + 0x38));
            int strings = Math.toIntExact(b.getLong(shoff + b.getInt(sh + 0x28) * shentsize + 0x18));
            for (int e = offset + entsize; e < offset + size; e += entsize) { // entry 0 is the null symbol
                String name = cString(b, strings + b.getInt(e));
                (b.getShort(e + 6) == 0 ? imported : defined).add(name); // st_shndx 0: SHN_UNDEF
            }
        }
    }

    private static String cString(ByteBuffer b, int at) {
        StringBuilder s = new StringBuilder();
        for (int i = at; b.get(i) != 0; i++) {
            s.append((char) b.get(i));
        }
        return s.toString();
    }
}
