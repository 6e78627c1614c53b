package dev.bnorm.nn;

import dev.bnorm.Tensor;
import dev.bnorm.dist.Collective;
import dev.bnorm.dist.CollectiveException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Map;

/**
 * Data-parallel training, in the manner of PyTorch's {@code DistributedDataParallel}: each rank of
 * a {@link Collective} holds a replica of the same model and trains it on its own part of every
 * batch, and the replicas stay bit-identical.
 * <ul>
 * <li>At construction every replica takes rank 0's state: parameters, buffers and counters
 *     ({@link Collective#broadcast}).</li>
 * <li>{@link #forward} gathers every rank's batch size N_r (ranks may differ; a rank with no
 *     samples calls {@link #forwardNothing()} instead, which runs the collectives of the model's
 *     {@link SyncBatchNorm} layers with nothing).</li>
 * <li>{@link #backward} takes the gradient of this rank's loss taken as the mean over its own
 *     samples, scales it by N_r/N (N = all ranks' samples) so that it becomes this rank's part of
 *     the gradient of the mean loss over the whole batch, runs the model's backward, and then
 *     replaces this backward's contribution to every parameter gradient by its sum over the ranks,
 *     added in rank order in double and rounded once ({@link Collective#allReduceSum}). With even
 *     batches this is DDP's average of the ranks' gradients; with uneven ones it is the gradient
 *     of one process on the concatenated batch. {@link #backwardNothing()} is the backward of a
 *     rank without samples.</li>
 * </ul>
 * With {@link SyncBatchNorm} layers ({@link SyncBatchNorm#convert}) the whole training step is
 * that of one process on the concatenated batch, within rounding. A failure on this rank in a
 * forward or backward aborts the collective, so the other ranks fail too instead of waiting.
 * State-dict keys are the model's prefixed with {@code "module."}, as with PyTorch's wrappers.
 */
public final class DataParallel extends Module {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    private final Module module;
    private final Collective collective;
    private final List<SyncBatchNorm> syncLayers;
    private final Workspace scaled = workspace();
    private double share; // N_r/N of the last forward

    /**
     * Wraps {@code module} (owned from now on: closed with this wrapper) and copies rank 0's state
     * into it. Every rank must construct its DataParallel at the same point, over a model of the
     * same structure.
     */
    public DataParallel(Module module, Collective collective) {
        if (collective == null) {
            throw new IllegalArgumentException("collective: expected a Collective, got null");
        }
        this.module = registerChild("module", module);
        this.collective = collective;
        this.syncLayers = SyncBatchNorm.layers(module);
        guarded(() -> {
            broadcastState();
            return null;
        });
    }

    /** The wrapped model. */
    public Module module() {
        return module;
    }

    /** The collective it trains over. */
    public Collective collective() {
        return collective;
    }

    @Override
    public Tensor forward(Tensor inp) {
        return guarded(() -> {
            checkUsable();
            checkTensor("inp", inp, Tensor.Format.values());
            gatherCounts(inp.n());
            return module.forward(inp);
        });
    }

    @Override
    void checkInput(Input inp) {
        module.checkInput(inp);
    }

    @Override
    Input output(Input inp) {
        return module.output(inp);
    }

    /** The forward of a rank without samples in this step (see the class comment). */
    public void forwardNothing() {
        guarded(() -> {
            checkUsable();
            gatherCounts(0);
            for (SyncBatchNorm s : syncLayers) {
                s.forwardNothing();
            }
            return null;
        });
    }

    /**
     * @param dout the gradient of this rank's loss, the mean over its own samples, with respect to
     *             the last forward's output
     * @return the gradient with respect to this rank's input of the mean loss over the whole batch
     */
    @Override
    public Tensor backward(Tensor dout) {
        return guarded(() -> {
            checkUsable();
            checkTensor("dout", dout, Tensor.Format.values());
            Tensor d = scaled.like(dout);
            MemorySegment src = dout.segment();
            MemorySegment dst = d.segment();
            for (long i = 0; i < dout.size(); i++) {
                dst.setAtIndex(F, i, (float) (src.getAtIndex(F, i) * share));
            }
            double[] before = gradients();
            Tensor dinp = module.backward(d);
            reduceGradients(before);
            return dinp;
        });
    }

    /** The backward of a rank without samples in this step (see the class comment). */
    public void backwardNothing() {
        guarded(() -> {
            checkUsable();
            for (int i = syncLayers.size() - 1; i >= 0; i--) {
                syncLayers.get(i).backwardNothing();
            }
            reduceGradients(gradients());
            return null;
        });
    }

    private void gatherCounts(long n) {
        double total = 0;
        for (double v : collective.allGather(new double[] {n})) {
            total += v;
        }
        share = total > 0 ? n / total : 0;
    }

    /** Every parameter gradient, in order, as doubles. */
    private double[] gradients() {
        List<Parameter> params = parameters();
        long size = 0;
        for (Parameter p : params) {
            size += p.grad().size();
        }
        double[] g = new double[Math.toIntExact(size)];
        int at = 0;
        for (Parameter p : params) {
            MemorySegment s = p.grad().segment();
            for (long i = 0; i < p.grad().size(); i++) {
                g[at++] = s.getAtIndex(F, i);
            }
        }
        return g;
    }

    /** grad = before + (sum over the ranks of grad - before), in double, rounded once. */
    private void reduceGradients(double[] before) {
        double[] delta = gradients();
        for (int i = 0; i < delta.length; i++) {
            delta[i] -= before[i];
        }
        collective.allReduceSum(delta);
        int at = 0;
        for (Parameter p : parameters()) {
            MemorySegment s = p.grad().segment();
            for (long i = 0; i < p.grad().size(); i++, at++) {
                s.setAtIndex(F, i, (float) (before[at] + delta[at]));
            }
        }
    }

    /** Rank 0's float state (parameters, buffers) and counters into every replica. */
    private void broadcastState() {
        Map<String, Tensor> state = module.stateDict();
        Map<String, Counter> counters = module.counters();
        long floats = 0;
        for (Tensor t : state.values()) {
            floats += t.size();
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(4 * floats + 8L * counters.size() + 8, 8);
            long at = 0;
            for (Tensor t : state.values()) {
                MemorySegment.copy(t.segment(), 0, buf, at, 4 * t.size());
                at += 4 * t.size();
            }
            long c0 = (at + 7) / 8 * 8;
            int i = 0;
            for (Counter c : counters.values()) {
                buf.set(ValueLayout.JAVA_LONG, c0 + 8L * i++, c.get());
            }
            collective.broadcast(buf, 0);
            at = 0;
            for (Tensor t : state.values()) {
                MemorySegment.copy(buf, at, t.segment(), 0, 4 * t.size());
                at += 4 * t.size();
            }
            i = 0;
            for (Counter c : counters.values()) {
                c.set(buf.get(ValueLayout.JAVA_LONG, c0 + 8L * i++));
            }
        }
    }

    /** Runs {@code body}; a failure other than the collective's own aborts the collective first. */
    private <T> T guarded(java.util.function.Supplier<T> body) {
        try {
            return body.get();
        } catch (CollectiveException e) {
            throw e;
        } catch (RuntimeException | Error e) {
            collective.abort(e.toString()); // the collective names this rank
            throw e;
        }
    }

    @Override
    public String toString() {
        return "DataParallel(rank " + collective.rank() + " of " + collective.size() + ", " + module + ")";
    }
}
