#!/usr/bin/python3
"""PyTorch's CPU batch norm (aten::native_batch_norm, aten::native_batch_norm_backward) on
bnorm's benchmark shapes.

Usage: /usr/bin/python3 pytorch_bn.py --shapes NC:32x64,NCHW:32x64x56x56,... [--threads 1]
                                      [--warmup 3] [--iterations 6] [--time-ms 200] [--dtype f32]
                                      [--bnorm path/to/libbnorm.so]
Writes CSV to stdout (comment lines start with '#'), the same format as bn_onednn:
  op,shape,calls,median_us,min_us,max_us,impl

What is timed, per shape and op (tensors created once beforehand):
  forwardTraining   native_batch_norm(x, weight, bias, running_mean, running_var, training=True,
                    momentum=0.1, eps=1e-5): out, save_mean, save_invstd, running stats updated
  forwardInference  the same with training=False (running statistics)
  backward          native_batch_norm_backward(..., train=True, output_mask=[True]*3)
Layouts: NC is an (N, C) tensor, NCHW a contiguous (N, C, H, W) tensor, NHWC the same tensor in
torch.channels_last memory format.
--dtype bf16 (or f16): x, dout and the outputs out and dinp in that dtype (the float32 data
rounded to it), weight, bias and the statistics float32, PyTorch's mixed-precision CPU path;
when PyTorch has no CPU kernel for the dtype (1.13: float16), the output says '# absent: ...'.

Allocation: the out= variants of these ops exist in the schema but have no CPU kernel in
PyTorch 1.13, so each call allocates its outputs. To keep page faults and mmap/munmap out of the
timing, glibc's malloc is told never to use mmap (MALLOC_MMAP_MAX_=0; MALLOC_MMAP_THRESHOLD_
cannot be raised above 32 MiB, smaller than the large shapes) and never to give memory back
(MALLOC_TRIM_THRESHOLD_): after the warm-up every output comes from memory already mapped. The
script re-executes itself with these variables when they are not set.

Timing, as for the JMH benchmarks: warm-up iterations, then iterations that each run calls back
to back for at least time-ms (at least one call) and record their mean; the median, min and max
of the iteration means are reported. Threads: torch.set_num_threads.
Check: after the first training call, save_mean and save_invstd of every channel are compared
with a two-pass double computation; a mismatch exits with status 1.

--bnorm: also times bnorm's C library (ctypes), called as KernelBench calls it, on the same input
tensors, iteration by iteration in turn with PyTorch (which of the two goes first swaps every
iteration), so that a slower or faster spell of a shared machine falls on both; its rows have
impl "bnorm <version> (alternated)", and its statistics pass the same check. bnorm writes into
outputs allocated once; each of its calls also pays ctypes' cost of a call from Python (about a
microsecond: it matters only for the smallest shapes). bnorm runs on --threads threads of its own
team.
"""
import ctypes
import re
import argparse
import math
import os
import sys
import time

MALLOC_ENV = {
    "MALLOC_MMAP_MAX_": "0",
    "MALLOC_MMAP_THRESHOLD_": str(32 * 1024 * 1024),
    "MALLOC_TRIM_THRESHOLD_": str(1 << 40),
}


def parse_shape(text):
    layout, _, dims = text.partition(":")
    d = [int(v) for v in dims.split("x")] if dims else []
    if layout not in ("NC", "NCHW", "NHWC") or len(d) != (2 if layout == "NC" else 4) or min(d) < 1:
        raise SystemExit("pytorch_bn: shape: expected NC:NxC, NCHW:NxCxHxW or NHWC:NxCxHxW, got " + text)
    return layout, d


def iteration(call, time_ms):
    """Calls back to back for at least time_ms (at least one call): their mean in us and count."""
    t0 = time.perf_counter_ns()
    k = 0
    while True:
        call()
        k += 1
        elapsed = time.perf_counter_ns() - t0
        if elapsed >= time_ms * 1e6:
            return elapsed / k / 1e3, k


