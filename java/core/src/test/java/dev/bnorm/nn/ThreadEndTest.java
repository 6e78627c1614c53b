package dev.bnorm.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * A model, a loss or a tensor made on a thread that has ended can still be closed, from any
 * thread, and its native memory is freed; while the creating thread lives, it stays confined to it.
 */
class ThreadEndTest {

    @Test
    void aModelMadeOnAThreadThatEndedIsClosedFromAnotherAndItsMemoryFreed() throws InterruptedException {
        long live = Tensor.liveBytes();
        AtomicReference<Sequential> model = new AtomicReference<>();
        AtomicReference<SoftmaxCrossEntropy> loss = new AtomicReference<>();
        AtomicReference<Tensor> weight = new AtomicReference<>();
        AtomicReference<Tensor> x = new AtomicReference<>();
        Thread maker = new Thread(() -> {
            Sequential m = new Sequential(new Linear(64, 100, false, 1), BatchNorm1d.builder(100).build(), new ReLU());
            Tensor in = Tensor.zeros(Format.NC, 32, 64);
            SoftmaxCrossEntropy l = new SoftmaxCrossEntropy();
            l.forward(m.forward(in), new int[32]);
            model.set(m);
            loss.set(l);
            weight.set(m.stateDict().get("0.weight"));
            x.set(in);
        }, "maker");
        maker.start();
        maker.join();
        long held = Tensor.liveBytes() - live;
        assertTrue(held > 4 * 64 * 100, "the model holds its weights and outputs: " + held + " bytes");

        // still confined: using it is refused, only closing is allowed
        assertThrows(WrongThreadException.class, () -> model.get().forward(x.get()));
        assertThrows(WrongThreadException.class, () -> weight.get().get(0, 0));
        model.get().close();
        loss.get().close();
        x.get().close();
        assertTrue(model.get().isClosed());
        assertFalse(weight.get().isAlive(), "the weight's memory is freed");
        assertEquals(live, Tensor.liveBytes(), "every byte the thread's model allocated is freed");
    }

    @Test
    void whileTheCreatorLivesCloseFromAnotherThreadIsRefused() throws InterruptedException, ExecutionException {
        ExecutorService other = Executors.newSingleThreadExecutor();
        try (Sequential model = new Sequential(new Linear(4, 4, true, 2)); Tensor t = Tensor.zeros(Format.NC, 2, 4)) {
            Tensor view = t.reshape(Format.NC, 4, 2);
            for (Runnable r : new Runnable[] {model::close, t::close, () -> view.get(0, 0)}) {
                ExecutionException e = assertThrows(ExecutionException.class, () -> other.submit(r).get());
                assertTrue(e.getCause() instanceof WrongThreadException, String.valueOf(e.getCause()));
            }
            assertFalse(model.isClosed());
            assertTrue(t.isAlive());
            model.forward(t); // still usable by its creator
        } finally {
            other.shutdownNow();
        }
    }
}
