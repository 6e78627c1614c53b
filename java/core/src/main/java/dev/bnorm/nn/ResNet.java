package dev.bnorm.nn;

import dev.bnorm.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * A residual network with torchvision's {@code ResNet} structure and state-dict keys, so that a
 * PyTorch state dict of such a network loads as it is:
 * <pre>
 *   conv1 → bn1 → relu → [maxpool] → layer1 → layer2 → ... → avgpool → flatten → fc
 *   keys: conv1.weight, bn1.running_mean, layer1.0.conv1.weight, layer2.0.downsample.0.weight, fc.bias, ...
 * </pre>
 * Each {@code layerK} is a {@link Sequential} of {@link BasicBlock}s, {@code avgpool} an
 * {@link AdaptiveAvgPool2d}(1), {@code fc} a {@link Linear}. Input NCHW or NHWC; output
 * {@code (N, classes)}. Forward, backward and their checks are those of a {@link Sequential} of
 * the same modules (a forward that any module refuses changes nothing).
 * <pre>
 *   ResNet net = new ResNet(Conv2d.builder(3, 16, 3).padding(1).build(), BatchNorm2d.builder(16).build(), null,
 *           List.of(new Sequential(BasicBlock.builder(16, 16).build()),
 *                   new Sequential(BasicBlock.builder(16, 32).stride(2).build())),
 *           new Linear(32, 10, true, 1));
 * </pre>
 */
public final class ResNet extends Module {

    private final Sequential chain; // the same modules in order; not a child, so that the keys are the names above
    private final Conv2d conv1;
    private final BatchNorm2d bn1;
    private final MaxPool2d maxpool;
    private final List<Sequential> layers;
    private final Linear fc;

    /**
     * @param conv1   the stem convolution
     * @param bn1     its BN, or null (a network without batch normalization)
     * @param maxpool the stem's pooling, or null for none
     * @param layers  at least one, named layer1, layer2, ...
     * @param fc      the classifier
     */
    public ResNet(Conv2d conv1, BatchNorm2d bn1, MaxPool2d maxpool, List<Sequential> layers, Linear fc) {
        if (layers == null || layers.isEmpty()) {
            throw new IllegalArgumentException("layers: expected at least one layer, got " + layers);
        }
        this.conv1 = conv1;
        this.bn1 = bn1;
        this.maxpool = maxpool;
        this.layers = List.copyOf(layers);
        this.fc = fc;
        List<Module> order = new ArrayList<>();
        order.add(registerChild("conv1", conv1));
        if (bn1 != null) {
            order.add(registerChild("bn1", bn1));
        }
        order.add(registerChild("relu", new ReLU()));
        if (maxpool != null) {
            order.add(registerChild("maxpool", maxpool));
        }
        for (int i = 0; i < layers.size(); i++) {
            order.add(registerChild("layer" + (i + 1), layers.get(i)));
        }
        order.add(registerChild("avgpool", new AdaptiveAvgPool2d(1)));
        order.add(registerChild("flatten", new Flatten()));
        order.add(registerChild("fc", fc));
        chain = new Sequential(order.toArray(Module[]::new));
    }

    /** The stem convolution. */
    public Conv2d conv1() {
        return conv1;
    }

    /** The stem's BN, or null. */
    public BatchNorm2d bn1() {
        return bn1;
    }

    /** The stem's pooling, or null. */
    public MaxPool2d maxpool() {
        return maxpool;
    }

    /** layer1, layer2, ... (index 0 is layer1). */
    public List<Sequential> layers() {
        return layers;
    }

    /** The classifier. */
    public Linear fc() {
        return fc;
    }

    @Override
    public Tensor forward(Tensor inp) {
        checkUsable();
        return chain.forward(inp);
    }

    @Override
    void checkInput(Input inp) {
        chain.checkInput(inp);
    }

    @Override
    Input output(Input inp) {
        return chain.output(inp);
    }

    @Override
    public Tensor backward(Tensor dout) {
        checkUsable();
        return chain.backward(dout);
    }

    @Override
    public String toString() {
        return "ResNet" + chain.toString().substring("Sequential".length());
    }
}