def summary(means, calls):
    """The median, min and max of the iteration means, and the number of calls."""
    means = sorted(means)
    m = len(means)
    median = means[m // 2] if m % 2 else (means[m // 2 - 1] + means[m // 2]) / 2
    return median, means[0], means[-1], calls


def measure(call, warmup, iterations, time_ms):
    means, calls = [], 0
    for it in range(warmup + iterations):
        mean, k = iteration(call, time_ms)
        if it >= warmup:
            means.append(mean)
            calls += k
    return summary(means, calls)


def measure_pair(a, b, warmup, iterations, time_ms):
    """measure for two calls in turn: each iteration times a and b, a first in even iterations."""
    means, calls = ([], []), [0, 0]
    for it in range(warmup + iterations):
        order = (0, 1) if it % 2 == 0 else (1, 0)
        for who in order:
            mean, k = iteration((a, b)[who], time_ms)
            if it >= warmup:
                means[who].append(mean)
                calls[who] += k
    return summary(means[0], calls[0]), summary(means[1], calls[1])


class Bnorm:
    """bnorm's entry points through ctypes, with the flag and layout values read from bn.h."""

    def __init__(self, path):
        header = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "native", "include", "bn.h")
        with open(header) as f:
            text = f.read()
        self.k = {name: int(v, 16) for name, v in re.findall(r"#define (BN_\w+) (0x[0-9a-fA-F]+)u", text)}
        self.k.update({name: int(v) for name, v in re.findall(r"(BN_LAYOUT_\w+) = (\d+)", text)})
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            sys.exit(f"pytorch_bn: --bnorm: {e}")
        p, i64, d, u, i = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double, ctypes.c_uint, ctypes.c_int
        self.forward_training = lib.bn_forward_training
        self.forward_training.argtypes = [p] * 8 + [p, d, d, u, i, i64, i64, i64]
        self.forward_inference = lib.bn_forward_inference
        self.forward_inference.argtypes = [p] * 7 + [d, u, i, i64, i64, i64]
        self.backward = lib.bn_backward
        self.backward.argtypes = [p] * 10 + [u, u, i, i64, i64, i64]
        for f in (self.forward_training, self.forward_inference, self.backward):
            f.restype = i
        lib.bn_set_num_threads.argtypes = [i]
        lib.bn_set_num_threads.restype = i
        self.set_num_threads = lib.bn_set_num_threads
        lib.bn_version.restype = ctypes.c_char_p
        lib.bn_strerror.argtypes = [i]
        lib.bn_strerror.restype = ctypes.c_char_p
        self.strerror = lib.bn_strerror
        self.version = lib.bn_version().decode()
        self.impl = f"bnorm {self.version} (alternated)"


def check_stats(text, x, save_mean, save_invstd, eps):
    dims = [0] + list(range(2, x.dim()))
    xd = x.double()
    mean = xd.mean(dim=dims)
    var = xd.var(dim=dims, unbiased=False)
    m = x.numel() // x.shape[1]
    tol = 1e-5 * (1 + math.sqrt(m) / 32)
    rstd = 1 / (var + eps).sqrt()
    bad_mean = ((save_mean.double() - mean).abs() > tol * (1 + mean.abs())).nonzero()
    bad_rstd = ((save_invstd.double() - rstd).abs() > tol * rstd).nonzero()
    if len(bad_mean) or len(bad_rstd):
        sys.exit(f"pytorch_bn: {text}: save_mean/save_invstd differ from a double computation "
                 f"at channels {bad_mean.flatten()[:5].tolist()} / {bad_rstd.flatten()[:5].tolist()}")


def bnorm_calls(bn, text, layout, d, x, dout, weight, bias, eps, momentum):
    """bnorm's three calls on x and dout with KernelBench's flags, into outputs allocated here;
    after a first training call whose statistics pass check_stats."""
    import torch

    k = bn.k
    n, c = d[0], d[1]
    s = 1 if layout == "NC" else d[2] * d[3]
    lay = k["BN_LAYOUT_" + layout]
    data = {torch.float32: 0, torch.bfloat16: k["BN_DATA_BF16"], torch.float16: k["BN_DATA_F16"]}[x.dtype]
    out, dinp = torch.empty_like(x), torch.empty_like(dout)
    save_mean, save_rstd, dgamma, dbeta = (torch.empty(c) for _ in range(4))
    running_mean, running_var = torch.zeros(c), torch.ones(c)
    ptr = lambda t: t.data_ptr()  # noqa: E731
    train_flags = k["BN_USE_SCALE"] | k["BN_USE_SHIFT"] | k["BN_UPDATE_RUNNING"] | data
    infer_flags = k["BN_USE_SCALE"] | k["BN_USE_SHIFT"] | data
    mask = k["BN_DIFF_INP"] | k["BN_DIFF_SCALE"] | k["BN_DIFF_SHIFT"]
    train = (bn.forward_training, ptr(out), ptr(save_mean), ptr(save_rstd), ptr(running_mean), ptr(running_var),
             ptr(x), None, ptr(weight), ptr(bias), eps, momentum, train_flags, lay, n, c, s)
    infer = (bn.forward_inference, ptr(out), ptr(x), None, ptr(running_mean), ptr(running_var), ptr(weight),
             ptr(bias), eps, infer_flags, lay, n, c, s)
    back = (bn.backward, ptr(dinp), None, ptr(dgamma), ptr(dbeta), ptr(dout), None, ptr(x), ptr(weight),
            ptr(save_mean), ptr(save_rstd), k["BN_USE_SCALE"] | data, mask, lay, n, c, s)
    for f, *a in (train, infer, back):
        status = f(*a)
        if status != 0:
            sys.exit(f"pytorch_bn: {text}: bnorm {f.__name__}: {bn.strerror(status).decode()}")
        if f is bn.forward_training:
            check_stats(text + " (bnorm)", x, save_mean, save_rstd, eps)
    # the calls hold the outputs' addresses only: each closure keeps the tensors alive too
    buffers = (out, dinp, save_mean, save_rstd, dgamma, dbeta, running_mean, running_var)
    return {op: (lambda f=f, a=a, keep=buffers: f(*a))
            for op, (f, *a) in zip(("forwardTraining", "forwardInference", "backward"), (train, infer, back))}


