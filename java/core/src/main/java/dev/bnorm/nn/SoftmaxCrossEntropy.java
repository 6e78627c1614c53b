package dev.bnorm.nn;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Softmax followed by the negative log-likelihood, averaged over the batch: PyTorch's
 * {@code torch.nn.CrossEntropyLoss()} on logits {@code (N, K)} (format NC) and class labels in
 * [0, K):
 * <pre>
 *   loss = (1/N) * sum_n ( logsumexp(x[n]) - x[n][label[n]] )
 *   logsumexp(x) = m + log(sum_k exp(x[k] - m)),  m = max_k x[k]     (no overflow for large logits)
 *   d loss / d x[n][k] = (softmax(x[n])[k] - [k == label[n]]) / N
 * </pre>
 * Sums are accumulated in double. The gradient is computed by {@link #forward} into memory this
 * object owns and reuses (grown to the largest batch seen); {@link #backward()} returns a borrowed
 * view of it, valid until the next forward, whose {@code close()} is harmless.
 * Confined to the thread that created it, like a {@link Module}.
 */
public final class SoftmaxCrossEntropy implements AutoCloseable {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    private final Thread owner = Thread.currentThread();
    private final Module.Workspace grad = new Module.Workspace();
    private boolean ready;
    private boolean closed;

    /** A new loss, confined to this thread. */
    public SoftmaxCrossEntropy() {
    }

    /**
     * The mean loss of the batch.
     *
     * @param logits (N, K), format NC
     * @param labels N class indices in [0, K)
     */
    public float forward(Tensor logits, int[] labels) {
        check();
        Module.checkTensor("logits", logits, Format.NC);
        long n = logits.n();
        long k = logits.c();
        if (labels == null || labels.length != n) {
            throw new IllegalArgumentException("labels: expected " + n + " labels (N of logits " + logits + "), got "
                    + (labels == null ? "null" : labels.length));
        }
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] < 0 || labels[i] >= k) {
                throw new IllegalArgumentException("labels[" + i + "]: expected a class in [0, " + k + "), got "
                        + labels[i]);
            }
        }
        ready = false;
        MemorySegment x = logits.segment();
        MemorySegment g = grad.get(Format.NC, n, k).segment();
        double total = 0;
        for (long i = 0; i < n; i++) {
            long row = i * k;
            float max = Float.NEGATIVE_INFINITY;
            for (long j = 0; j < k; j++) {
                max = Math.max(max, x.getAtIndex(F, row + j));
            }
            double sum = 0;
            for (long j = 0; j < k; j++) {
                double e = Math.exp(x.getAtIndex(F, row + j) - (double) max);
                g.setAtIndex(F, row + j, (float) e); // unnormalized softmax for now
                sum += e;
            }
            int label = labels[(int) i];
            total += max + Math.log(sum) - x.getAtIndex(F, row + label);
            for (long j = 0; j < k; j++) {
                double p = g.getAtIndex(F, row + j) / sum;
                g.setAtIndex(F, row + j, (float) ((p - (j == label ? 1 : 0)) / n));
            }
        }
        ready = true;
        return (float) (total / n);
    }

    /** d loss / d logits of the last forward, (N, K): a view of memory owned by this object (closing it is harmless). */
    public Tensor backward() {
        check();
        if (!ready) {
            throw new IllegalStateException("backward: expected a forward first, got none");
        }
        return grad.current();
    }

    /** The index of the largest logit of each row (the first one on ties), e.g. to measure accuracy. */
    public static int[] argmax(Tensor logits) {
        Module.checkTensor("logits", logits, Format.NC);
        MemorySegment x = logits.segment();
        long k = logits.c();
        int[] result = new int[Math.toIntExact(logits.n())];
        for (int i = 0; i < result.length; i++) {
            int best = 0;
            for (int j = 1; j < k; j++) {
                if (x.getAtIndex(F, i * k + j) > x.getAtIndex(F, i * k + best)) {
                    best = j;
                }
            }
            result[i] = best;
        }
        return result;
    }

    /** Frees the gradient tensor; idempotent. */
    @Override
    public void close() {
        if (!closed) {
            check();
            closed = true;
            grad.close();
        }
    }

    private void check() {
        if (Thread.currentThread() != owner) {
            throw new WrongThreadException("SoftmaxCrossEntropy: confined to thread \"" + owner.getName()
                    + "\" which created it, called from thread \"" + Thread.currentThread().getName() + "\"");
        }
        if (closed) {
            throw new IllegalStateException("SoftmaxCrossEntropy: closed");
        }
    }
}
