#!/usr/bin/python3
"""PyTorch's CPU batch norm (aten::native_batch_norm, aten::native_batch_norm_backward) on
bnorm's benchmark shapes.

Usage: /usr/bin/python3 pytorch_bn.py --shapes NC:32x64,NCHW:32x64x56x56,... [--threads 1]
                                      [--warmup 3] [--iterations 6] [--time-ms 200] [--dtype f32]
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
"""
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


def measure(call, warmup, iterations, time_ms):
    means, calls = [], 0
    for it in range(warmup + iterations):
        t0 = time.perf_counter_ns()
        k = 0
        while True:
            call()
            k += 1
            elapsed = time.perf_counter_ns() - t0
            if elapsed >= time_ms * 1e6:
                break
        if it >= warmup:
            means.append(elapsed / k / 1e3)
            calls += k
    means.sort()
    m = len(means)
    median = means[m // 2] if m % 2 else (means[m // 2 - 1] + means[m // 2]) / 2
    return median, means[0], means[-1], calls


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
        for op, (call, impl) in runs.items():
            median, lo, hi, calls = measure(call, args.warmup, args.iterations, args.time_ms)
            print(f"{op},{text},{calls},{median:.3f},{lo:.3f},{hi:.3f},{impl}", flush=True)


if __name__ == "__main__":
    main()
