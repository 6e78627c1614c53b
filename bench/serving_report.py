#!/usr/bin/python3
"""Tables of bench/run-serving from JMH's JSON: python3 serving_report.py RAWDIR "LOAD..." > serving.md"""
import json
import os
import re
import subprocess
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return []


def machine():
    model, mhz, flags = "?", "?", ""
    with open("/proc/cpuinfo") as f:
        for l in f:
            if l.startswith("model name") and model == "?":
                model = l.split(":", 1)[1].strip()
            if l.startswith("cpu MHz") and mhz == "?":
                mhz = l.split(":", 1)[1].strip()
            if l.startswith("flags") and not flags:
                flags = l
    return model, float(mhz) if mhz != "?" else 0.0, "avx512f" in flags, os.cpu_count()


def main():
    raw, loads = sys.argv[1], sys.argv[2]
    model, mhz, avx512, cpus = machine()
    lanes = 16 if avx512 else 8
    peak = mhz / 1000 * 2 * lanes * 2  # GFLOP/s per core: GHz x 2 FMA units x lanes x 2 flops
    print("# Serving benchmarks (bench/run-serving)\n")
    print("Machine: %s, %d CPUs, %.0f MHz (as reported; no turbo assumed), %s; load average before/after "
          "(1, 5, 15 min): %s. Single-precision FMA peak per core = %.2f GHz x 2 FMA units x %d lanes x 2 "
          "= %.0f GFLOP/s.\n" % (model, cpus, mhz, "AVX-512" if avx512 else "AVX2", loads, mhz / 1000, lanes, peak))
    rows = {}
    for threads in (1, 8):
        for r in load(os.path.join(raw, "serving-%d.json" % threads)):
            p = r["params"]
            m = r["primaryMetric"]
            pct = m.get("scorePercentiles", {})
            rows[(p["model"], int(p["batch"]), threads, p["impl"])] = (
                pct.get("50.0"), pct.get("99.0"), threads * 1e6 / m["score"] if m["score"] else None)
    print("## Latency and throughput per call (JMH sample time; µs; calls/s = callers / mean)\n")
    print("| model | batch | callers | bnorm serve p50 / p99 | ONNX Runtime p50 / p99 | bnorm Module API p50 / p99 "
          "| serve calls/s | ORT calls/s | Module calls/s | serve / ORT p50 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

    def cell(k):
        v = rows.get(k)
        return "absent" if v is None else "%.2f / %.2f" % (v[0], v[1])

    def rate(k):
        v = rows.get(k)
        return "absent" if v is None else "%.0f" % v[2]

    for mdl in ("small", "wide"):
        for batch in (1, 8, 64):
            for threads in (1, 8):
                s, o = rows.get((mdl, batch, threads, "serve")), rows.get((mdl, batch, threads, "ort"))
                ratio = "%.2fx" % (s[0] / o[0]) if s and o else "-"
                print("| %s | %d | %d | %s | %s | %s | %s | %s | %s | %s |" % (
                    mdl, batch, threads, cell((mdl, batch, threads, "serve")), cell((mdl, batch, threads, "ort")),
                    cell((mdl, batch, threads, "module")), rate((mdl, batch, threads, "serve")),
                    rate((mdl, batch, threads, "ort")), rate((mdl, batch, threads, "module")), ratio))
    print("\n## Linear kernels (one thread) and the demo's training step (µs, mean)\n")
    print("| benchmark | shape | native | java | native GFLOP/s (% of peak) | speed-up |")
    print("|---|---|---:|---:|---:|---:|")
    res = {}
    for r in load(os.path.join(raw, "linear.json")):
        name = r["benchmark"].split(".", 3)[-1]
        p = r.get("params", {})
        res[(name, p.get("shape", ""), p.get("impl", ""))] = r["primaryMetric"]["score"]
    for op, flops in (("LinearBench.forward", 2), ("LinearBench.backward", 4)):
        for shape in ("60x100x100", "64x1024x4096", "64x4096x4096", "64x4096x1000"):
            n, i, o = (int(v) for v in shape.split("x"))
            nat, jav = res.get((op, shape, "native")), res.get((op, shape, "java"))
            if nat is None:
                continue
            gf = flops * n * i * o / (nat * 1e3)
            print("| %s | %s | %.1f | %s | %.1f (%.0f%%) | %s |" % (
                op.split(".")[1], shape, nat, "%.1f" % jav if jav else "-", gf, 100 * gf / peak,
                "%.1fx" % (jav / nat) if jav else "-"))
    nat = res.get(("TrainStepBench.step", "", ""))
    jav = res.get(("TrainStepBench.JavaLinearStep.step", "", ""))
    if nat:
        print("| training step (64-100-100-100-10, batch 60) | | %.1f | %s | | %s |" % (
            nat, "%.1f" % jav if jav else "-", "%.1fx" % (jav / nat) if jav else "-"))


if __name__ == "__main__":
    main()
