#!/usr/bin/python3
"""Golden values for batch norm with 16-bit activations: PyTorch's bf16 batch norm on CPU as the
peer, and float64 on the same rounded inputs as the truth.

Usage (from the repository root, with Debian's python3-torch 1.13, not another python3 on PATH):
    /usr/bin/python3 java/core/src/test/python/make_half_golden.py [outdir]
        writes one file per case and cases.txt (outdir defaults to
        java/core/src/test/resources/golden/half)
    /usr/bin/python3 java/core/src/test/python/make_half_golden.py --figures
        prints PyTorch's accuracy on the large shapes of issue 20 (N=32, C=64, H=W=56), drawn
        here with the same seed every time (nothing written)

Per case: x and dout are drawn in float64 and rounded to the case's dtype (bf16 or f16); gamma
and beta are float32. The truth is float64 on those rounded values: batch statistics (two
passes, biased variance), out = gamma*(x - mean)*rstd + beta, and the full backward (dbeta =
sum(dout), dgamma = sum(dout*xhat), dinp = gamma*rstd*(dout - dbeta/M - xhat*dgamma/M)); and
saved.*, the same backward given the batch mean and rstd rounded to float32, the statistics a
forward saves and bn_backward takes (far from zero mean they move dinp and dgamma). The
peer is torch.nn.functional.batch_norm in training mode on the bf16 tensor with float32 weight
and bias (PyTorch's mixed-precision CPU path; out and dinp bf16, dgamma and dbeta float32, by
autograd of sum(out*dout)). PyTorch 1.13 has no float16 batch norm on CPU: f16 cases carry the
truth only.

File format (read by GoldenCases.java): '#' comments, then 'key value...' lines. Activations are
flattened in the case's layout (NHWC: the NCHW tensor permuted to channels-last) as the hex bit
patterns of the 16-bit elements (inp, dout, torch.out, torch.dinp); all other numbers are
Python repr() of float64 (truth.*) or of float32 values (gamma, beta, torch.dgamma,
torch.dbeta), read exactly by Java's Double.parseDouble.
"""
import math
import os
import sys

import torch

SEED = 20251202
EPS = 1e-5


def bits(t):
    """The 16-bit patterns of a bf16/f16 tensor, as 4-digit hex."""
    return " ".join("%04x" % (v & 0xffff) for v in t.contiguous().view(torch.int16).reshape(-1).tolist())


def numbers(t):
    return " ".join(repr(float(v)) for v in t.reshape(-1).tolist())


def ulp(dtype, v):
    """The spacing of dtype's values at each element of the float64 tensor v."""
    mant, emin = (7, -126) if dtype == torch.bfloat16 else (10, -14)
    _, e = torch.frexp(v.abs())  # |v| = m * 2^e with m in [0.5, 1): the exponent of v is e - 1
    e = torch.where(v == 0, torch.full_like(e, emin), torch.clamp(e - 1, min=emin))
    return torch.pow(2.0, (e - mant).double())


def truth(x, dout, gamma, beta, stats=None):
    """float64 batch norm over (N, H, W) of NCHW (or (N,) of NC) tensors: out, mean, rstd, dinp, dgamma, dbeta.
    With stats = (mean, rstd) the backward uses those instead of the batch's own."""
    dims = [0] + list(range(2, x.dim()))
    shape = [1, -1] + [1] * (x.dim() - 2)
    m = x.numel() // x.shape[1]
    mean = x.sum(dims) / m
    var = ((x - mean.reshape(shape)) ** 2).sum(dims) / m
    rstd = 1 / torch.sqrt(var + EPS)
    if stats is not None:
        mean, rstd = stats
    xhat = (x - mean.reshape(shape)) * rstd.reshape(shape)
    out = gamma.reshape(shape) * xhat + beta.reshape(shape)
    dbeta = dout.sum(dims)
    dgamma = (dout * xhat).sum(dims)
    dinp = (gamma * rstd).reshape(shape) * (dout - dbeta.reshape(shape) / m - xhat * dgamma.reshape(shape) / m)
    return out, mean, rstd, dinp, dgamma, dbeta