def main():
    if any(os.environ.get(k) != v for k, v in MALLOC_ENV.items()):
        os.execve(sys.executable, [sys.executable] + sys.argv, {**os.environ, **MALLOC_ENV})
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--time-ms", type=float, default=200)
    parser.add_argument("--dtype", choices=("f32", "bf16", "f16"), default="f32")
    parser.add_argument("--bnorm", help="libbnorm to time in turn with PyTorch")
    args = parser.parse_args()

    import torch

    dtype = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[args.dtype]
    if dtype != torch.float32:
        try:
            torch.ops.aten.native_batch_norm(torch.ones(2, 1, dtype=dtype), torch.ones(1), torch.zeros(1),
                                             None, None, True, 0.1, 1e-5)
        except RuntimeError as e:
            print(f"# absent: PyTorch {torch.__version__} has no CPU batch norm for {dtype}: "
                  + str(e).splitlines()[0])
            return

    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    aten = torch.ops.aten
    eps, momentum = 1e-5, 0.1
    print(f"# peer: PyTorch {torch.__version__} (aten::native_batch_norm, CPU)")
    print(f"# threads: {torch.get_num_threads()}")
    if dtype != torch.float32:
        print(f"# dtype: {args.dtype} x, out, dout, dinp (float32 data rounded to it); float32 weight, bias, statistics")
    print(f"# timing: {args.warmup} warm-up + {args.iterations} iterations of >= {args.time_ms:g} ms; "
          "median, min, max of the iteration means")
    print("# allocation: outputs allocated by each call (no CPU out= kernel in this version); "
          + " ".join(f"{k}={v}" for k, v in MALLOC_ENV.items()))
    bn = Bnorm(args.bnorm) if args.bnorm else None
    if bn is not None:
        print(f"# bnorm: {bn.version} ({args.bnorm}), {bn.set_num_threads(args.threads)} thread(s), "
              "alternated with PyTorch iteration by iteration")
    print("op,shape,calls,median_us,min_us,max_us,impl")
    for text in args.shapes.split(","):
        layout, d = parse_shape(text)
        c = d[1]
        x = torch.randn(*d).to(dtype)
        dout = torch.randn(*d).to(dtype)
        if layout == "NHWC":
            x = x.contiguous(memory_format=torch.channels_last)
            dout = dout.contiguous(memory_format=torch.channels_last)
        weight = torch.rand(c) + 0.5
        bias = torch.rand(c) - 0.5
        running_mean = torch.zeros(c)
        running_var = torch.ones(c)
        out, save_mean, save_invstd = aten.native_batch_norm(x, weight, bias, running_mean, running_var,
                                                             True, momentum, eps)
        check_stats(text, x, save_mean, save_invstd, eps)
        if layout == "NHWC" and not out.is_contiguous(memory_format=torch.channels_last):
            sys.exit(f"pytorch_bn: {text}: out is not channels_last")
        if out.dtype != dtype:
            sys.exit(f"pytorch_bn: {text}: out is {out.dtype}, expected {dtype}")
        runs = {
            "forwardTraining": (lambda: aten.native_batch_norm(x, weight, bias, running_mean, running_var,
                                                               True, momentum, eps), "aten::native_batch_norm"),
            "forwardInference": (lambda: aten.native_batch_norm(x, weight, bias, running_mean, running_var,
                                                                False, momentum, eps), "aten::native_batch_norm"),
            "backward": (lambda: aten.native_batch_norm_backward(dout, x, weight, running_mean, running_var,
                                                                 save_mean, save_invstd, True, eps,
                                                                 [True, True, True]),
                         "aten::native_batch_norm_backward"),
        }
        bn_runs = bnorm_calls(bn, text, layout, d, x, dout, weight, bias, eps, momentum) if bn else {}
        for op, (call, impl) in runs.items():
            if op in bn_runs:
                timings = measure_pair(call, bn_runs[op], args.warmup, args.iterations, args.time_ms)
                impls = (impl, bn.impl)
            else:
                timings, impls = (measure(call, args.warmup, args.iterations, args.time_ms),), (impl,)
            for (median, lo, hi, calls), who in zip(timings, impls):
                print(f"{op},{text},{calls},{median:.3f},{lo:.3f},{hi:.3f},{who}", flush=True)


if __name__ == "__main__":
    main()
