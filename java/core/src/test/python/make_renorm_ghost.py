#!/usr/bin/python3
"""Fixtures for bnorm's Batch Renormalization and Ghost Batch Normalization, written from the
papers' formulas with PyTorch autograd in float64 (independent of bnorm's code):

  Batch Renorm (Ioffe 2017): per channel over the M = N*S values of the batch,
    mean_B, var_B biased, sigma_B = sqrt(var_B + eps), sigma = sqrt(running_var + eps),
    r = clamp(sigma_B/sigma, 1/rmax, rmax), d = clamp((mean_B - running_mean)/sigma, -dmax, dmax),
    r and d detached (constants for backward), out = gamma*((x - mean_B)/sigma_B*r + d) + beta,
    running_mean += f*(mean_B - running_mean), running_var += f*(var_B*M/(M-1) - running_var);
    rmax, dmax from the schedule: 1 and 0 before `warmup` steps, then linear over rmax_steps and
    dmax_steps to rmax and dmax; evaluation normalizes with the running statistics.
  Ghost BN (Hoffer 2017): samples [0, G), [G, 2G), ... normalized each with its own statistics
    (plain BN formulas), a last range of one sample joined to the one before; the running
    statistics updated once per virtual batch in order; evaluation as plain BN.

Usage (from the repository root, with Debian's python3-torch):
    /usr/bin/python3 java/core/src/test/python/make_renorm_ghost.py [outdir]
        writes renorm_ghost.txt (outdir defaults to java/core/src/test/resources/nn)

renorm_ghost.txt: '#' comments, then lines 'key value...'. Per case '<case>.kind' (renorm,
ghost), '<case>.format' (NC, NCL, NCHW; values are in that format's order), '<case>.shape',
options, 'init.weight', 'init.bias', then per training step K: '<case>.stepK.inp', '.dout',
'.out', '.dinp', '.dgamma', '.dbeta' (gradients of that step alone), '.running_mean',
'.running_var' (after the step); then '<case>.eval.inp' and '<case>.eval.out'. Inputs, weights and
running statistics are float32 values; expected results are float64 rounded to float32.
Floats are Python repr() of float32 values, which Java reads exactly.
"""
import os
import sys

import torch

SEED = 20261202
EPS = 1e-5
CASES = [
    # name, kind, format, shape (N, C, ...), options, steps
    ("renorm_ncl", "renorm", "NCL", (4, 3, 5),
     dict(momentum=0.1, rmax=3.0, dmax=5.0, warmup=1, rmax_steps=2, dmax_steps=4), 4),
    ("renorm_nc_clipped", "renorm", "NC", (6, 4), dict(momentum=0.3, rmax=1.2, dmax=0.2, warmup=0,
                                                       rmax_steps=0, dmax_steps=0), 3),
    ("ghost_nchw", "ghost", "NCHW", (7, 2, 2, 2), dict(momentum=0.1, virtual_batch_size=3), 2),
    ("ghost_nc", "ghost", "NC", (10, 3), dict(momentum=0.2, virtual_batch_size=4), 2),
]


def f32(t):
    return t.to(torch.float32)


def line(key, value):
    if isinstance(value, torch.Tensor):
        value = " ".join(repr(float(v)) for v in f32(value).reshape(-1).tolist())
    elif isinstance(value, (tuple, list)):
        value = " ".join(str(v) for v in value)
    return "%s %s\n" % (key, value)


def channel_view(t, x):
    """The (C,) tensor t shaped to broadcast over x's channel dimension 1."""
    return t.reshape([1, x.shape[1]] + [1] * (x.dim() - 2))


def batch_stats(x):
    dims = [i for i in range(x.dim()) if i != 1]
    m = x.numel() // x.shape[1]
    mean = x.mean(dims)
    var = ((x - channel_view(mean, x)) ** 2).sum(dims) / m
    return mean, var, m


def limit(base, final, t, warmup, steps):
    if t < warmup:
        return base
    return final if steps == 0 else base + (final - base) * min(1.0, (t - warmup) / steps)


def update(running_mean, running_var, mean, var, m, f):
    running_mean.copy_(f32((1 - f) * running_mean.double() + f * mean.detach()))
    running_var.copy_(f32((1 - f) * running_var.double() + f * var.detach() * m / (m - 1)))