def peer(x, dout, gamma, beta):
    """PyTorch's bf16 batch norm (training) and its backward: out, dinp (bf16), dgamma, dbeta (float32)."""
    xi = x.clone().requires_grad_(True)
    g = gamma.clone().requires_grad_(True)
    b = beta.clone().requires_grad_(True)
    out = torch.nn.functional.batch_norm(xi, None, None, g, b, training=True, eps=EPS)
    out.backward(dout)
    return out.detach(), xi.grad, g.grad, b.grad


# name, dtype, layout, shape (N, C, H, W) or (N, C), x = offset + scale*N(0,1)
CASES = [
    ("bf16_offset_literal", torch.bfloat16, "NCHW", (8, 4, 6, 6), 1000.0, 0.01),
    ("bf16_offset_spread", torch.bfloat16, "NCHW", (8, 4, 6, 6), 1000.0, 8.0),
    ("bf16_nchw", torch.bfloat16, "NCHW", (4, 3, 7, 5), 0.0, 1.0),
    ("bf16_nhwc", torch.bfloat16, "NHWC", (3, 6, 4, 4), 2.0, 3.0),
    ("bf16_nc", torch.bfloat16, "NC", (64, 5), -1.0, 0.5),
    ("f16_nchw", torch.float16, "NCHW", (4, 3, 7, 5), 0.0, 1.0),
    ("f16_offset_spread", torch.float16, "NCHW", (8, 4, 6, 6), 100.0, 0.1),
]


def in_layout(t, layout):
    return t.permute(0, 2, 3, 1).contiguous() if layout == "NHWC" else t


def max_ulps(dtype, got, want):
    return float(((got.double() - want).abs() / ulp(dtype, want)).max())


def generate(outdir):
    os.makedirs(outdir, exist_ok=True)
    torch.manual_seed(SEED)
    names = []
    for name, dtype, layout, shape, offset, scale in CASES:
        n, c = shape[0], shape[1]
        s = shape[2] * shape[3] if len(shape) == 4 else 1
        x = (offset + scale * torch.randn(shape, dtype=torch.float64)).to(dtype)
        dout = torch.randn(shape, dtype=torch.float64).to(dtype)
        gamma = torch.empty(c).uniform_(0.5, 2.0)
        beta = torch.empty(c).uniform_(-1.0, 1.0)
        t_out, t_mean, t_rstd, t_dinp, t_dgamma, t_dbeta = truth(x.double(), dout.double(), gamma.double(),
                                                                 beta.double())
        # the backward given the float32 statistics that a forward saves (bn_backward's inputs)
        saved = (t_mean.float().double(), t_rstd.float().double())
        _, _, _, s_dinp, s_dgamma, s_dbeta = truth(x.double(), dout.double(), gamma.double(), beta.double(), saved)
        lines = ["dtype %s\n" % ("BF16" if dtype == torch.bfloat16 else "F16"), "layout %s\n" % layout,
                 "n %d\n" % n, "c %d\n" % c, "s %d\n" % s, "eps %r\n" % EPS,
                 "inp %s\n" % bits(in_layout(x, layout)), "dout %s\n" % bits(in_layout(dout, layout)),
                 "gamma %s\n" % numbers(gamma), "beta %s\n" % numbers(beta),
                 "truth.out %s\n" % numbers(in_layout(t_out, layout)), "truth.mean %s\n" % numbers(t_mean),
                 "truth.rstd %s\n" % numbers(t_rstd), "truth.dinp %s\n" % numbers(in_layout(t_dinp, layout)),
                 "truth.dgamma %s\n" % numbers(t_dgamma), "truth.dbeta %s\n" % numbers(t_dbeta),
                 "saved.dinp %s\n" % numbers(in_layout(s_dinp, layout)), "saved.dgamma %s\n" % numbers(s_dgamma),
                 "saved.dbeta %s\n" % numbers(s_dbeta)]
        comments = []
        if dtype == torch.bfloat16:
            p_out, p_dinp, p_dgamma, p_dbeta = peer(x, dout, gamma, beta)
            lines += ["torch.out %s\n" % bits(in_layout(p_out, layout)),
                      "torch.dinp %s\n" % bits(in_layout(p_dinp, layout)),
                      "torch.dgamma %s\n" % numbers(p_dgamma), "torch.dbeta %s\n" % numbers(p_dbeta)]
            err = float((p_dgamma.double() - t_dgamma).norm())
            dgamma = ("%.3g (relative, norm-wise)" % (err / float(t_dgamma.norm())) if float(t_dgamma.norm()) > 0
                      else "%.3g (absolute, norm-wise; the truth is 0)" % err)
            comments.append("# PyTorch vs truth: out %.3g ulps, dinp %.3g ulps (max), dgamma %s\n"
                            % (max_ulps(dtype, p_out, t_out), max_ulps(dtype, p_dinp, t_dinp), dgamma))
        with open(os.path.join(outdir, name + ".txt"), "w") as f:
            f.write("# generated by make_half_golden.py (seed %d) with torch %s; do not edit\n"
                    % (SEED, torch.__version__))
            f.write("# x = %r + %r*N(0,1) rounded to %s, shape %s %s\n" % (offset, scale, dtype, shape, layout))
            f.writelines(comments)
            f.writelines(lines)
        names.append(name)
    with open(os.path.join(outdir, "cases.txt"), "w") as f:
        f.write("# the cases of make_half_golden.py, one per line\n")
        f.writelines(n + "\n" for n in names)
    print("wrote %d cases to %s" % (len(names), os.path.normpath(outdir)))


