package dev.bnorm.nn;

import dev.bnorm.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** The update of {@link Adam} and {@link AdamW}, which differ only in how the weight decay is applied. */
abstract sealed class AdamBase extends Optimizer permits Adam, AdamW {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;
    private final boolean amsgrad;
    private final boolean decoupled;
    private final Counter[] steps;
    private final Tensor[] expAvg;
    private final Tensor[] expAvgSq;
    private final Tensor[] maxExpAvgSq; // null entries without amsgrad

    AdamBase(Adam.Builder<?> b, boolean decoupled) {
        super(decoupled ? "AdamW" : "Adam", b.params, b.lr);
        this.beta1 = b.beta1;
        this.beta2 = b.beta2;
        this.eps = b.eps;
        this.weightDecay = b.weightDecay;
        this.amsgrad = b.amsgrad;
        this.decoupled = decoupled;
        int n = parameters().size();
        steps = new Counter[n];
        expAvg = new Tensor[n];
        expAvgSq = new Tensor[n];
        maxExpAvgSq = new Tensor[n];
        try {
            for (int i = 0; i < n; i++) {
                steps[i] = stateCounter(i, "step");
                expAvg[i] = stateTensor(i, "exp_avg");
                expAvgSq[i] = stateTensor(i, "exp_avg_sq");
                maxExpAvgSq[i] = amsgrad ? stateTensor(i, "max_exp_avg_sq") : null;
            }
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    /** The number of steps taken for parameter {@code i} (all equal unless the state was loaded so). */
    public long steps(int i) {
        return steps[i].get();
    }

    @Override
    void update(int j, MemorySegment v, MemorySegment g, long n) {
        steps[j].increment();
        long t = steps[j].get();
        double lr = learningRate();
        double stepSize = lr / (1 - Math.pow(beta1, t));
        float correction2Sqrt = (float) Math.sqrt(1 - Math.pow(beta2, t));
        float b1 = (float) beta1;
        float b2 = (float) beta2;
        float c1 = (float) (1 - beta1);
        float c2 = (float) (1 - beta2);
        float wd = (float) weightDecay;
        float decay = (float) (1 - lr * weightDecay);
        float epsF = (float) eps;
        float negStep = (float) -stepSize;
        MemorySegment m = expAvg[j].segment();
        MemorySegment s = expAvgSq[j].segment();
        MemorySegment max = amsgrad ? maxExpAvgSq[j].segment() : null;
        for (long i = 0; i < n; i++) {
            float x = v.getAtIndex(F, i);
            float grad = g.getAtIndex(F, i);
            if (decoupled) {
                x = x * decay;
            } else if (weightDecay != 0) {
                grad = grad + wd * x;
            }
            float mi = m.getAtIndex(F, i) * b1 + c1 * grad;
            float si = s.getAtIndex(F, i) * b2 + c2 * grad * grad;
            m.setAtIndex(F, i, mi);
            s.setAtIndex(F, i, si);
            if (max != null) {
                si = Math.max(max.getAtIndex(F, i), si);
                max.setAtIndex(F, i, si);
            }
            float denom = (float) Math.sqrt(si) / correction2Sqrt + epsF;
            v.setAtIndex(F, i, x + negStep * mi / denom);
        }
    }

    @Override
    public String toString() {
        return (decoupled ? "AdamW" : "Adam") + "(lr=" + learningRate() + ", betas=(" + beta1 + ", " + beta2 + "), eps="
                + eps + ", weightDecay=" + weightDecay + ", amsgrad=" + amsgrad + ")";
    }

}
