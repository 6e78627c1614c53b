#!/usr/bin/python3
"""Accuracy of bf16 batch norm, bnorm and PyTorch, against float64 on the same rounded inputs
(issue 20's accuracy target), on N=32, C=64, H=W=56, NCHW:
  random   x = N(0,1) rounded to bf16: dgamma's relative error (target <= 1e-3)
  offset   x = 1000 + 0.01*N(0,1) rounded to bf16: out within one bf16 ulp of the truth
dout = N(0,1) rounded to bf16, gamma uniform in [0.5, 2), beta in [-1, 1) (float32), eps 1e-5.

Usage (Debian's /usr/bin/python3 with python3-torch):
    half_accuracy.py inputs DIR    draws the cases (the seed and draws of make_half_golden.py
                                   --figures, so PyTorch's figures are the same) and writes
                                   DIR/<case>/x.bf16, dout.bf16 (NCHW, little-endian bit patterns),
                                   gamma.f32, beta.f32
    java -cp bench/target/benchmarks.jar dev.bnorm.bench.HalfAccuracy DIR
                                   runs bnorm (native, BN_DATA_BF16) on them: forward training,
                                   then the backward with the saved statistics; writes
                                   DIR/<case>/bnorm.out.bf16, bnorm.dinp.bf16, bnorm.dgamma.f32,
                                   bnorm.dbeta.f32
    half_accuracy.py compare DIR   prints the figures of both against the truth

The truth, PyTorch's computation (torch.nn.functional.batch_norm on the bf16 tensor with float32
weight and bias, training mode, and autograd's backward) and the ulp measure are those of
java/core/src/test/python/make_half_golden.py. Both engines' backward takes the statistics its
own forward saved (float32); the truth takes the exact batch statistics.
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "java", "core", "src",
                                "test", "python"))
import make_half_golden as golden  # noqa: E402

SHAPE = (32, 64, 56, 56)
CASES = (("random", "random N(0,1)", 0.0, 1.0), ("offset", "offset 1000 + 0.01*N(0,1)", 1000.0, 0.01))


def save(t, path):
    t.contiguous().view(torch.int16 if t.dtype == torch.bfloat16 else t.dtype).numpy().tofile(path)


def load(path, dtype):
    raw = np.fromfile(path, dtype=np.int16 if dtype == torch.bfloat16 else np.float32)
    t = torch.from_numpy(raw)
    return (t.view(torch.bfloat16) if dtype == torch.bfloat16 else t)


def inputs(root):
    torch.manual_seed(golden.SEED + 1)  # as make_half_golden.figures(), draw for draw
    for name, _, offset, scale in CASES:
        x = (offset + scale * torch.randn(SHAPE)).to(torch.bfloat16)
        dout = torch.randn(SHAPE).to(torch.bfloat16)
        gamma, beta = torch.empty(SHAPE[1]).uniform_(0.5, 2.0), torch.empty(SHAPE[1]).uniform_(-1.0, 1.0)
        d = os.path.join(root, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "shape.txt"), "w") as f:
            f.write(" ".join(str(v) for v in SHAPE) + "\n")
        for t, file in ((x, "x.bf16"), (dout, "dout.bf16"), (gamma, "gamma.f32"), (beta, "beta.f32")):
            save(t, os.path.join(d, file))
    print("wrote the inputs of %s to %s" % (", ".join(c[0] for c in CASES), root))


def figures(engine, out, dinp, dgamma, dbeta, truth):
    t_out, t_dinp, t_dgamma, t_dbeta = truth
    bf16 = torch.bfloat16
    norm = max(float(t_dgamma.norm()), 1e-300)  # 0 when x is constant per channel
    rel = float((dgamma.double() - t_dgamma).norm()) / norm
    rel_max = float((dgamma.double() - t_dgamma).abs().max()) / max(float(t_dgamma.abs().max()), 1e-300)
    print("  %-8s out: max %.3g bf16 ulps; dinp: max %.3g ulps; dgamma relative error %.3g norm-wise, %.3g "
          "max|err|/max|dgamma| (absolute %.3g); dbeta %.3g norm-wise"
          % (engine, golden.max_ulps(bf16, out, t_out), golden.max_ulps(bf16, dinp, t_dinp), rel, rel_max,
             float((dgamma.double() - t_dgamma).abs().max()),
             float((dbeta.double() - t_dbeta).norm() / t_dbeta.norm())))


def compare(root):
    print("torch %s, shape %s NCHW, eps %g; errors against float64 on the same bf16 inputs"
          % (torch.__version__, SHAPE, golden.EPS))
    for name, label, _, _ in CASES:
        d = os.path.join(root, name)
        x = load(os.path.join(d, "x.bf16"), torch.bfloat16).reshape(SHAPE)
        dout = load(os.path.join(d, "dout.bf16"), torch.bfloat16).reshape(SHAPE)
        gamma, beta = load(os.path.join(d, "gamma.f32"), torch.float32), load(os.path.join(d, "beta.f32"), torch.float32)
        t_out, _, _, t_dinp, t_dgamma, t_dbeta = golden.truth(x.double(), dout.double(), gamma.double(), beta.double())
        truth = (t_out, t_dinp, t_dgamma, t_dbeta)
        print("%s: x constant per channel after rounding: %s" % (label, bool((x == x[:1, :, :1, :1]).all())))
        figures("PyTorch", *golden.peer(x, dout, gamma, beta), truth)
        if os.path.exists(os.path.join(d, "bnorm.out.bf16")):
            figures("bnorm", load(os.path.join(d, "bnorm.out.bf16"), torch.bfloat16).reshape(SHAPE),
                    load(os.path.join(d, "bnorm.dinp.bf16"), torch.bfloat16).reshape(SHAPE),
                    load(os.path.join(d, "bnorm.dgamma.f32"), torch.float32),
                    load(os.path.join(d, "bnorm.dbeta.f32"), torch.float32), truth)
        else:
            print("  bnorm    not run (no %s)" % os.path.join(d, "bnorm.out.bf16"))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("inputs", "compare"):
        sys.exit("usage: half_accuracy.py inputs|compare DIR")
    (inputs if sys.argv[1] == "inputs" else compare)(sys.argv[2])
