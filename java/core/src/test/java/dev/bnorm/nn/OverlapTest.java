package dev.bnorm.nn;

import static dev.bnorm.nn.Fixtures.assertMessage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import dev.bnorm.kernel.Buffers;
import java.util.Map;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

/**
 * A module handed memory it writes during the call (a view, reshape or wrap of its own output or
 * input gradient, not only the same object) either refuses it with nothing changed, or, where the
 * computation allows it (elementwise in place, bn.h's in-place rules), gives exactly what it gives
 * for a copy of that input.
 */
class OverlapTest {

    static final String REFUSED = "expected memory apart from this module's";

    @Test
    void flattenThenLinearAppliedToItsOwnOutputIsRefused() {
        try (Sequential model = new Sequential(new Flatten(), new Linear(8, 8, true, 3));
             Tensor x = Tensor.of(Format.NC, Buffers.gaussian(new Random(1), 32, 0, 1), 4, 8)) {
            Tensor y = model.forward(x);
            float[] before = y.toArray();
            // Flatten passes a reshape of y, a different object over y's memory, to Linear
            assertMessage(IllegalArgumentException.class, "inp: " + REFUSED + " output", () -> model.forward(y));
            assertArrayEquals(before, y.toArray(), "the output is unchanged");
        }
    }

    @Test
    void aWrapOfAModulesOutputIsRefusedByLinearBatchNormAndTheLoss() {
        try (Linear linear = new Linear(8, 8, true, 4);
             BatchNorm1d bn = BatchNorm1d.builder(8).build();
             SoftmaxCrossEntropy loss = new SoftmaxCrossEntropy();
             Tensor x = Tensor.of(Format.NC, Buffers.gaussian(new Random(2), 48, 0, 1), 6, 8)) {
            Tensor y = linear.forward(x);
            assertMessage(IllegalArgumentException.class, "inp: " + REFUSED + " output",
                    () -> linear.forward(Tensor.wrap(y.segment(), Format.NC, 6, 8)));
            Tensor z = bn.forward(x);
            Map<String, Object> state = Fixtures.snapshot(bn);
            // accepted before: the kernel's in-place forward, then backward read the output as inp
            assertMessage(IllegalArgumentException.class, "inp: " + REFUSED + " output",
                    () -> bn.forward(Tensor.wrap(z.segment(), Format.NC, 6, 8)));
            assertMessage(IllegalArgumentException.class, "inp: " + REFUSED + " output",
                    () -> bn.forward(z.reshape(Format.NC, 3, 16).reshape(Format.NC, 6, 8)));
            Fixtures.assertUnchanged(state, bn, "refused forward");
            loss.forward(x, new int[] {0, 1, 2, 3, 4, 5});
            assertMessage(IllegalArgumentException.class, "logits: expected memory apart from this loss's gradient",
                    () -> loss.forward(Tensor.wrap(loss.backward().segment(), Format.NC, 6, 8), new int[6]));
        }
    }

    @Test
    void aViewOfOutputMemoryFromAnEarlierLargerBatchIsRefused() {
        // outputs grow to the largest batch and are reused: rows 2..5 of the batch-8 output are
        // outside the batch-2 output's view, but a batch-4 forward writes rows 0..3 of that memory
        try (Linear linear = new Linear(8, 8, true, 6);
             Tensor big = Tensor.of(Format.NC, Buffers.gaussian(new Random(6), 64, 0, 1), 8, 8);
             Tensor small = Tensor.of(Format.NC, Buffers.gaussian(new Random(7), 16, 0, 1), 2, 8)) {
            Tensor y = linear.forward(big);
            Tensor rows2to5 = Tensor.wrap(y.segment().asSlice(2 * 8 * 4), Format.NC, 4, 8);
            linear.forward(small);
            float[] before = rows2to5.toArray();
            assertMessage(IllegalArgumentException.class, "inp: " + REFUSED + " output",
                    () -> linear.forward(rows2to5));
            assertArrayEquals(before, rows2to5.toArray(), "the input is unchanged");
        }
    }

    @Test
    void linearBackwardOfAViewOfItsOwnInputGradientIsRefused() {
        try (Linear linear = new Linear(8, 8, true, 5);
             Tensor x = Tensor.of(Format.NC, Buffers.gaussian(new Random(3), 40, 0, 1), 5, 8);
             Tensor dy = Tensor.of(Format.NC, Buffers.gaussian(new Random(4), 40, 0, 1), 5, 8)) {
            linear.forward(x);
            Tensor dx = linear.backward(dy);
            linear.forward(x);
            assertMessage(IllegalArgumentException.class, "dout: " + REFUSED + " input gradient",
                    () -> linear.backward(dx.reshape(Format.NC, 5, 8)));
        }
    }

