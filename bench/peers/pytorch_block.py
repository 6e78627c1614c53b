#!/usr/bin/python3
"""PyTorch's forward + backward of one ResNet basic block (torchvision's BasicBlock, C -> C channels,
stride 1: conv3x3 -> BN -> ReLU -> conv3x3 -> BN -> +identity -> ReLU, no bias, training mode), the
peer of bnorm's BlockBench.

Usage: /usr/bin/python3 pytorch_block.py --shapes NCHW:32x64x56x56,NHWC:32x64x56x56 [--threads 1]
                                         [--warmup 2] [--iterations 5] [--time-ms 2000]
Writes CSV to stdout (comment lines start with '#'), the format of pytorch_bn.py:
  op,shape,calls,median_us,min_us,max_us,impl

What is timed: zero the parameter gradients, out = block(x), out.backward(dout) (x does not require
a gradient, as the first layer's input; bnorm's block computes its input gradient too, so PyTorch
is given x.requires_grad_() to do the same work). NHWC is the same tensors in
torch.channels_last memory format. Timing and the malloc settings as pytorch_bn.py.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_bn import MALLOC_ENV, measure, parse_shape  # noqa: E402


def main():
    if any(os.environ.get(k) != v for k, v in MALLOC_ENV.items()):
        os.execve(sys.executable, [sys.executable] + sys.argv, {**os.environ, **MALLOC_ENV})
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--time-ms", type=float, default=2000)
    args = parser.parse_args()

    import torch
    nn = torch.nn

    class BasicBlock(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c)

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + x)

    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    print(f"# peer: PyTorch {torch.__version__} (torchvision-style BasicBlock, CPU, training mode)")
    print(f"# threads: {torch.get_num_threads()}")
    print(f"# timing: {args.warmup} warm-up + {args.iterations} iterations of >= {args.time_ms:g} ms; "
          "median, min, max of the iteration means")
    print("op,shape,calls,median_us,min_us,max_us,impl")
    for text in args.shapes.split(","):
        layout, d = parse_shape(text)
        block = BasicBlock(d[1])
        x = torch.randn(*d)
        dout = torch.randn(*d)
        if layout == "NHWC":
            block = block.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
            dout = dout.contiguous(memory_format=torch.channels_last)
        x.requires_grad_()

        def step():
            block.zero_grad(set_to_none=False)
            x.grad = None
            block(x).backward(dout)

        step()
        if layout == "NHWC" and not x.grad.is_contiguous(memory_format=torch.channels_last):
            sys.exit(f"pytorch_block: {text}: the input gradient is not channels_last")
        median, lo, hi, calls = measure(step, args.warmup, args.iterations, args.time_ms)
        print(f"forwardBackward,{text},{calls},{median:.3f},{lo:.3f},{hi:.3f},BasicBlock", flush=True)


if __name__ == "__main__":
    main()
