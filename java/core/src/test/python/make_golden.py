#!/usr/bin/python3
"""Golden values for bnorm's BatchNormKernels, computed with PyTorch.

Usage (from the repository root, with Debian's python3-torch):
    /usr/bin/python3 java/core/src/test/python/make_golden.py [outdir]
outdir defaults to java/core/src/test/resources/golden.

Every input (x, gamma, beta, initial running stats, dout) is drawn in float32 and then computed
with in float64, so the expected values are PyTorch's semantics without float32 rounding noise.

Per case, with torch.nn.BatchNorm1d/2d in train() mode, `steps` times:
    out = bn(x); save_mean, save_rstd from torch.native_batch_norm; running stats after the step;
    dinp, dgamma, dbeta from autograd of sum(out * dout).
then in eval() mode: out = bn(x) with the running stats, and its backward (global statistics).

File format (one file per case, read by GoldenCases.java): '#' comments, then lines
    key value...
with every tensor flattened in the case's memory layout (NC, NCHW, NHWC; NHWC data is the NCHW
tensor permuted to channels-last), per-channel tensors as (C,). Numbers are Python repr() of
float64, which Java's Double.parseDouble reads exactly.
"""
import os
import sys

import torch

SEED = 20240611


def f32(t):
    """A float64 tensor whose values are representable in float32."""
    return t.float().double()


def to_layout(t, layout):
    """Flattens an (N, C, *spatial) tensor in the given memory layout."""
    if layout == "NHWC":
        t = t.permute(0, *range(2, t.dim()), 1)
    return t.contiguous().reshape(-1)


def line(key, value):
    if isinstance(value, torch.Tensor):
        value = " ".join(repr(float(v)) for v in value.reshape(-1).tolist())
    return "%s %s\n" % (key, value)


def make_case(name, layout, shape, affine, momentum, eps, steps=3, init_running=False,
              scale=1.0, offset=0.0):
    n, c = shape[0], shape[1]
    s = 1
    for d in shape[2:]:
        s *= d
    module = torch.nn.BatchNorm1d if len(shape) <= 3 else torch.nn.BatchNorm2d
    bn = module(c, eps=eps, momentum=momentum, affine=affine).double()
    with torch.no_grad():
        if affine:
            bn.weight.copy_(f32(1.0 + 0.5 * torch.randn(c)))
            bn.bias.copy_(f32(0.5 * torch.randn(c)))
        if init_running:
            bn.running_mean.copy_(f32(torch.randn(c)))
            bn.running_var.copy_(f32(0.5 + torch.rand(c)))

    lines = [
        "# case %s: torch.nn.%s(%d, eps=%r, momentum=%r, affine=%r), input %s in layout %s\n"
        % (name, module.__name__, c, eps, momentum, affine, tuple(shape), layout),
        line("layout", layout), line("n", n), line("c", c), line("s", s),
        line("eps", repr(eps)), line("affine", int(affine)), line("steps", steps),
    ]
    if affine:
        lines += [line("gamma", bn.weight.detach()), line("beta", bn.bias.detach())]
    lines += [line("running_mean0", bn.running_mean), line("running_var0", bn.running_var)]

    def backward(prefix, x, out):
        dout = f32(torch.randn(shape))
        for p in bn.parameters():
            p.grad = None
        (out * dout).sum().backward()
        result = [line(prefix + ".dout", to_layout(dout, layout)),
                  line(prefix + ".dinp", to_layout(x.grad, layout))]
        if affine:
            result += [line(prefix + ".dgamma", bn.weight.grad), line(prefix + ".dbeta", bn.bias.grad)]
        return result

    bn.train()
    for k in range(1, steps + 1):
        x = f32(offset + scale * torch.randn(shape)).requires_grad_()
        out = bn(x)
        w = bn.weight.detach() if affine else None
        b = bn.bias.detach() if affine else None
        check, save_mean, save_rstd = torch.native_batch_norm(x.detach(), w, b, None, None, True, 0.0, eps)
        assert torch.allclose(check, out.detach(), rtol=1e-12, atol=1e-12)
        factor = momentum if momentum is not None else 1.0 / int(bn.num_batches_tracked)
        p = "step%d" % k
        lines += [
            line(p + ".momentum", repr(factor)),
            line(p + ".inp", to_layout(x.detach(), layout)),
            line(p + ".out", to_layout(out.detach(), layout)),
            line(p + ".save_mean", save_mean),
            line(p + ".save_rstd", save_rstd),
            line(p + ".running_mean", bn.running_mean),
            line(p + ".running_var", bn.running_var),
        ]
        lines += backward(p, x, out)

    bn.eval()
    x = f32(offset + scale * torch.randn(shape)).requires_grad_()
    out = bn(x)
    lines += [
        line("eval.mean", bn.running_mean),
        line("eval.var", bn.running_var),
        line("eval.rstd", 1.0 / torch.sqrt(bn.running_var + eps)),
        line("eval.inp", to_layout(x.detach(), layout)),
        line("eval.out", to_layout(out.detach(), layout)),
    ]
    lines += backward("eval", x, out)
    return name, lines


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "resources", "golden")
    os.makedirs(outdir, exist_ok=True)
    torch.manual_seed(SEED)
    cases = [
        make_case("bn1d_nc_affine_m01", "NC", (8, 5), True, 0.1, 1e-5),
        make_case("bn1d_nc_n2_plain_cumulative", "NC", (2, 3), False, None, 1e-5),
        make_case("bn1d_ncl_affine_cumulative", "NCHW", (4, 3, 7), True, None, 1e-5, init_running=True),
        make_case("bn1d_nlc_plain_m01", "NHWC", (3, 4, 5), False, 0.1, 1e-5, scale=2.0, offset=-3.0),
        make_case("bn2d_nchw_affine_m01", "NCHW", (3, 4, 5, 3), True, 0.1, 1e-3, scale=3.0, offset=5.0),
        make_case("bn2d_nhwc_affine_cumulative", "NHWC", (2, 6, 3, 5), True, None, 1e-5),
        make_case("bn2d_nchw_n1_plain_m01", "NCHW", (1, 3, 4, 4), False, 0.1, 1e-5),
        make_case("bn2d_nhwc_plain_m03", "NHWC", (5, 2, 2, 3), False, 0.3, 1e-5, init_running=True),
    ]
    header = "# generated by make_golden.py (seed %d) with torch %s; do not edit\n" % (SEED, torch.__version__)
    for name, lines in cases:
        with open(os.path.join(outdir, name + ".txt"), "w") as f:
            f.write(header)
            f.writelines(lines)
    with open(os.path.join(outdir, "cases.txt"), "w") as f:
        f.write(header)
        f.writelines(name + "\n" for name, _ in cases)
    print("wrote %d cases to %s (torch %s)" % (len(cases), os.path.normpath(outdir), torch.__version__))


if __name__ == "__main__":
    main()