    @Test
    void activationsTakeExactlyTheirOutputInPlaceButNotAShiftedView() {
        try (ReLU relu = new ReLU();
             Tensor x = Tensor.of(Format.NC, Buffers.gaussian(new Random(5), 40, 0, 1), 5, 8)) {
            Tensor y = relu.forward(x);
            assertMessage(IllegalArgumentException.class, "inp: " + REFUSED + " output or exactly it",
                    () -> relu.forward(Tensor.wrap(y.segment().asSlice(4), Format.NC, 4, 8)));
            float[] expected = y.toArray();
            Tensor again = relu.forward(Tensor.wrap(y.segment(), Format.NC, 5, 8)); // relu(relu(x)) = relu(x)
            assertArrayEquals(expected, again.toArray());
        }
    }

    // ---- the property: views of outputs and input gradients as inputs ----

    enum Kind { LINEAR, BATCH_NORM, RELU, SIGMOID, FLATTEN_LINEAR }

    enum Source { OUTPUT, INPUT_GRAD }

    enum View { SAME, RESHAPE, WRAP, SHIFTED }

    static Module module(Kind kind) {
        return switch (kind) {
            case LINEAR -> new Linear(8, 8, true, 11);
            case BATCH_NORM -> BatchNorm1d.builder(8).build();
            case RELU -> new ReLU();
            case SIGMOID -> new Sigmoid();
            case FLATTEN_LINEAR -> new Sequential(new Flatten(), new Linear(8, 8, true, 11));
        };
    }

    /** A view of {@code t} (6 x 8): the same object, a reshape, a wrap, or a wrap one row on (5 x 8). */
    static Tensor view(Tensor t, View v) {
        return switch (v) {
            case SAME -> t;
            case RESHAPE -> t.reshape(Format.NC, 12, 4).reshape(Format.NC, 6, 8);
            case WRAP -> Tensor.wrap(t.segment(), Format.NC, 6, 8);
            case SHIFTED -> Tensor.wrap(t.segment().asSlice(4 * 8), Format.NC, 5, 8);
        };
    }

    /**
     * Two identical modules with the same history; module a gets a view of its own output or
     * input gradient, module b a copy of the same values. Either a refuses with
     * IllegalArgumentException and its state unchanged, or both give bit-identical results.
     */
    @Property(tries = 300)
    void viewsOfOwnOutputsAsInputsAreRefusedOrExact(@ForAll Kind kind, @ForAll Source source, @ForAll View view,
                                                     @ForAll boolean backward, @ForAll @IntRange(max = 1000) int seed) {
        Random r = new Random(seed);
        try (Module a = module(kind); Module b = module(kind);
             Tensor x = Tensor.of(Format.NC, Buffers.gaussian(r, 48, 0, 1), 6, 8);
             Tensor dy = Tensor.of(Format.NC, Buffers.gaussian(r, 48, 0, 1), 6, 8)) {
            Tensor[] src = new Tensor[2];
            for (Module m : new Module[] {a, b}) {
                Tensor out = m.forward(x);
                Tensor dx = m.backward(dy);
                src[m == a ? 0 : 1] = source == Source.OUTPUT ? out : dx;
            }
            if (backward) {
                a.forward(x);
                b.forward(x);
                if (view == View.SHIFTED) {
                    return; // dout must have the output's shape
                }
            }
            Tensor v = view(src[0], view);
            try (Tensor copy = Tensor.of(Format.NC, v.toArray(), v.shape())) {
                Map<String, Object> before = Fixtures.snapshot(a);
                Tensor ra;
                try {
                    ra = backward ? a.backward(v) : a.forward(v);
                } catch (IllegalArgumentException e) {
                    assertTrue(e.getMessage().contains(REFUSED) || e.getMessage().contains("dout: expected the format"),
                            e.getMessage());
                    Fixtures.assertUnchanged(before, a, "refused");
                    return;
                }
                Tensor rb = backward ? b.backward(copy) : b.forward(copy);
                String what = kind + " " + (backward ? "backward" : "forward") + " of a " + view + " of its " + source;
                assertArrayEquals(rb.toArray(), ra.toArray(), what);
                assertArrayEquals(Fixtures.snapshot(b).values().stream().map(OverlapTest::text).toArray(),
                        Fixtures.snapshot(a).values().stream().map(OverlapTest::text).toArray(), what + ": state");
            }
        }
    }

    private static String text(Object o) {
        return o instanceof float[] f ? java.util.Arrays.toString(f) : String.valueOf(o);
    }
}