def figures():
    """PyTorch's bf16 accuracy on N=32, C=64, H=W=56 against float64 on the same rounded inputs."""
    torch.manual_seed(SEED + 1)
    shape = (32, 64, 56, 56)
    print("torch %s, %d threads, shape %s, eps %g" % (torch.__version__, torch.get_num_threads(), shape, EPS))
    for label, offset, scale in (("random N(0,1)", 0.0, 1.0), ("offset 1000 + 0.01*N(0,1)", 1000.0, 0.01)):
        x = (offset + scale * torch.randn(shape)).to(torch.bfloat16)
        dout = torch.randn(shape).to(torch.bfloat16)
        gamma, beta = torch.empty(64).uniform_(0.5, 2.0), torch.empty(64).uniform_(-1.0, 1.0)
        t_out, _, _, t_dinp, t_dgamma, t_dbeta = truth(x.double(), dout.double(), gamma.double(), beta.double())
        p_out, p_dinp, p_dgamma, p_dbeta = peer(x, dout, gamma, beta)
        scale = max(float(t_dgamma.norm()), 1e-300)  # 0 when x is constant per channel
        rel = float((p_dgamma.double() - t_dgamma).norm()) / scale
        rel_max = float((p_dgamma.double() - t_dgamma).abs().max()) / max(float(t_dgamma.abs().max()), 1e-300)
        f32 = float((t_dgamma.float().double() - t_dgamma).norm() / max(float(t_dgamma.norm()), 1e-300))
        print("%s: x constant per channel after rounding: %s" % (label, bool((x == x.reshape(-1)[0]).all())))
        print("  PyTorch out: max %.3g bf16 ulps from the truth; dinp: max %.3g ulps"
              % (max_ulps(torch.bfloat16, p_out, t_out), max_ulps(torch.bfloat16, p_dinp, t_dinp)))
        print("  PyTorch dgamma relative error: %.3g norm-wise, %.3g max|err|/max|dgamma|; dbeta %.3g norm-wise"
              % (rel, rel_max, float((p_dbeta.double() - t_dbeta).norm() / t_dbeta.norm())))
        print("  the float64 truth rounded to float32 (what the oracle returns): dgamma %.3g norm-wise" % f32)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--figures":
        figures()
    else:
        here = os.path.dirname(os.path.abspath(__file__))
        generate(sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "resources", "golden", "half"))
