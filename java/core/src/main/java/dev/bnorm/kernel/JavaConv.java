package dev.bnorm.kernel;

import dev.bnorm.internal.ConvChecks;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * {@link ConvKernels} as the formulas read, in plain Java: direct loops (no im2col), each sum in
 * double over its terms in a fixed order and rounded once to float. Slow; the oracle the other
 * implementation is tested against. Needs no scratch.
 */
public final class JavaConv implements ConvKernels {

    /** The instance (no state). */
    public static final JavaConv INSTANCE = new JavaConv();

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    private JavaConv() {}

    @Override
    public String name() {
        return "java";
    }

    @Override
    public long scratchSize(ConvShape shape) {
        return 0;
    }

    @Override
    public void forward(MemorySegment out, MemorySegment inp, MemorySegment weight, MemorySegment bias,
                        MemorySegment scratch, ConvShape s) {
        ConvChecks.checkForward(out, inp, weight, bias, scratch, 0, s, false);
        for (long n = 0; n < s.n(); n++) {
            for (long o = 0; o < s.cout(); o++) {
                for (long y = 0; y < s.ho(); y++) {
                    for (long x = 0; x < s.wo(); x++) {
                        double acc = bias == null ? 0 : bias.getAtIndex(F, o);
                        for (long c = 0; c < s.cin(); c++) {
                            for (int i = 0; i < s.kh(); i++) {
                                long yy = y * s.sh() - s.ph() + i;
                                for (int j = 0; j < s.kw(); j++) {
                                    long xx = x * s.sw() - s.pw() + j;
                                    if (yy >= 0 && yy < s.h() && xx >= 0 && xx < s.w()) {
                                        acc += (double) weight.getAtIndex(F, weightIndex(s, o, c, i, j))
                                                * inp.getAtIndex(F, inpIndex(s, n, c, yy, xx));
                                    }
                                }
                            }
                        }
                        out.setAtIndex(F, outIndex(s, n, o, y, x), (float) acc);
                    }
                }
            }
        }
    }

    @Override
    public void backward(MemorySegment dinp, MemorySegment dweight, MemorySegment dbias, MemorySegment dout,
                         MemorySegment inp, MemorySegment weight, MemorySegment scratch, int flags, ConvShape s) {
        ConvChecks.checkBackward(dinp, dweight, dbias, dout, inp, weight, scratch, 0, flags, s, false);
        boolean accumulate = (flags & ACCUMULATE) != 0;
        if (dinp != null) { // dinp[n][c][yy][xx] = Σ over (o, i, j) with yy = y*sh - ph + i, xx = x*sw - pw + j
            for (long n = 0; n < s.n(); n++) {
                for (long c = 0; c < s.cin(); c++) {
                    for (long yy = 0; yy < s.h(); yy++) {
                        for (long xx = 0; xx < s.w(); xx++) {
                            double acc = 0;
                            for (long o = 0; o < s.cout(); o++) {
                                for (int i = 0; i < s.kh(); i++) {
                                    long ty = yy + s.ph() - i;
                                    if (ty < 0 || ty % s.sh() != 0 || ty / s.sh() >= s.ho()) {
                                        continue;
                                    }
                                    for (int j = 0; j < s.kw(); j++) {
                                        long tx = xx + s.pw() - j;
                                        if (tx < 0 || tx % s.sw() != 0 || tx / s.sw() >= s.wo()) {
                                            continue;
                                        }
                                        acc += (double) weight.getAtIndex(F, weightIndex(s, o, c, i, j))
                                                * dout.getAtIndex(F, outIndex(s, n, o, ty / s.sh(), tx / s.sw()));
                                    }
                                }
                            }
                            dinp.setAtIndex(F, inpIndex(s, n, c, yy, xx), (float) acc);
                        }
                    }
                }
            }
        }
        for (long o = 0; o < s.cout(); o++) {
            if (dweight != null) {
                for (long c = 0; c < s.cin(); c++) {
                    for (int i = 0; i < s.kh(); i++) {
                        for (int j = 0; j < s.kw(); j++) {
                            long at = weightIndex(s, o, c, i, j);
                            double acc = accumulate ? dweight.getAtIndex(F, at) : 0;
                            for (long n = 0; n < s.n(); n++) {
                                for (long y = 0; y < s.ho(); y++) {
                                    long yy = y * s.sh() - s.ph() + i;
                                    for (long x = 0; x < s.wo(); x++) {
                                        long xx = x * s.sw() - s.pw() + j;
                                        if (yy >= 0 && yy < s.h() && xx >= 0 && xx < s.w()) {
                                            acc += (double) dout.getAtIndex(F, outIndex(s, n, o, y, x))
                                                    * inp.getAtIndex(F, inpIndex(s, n, c, yy, xx));
                                        }
                                    }
                                }
                            }
                            dweight.setAtIndex(F, at, (float) acc);
                        }
                    }
                }
            }
            if (dbias != null) {
                double acc = accumulate ? dbias.getAtIndex(F, o) : 0;
                for (long n = 0; n < s.n(); n++) {
                    for (long y = 0; y < s.ho(); y++) {
                        for (long x = 0; x < s.wo(); x++) {
                            acc += dout.getAtIndex(F, outIndex(s, n, o, y, x));
                        }
                    }
                }
                dbias.setAtIndex(F, o, (float) acc);
            }
        }
    }

    /** Element index of inp[n][c][y][x] in the shape's layout. */
    static long inpIndex(ConvShape s, long n, long c, long y, long x) {
        return s.layout() == Layout.NCHW ? ((n * s.cin() + c) * s.h() + y) * s.w() + x
                                         : ((n * s.h() + y) * s.w() + x) * s.cin() + c;
    }

    /** Element index of out[n][o][y][x] in the shape's layout. */
    static long outIndex(ConvShape s, long n, long o, long y, long x) {
        return s.layout() == Layout.NCHW ? ((n * s.cout() + o) * s.ho() + y) * s.wo() + x
                                         : ((n * s.ho() + y) * s.wo() + x) * s.cout() + o;
    }

    /** Element index of weight[o][c][i][j] (PyTorch's order, both layouts). */
    static long weightIndex(ConvShape s, long o, long c, long i, long j) {
        return ((o * s.cin() + c) * s.kh() + i) * s.kw() + j;
    }
}