def renorm_forward(x, gamma, beta, running_mean, running_var, f, rmax, dmax):
    mean, var, m = batch_stats(x)
    sigma_b = torch.sqrt(var + EPS)
    sigma = torch.sqrt(running_var.double() + EPS)
    r = torch.clamp(sigma_b.detach() / sigma, 1 / rmax, rmax)
    d = torch.clamp((mean.detach() - running_mean.double()) / sigma, -dmax, dmax)
    xhat = (x - channel_view(mean, x)) / channel_view(sigma_b, x)
    out = channel_view(gamma, x) * (xhat * channel_view(r, x) + channel_view(d, x)) + channel_view(beta, x)
    update(running_mean, running_var, mean, var, m, f)
    return out


def ghost_bounds(n, g):
    bounds = list(range(0, n, g)) + [n]
    if n - bounds[-2] == 1 and len(bounds) > 2:
        del bounds[-2]
    return bounds


def ghost_forward(x, gamma, beta, running_mean, running_var, f, g):
    parts = []
    bounds = ghost_bounds(x.shape[0], g)
    for a, b in zip(bounds, bounds[1:]):
        xs = x[a:b]
        mean, var, m = batch_stats(xs)
        xhat = (xs - channel_view(mean, x)) / channel_view(torch.sqrt(var + EPS), x)
        parts.append(channel_view(gamma, x) * xhat + channel_view(beta, x))
        update(running_mean, running_var, mean, var, m, f)
    return torch.cat(parts)


def eval_forward(x, gamma, beta, running_mean, running_var):
    xhat = (x - channel_view(running_mean.double(), x)) / channel_view(torch.sqrt(running_var.double() + EPS), x)
    return channel_view(gamma, x) * xhat + channel_view(beta, x)


def generate(outdir):
    os.makedirs(outdir, exist_ok=True)
    torch.manual_seed(SEED)
    lines = ["# generated by make_renorm_ghost.py (seed %d) with torch %s; do not edit\n" % (SEED, torch.__version__),
             line("eps", repr(EPS))]
    for name, kind, fmt, shape, options, steps in CASES:
        c = shape[1]
        lines += [line(name + ".kind", kind), line(name + ".format", fmt), line(name + ".shape", shape),
                  line(name + ".steps", steps)]
        lines += [line(name + "." + k, v) for k, v in options.items()]
        gamma0 = f32(torch.rand(c) + 0.5)
        beta0 = f32(torch.randn(c))
        lines += [line(name + ".init.weight", gamma0), line(name + ".init.bias", beta0)]
        running_mean = torch.zeros(c)
        running_var = torch.ones(c)
        for t in range(steps):
            x = f32(torch.randn(shape) * (1 + t) + 2 - t)  # batches whose statistics move
            dout = f32(torch.randn(shape))
            xd = x.double().requires_grad_()
            gamma = gamma0.double().requires_grad_()
            beta = beta0.double().requires_grad_()
            if kind == "renorm":
                rmax = limit(1.0, options["rmax"], t, options["warmup"], options["rmax_steps"])
                dmax = limit(0.0, options["dmax"], t, options["warmup"], options["dmax_steps"])
                out = renorm_forward(xd, gamma, beta, running_mean, running_var, options["momentum"], rmax, dmax)
            else:
                out = ghost_forward(xd, gamma, beta, running_mean, running_var, options["momentum"],
                                    options["virtual_batch_size"])
            (out * dout.double()).sum().backward()
            step = "%s.step%d." % (name, t)
            lines += [line(step + "inp", x), line(step + "dout", dout), line(step + "out", out.detach()),
                      line(step + "dinp", xd.grad), line(step + "dgamma", gamma.grad), line(step + "dbeta", beta.grad),
                      line(step + "running_mean", running_mean), line(step + "running_var", running_var)]
        x = f32(torch.randn(shape))
        lines += [line(name + ".eval.inp", x),
                  line(name + ".eval.out", eval_forward(x.double(), gamma0.double(), beta0.double(),
                                                        running_mean, running_var))]
    path = os.path.join(outdir, "renorm_ghost.txt")
    with open(path, "w") as out:
        out.writelines(lines)
    print("wrote", path)


if __name__ == "__main__":
    generate(sys.argv[1] if len(sys.argv) > 1 else "java/core/src/test/resources/nn")
