// bn_onednn.cpp - oneDNN's batch_normalization primitive (2.x API) on bnorm's benchmark shapes.
//
// Usage: bn_onednn --shapes NC:32x64,NCHW:32x64x56x56,... [--threads 1] [--warmup 3]
//                  [--iterations 6] [--time-ms 200] [--dtype f32]
// Writes CSV to stdout (comment lines start with '#'):
//   op,shape,calls,median_us,min_us,max_us,impl
// op is forwardTraining, forwardInference or backward, as in bnorm's KernelBench.
//
// What is timed, per shape (N, C, S = H*W) and op, all buffers allocated once beforehand
// (user-managed scratchpad too, so no allocation is timed):
//   forwardTraining   use_scale | use_shift; writes dst, mean, variance (oneDNN leaves the
//                     running-statistics update to the framework; bnorm's call also does it)
//   forwardInference  use_global_stats | use_scale | use_shift
//   backward          prop_kind::backward, use_scale | use_shift: diff_src, diff_scale, diff_shift
// Layouts: NCHW is format_tag::nchw, NHWC is nhwc, and NC (an m x k matrix) is nhwc with
// H = W = 1 (plain nchw would take oneDNN's slow generic kernel).
// --dtype bf16: src, dst, diff_dst and diff_src are bf16 (the float data rounded to nearest,
// ties to even), scale, shift, mean and variance f32; a dtype oneDNN cannot run batch norm in on
// this CPU makes the output say '# absent: ...'. f16 is not offered (oneDNN 2.6 has no f16
// batch norm on CPU).
// Timing, the same scheme as the JMH benchmarks: `warmup` then `iterations` iterations; an
// iteration runs calls back to back for at least time-ms (at least one call) and records their
// mean; the median, min and max of the iteration means are reported.
// Check: after the first forward training call, every channel's mean and variance are compared
// with a two-pass double computation; a mismatch aborts the run (exit status 1).
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#ifdef BN_HAVE_OPENMP
#include <omp.h>
#endif

using namespace dnnl;
using tag = memory::format_tag;

namespace {

struct Shape {
    std::string text, layout;
    int64_t n = 0, c = 0, h = 1, w = 1;
    int64_t s() const { return h * w; }
    int64_t elements() const { return n * c * h * w; }
};

Shape parse_shape(const std::string &text) {
    Shape sh;
    sh.text = text;
    const auto colon = text.find(':');
    if (colon == std::string::npos) throw std::invalid_argument("shape: expected LAYOUT:dims, got " + text);
    sh.layout = text.substr(0, colon);
    std::vector<int64_t> d;
    std::stringstream dims(text.substr(colon + 1));
    for (std::string part; std::getline(dims, part, 'x');) d.push_back(std::stoll(part));
    const size_t expected = sh.layout == "NC" ? 2 : 4;
    if ((sh.layout != "NC" && sh.layout != "NCHW" && sh.layout != "NHWC") || d.size() != expected)
        throw std::invalid_argument("shape: expected NC:NxC, NCHW:NxCxHxW or NHWC:NxCxHxW, got " + text);
    sh.n = d[0];
    sh.c = d[1];
    if (expected == 4) {
        sh.h = d[2];
        sh.w = d[3];
    }
    return sh;
}

struct Timing {
    double median_us, min_us, max_us;
    long calls;
};

template <class F> Timing measure(F call, int warmup, int iterations, double time_ms) {
    using clock = std::chrono::steady_clock;
    std::vector<double> means;
    long calls = 0;
    for (int it = 0; it < warmup + iterations; it++) {
        const auto t0 = clock::now();
        long k = 0;
        double elapsed_us = 0;
        do {
            call();
            k++;
            elapsed_us = std::chrono::duration<double, std::micro>(clock::now() - t0).count();
        } while (elapsed_us < time_ms * 1000);
        if (it >= warmup) {
            means.push_back(elapsed_us / k);
            calls += k;
        }
    }
    std::sort(means.begin(), means.end());
    const size_t m = means.size();
    const double median = m % 2 ? means[m / 2] : (means[m / 2 - 1] + means[m / 2]) / 2;
    return {median, means.front(), means.back(), calls};
}

float *data(const memory &m) { return static_cast<float *>(m.get_data_handle()); }

// f rounded to bf16 (to nearest, ties to even; the values here are finite)
uint16_t to_bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return static_cast<uint16_t>((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

float from_bf16(uint16_t h) {
    const uint32_t u = uint32_t(h) << 16;
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}

// element i of an f32 or bf16 memory, as float
float at(const memory &m, size_t i) {
    return m.get_desc().data_type() == memory::data_type::bf16
            ? from_bf16(static_cast<const uint16_t *>(m.get_data_handle())[i]) : data(m)[i];
}

memory filled(const memory::desc &md, const engine &eng, std::mt19937 &rng, float lo, float hi, bool normal) {
    memory m(md, eng);
    const bool bf16 = md.data_type() == memory::data_type::bf16;
    const size_t count = md.get_size() / (bf16 ? sizeof(uint16_t) : sizeof(float));
    std::uniform_real_distribution<float> uniform(lo, hi);
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    for (size_t i = 0; i < count; i++) {
        const float v = normal ? lo + (hi - lo) * gauss(rng) : uniform(rng);
        if (bf16) static_cast<uint16_t *>(m.get_data_handle())[i] = to_bf16(v);
        else data(m)[i] = v;
    }
    return m;
}

// mean and biased variance of every channel, two passes in double, against oneDNN's outputs
void check_stats(const Shape &sh, const memory &x, const float *mean, const float *var) {
    const int64_t N = sh.n, C = sh.c, S = sh.s();
    const bool nchw = sh.layout == "NCHW";
    const auto index = [&](int64_t n, int64_t c, int64_t s) {
        return size_t(nchw ? (n * C + c) * S + s : (n * S + s) * C + c);
    };
    const double M = double(N * S), tol = 1e-5 * (1 + std::sqrt(M) / 32);
    for (int64_t c = 0; c < C; c++) {
        double sum = 0, ssd = 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t s = 0; s < S; s++) sum += at(x, index(n, c, s));
        const double mu = sum / M;
        for (int64_t n = 0; n < N; n++)
            for (int64_t s = 0; s < S; s++) ssd += (at(x, index(n, c, s)) - mu) * (at(x, index(n, c, s)) - mu);
        const double v = ssd / M;
        if (std::fabs(mean[c] - mu) > tol * (1 + std::fabs(mu)) || std::fabs(var[c] - v) > tol * (1 + v)) {
            std::fprintf(stderr, "bn_onednn: %s channel %lld: mean %.9g var %.9g, expected %.9g %.9g\n",
                         sh.text.c_str(), (long long)c, mean[c], var[c], mu, v);
            std::exit(1);
        }
    }
}

void row(const char *op, const Shape &sh, const Timing &t, const char *impl) {
    std::printf("%s,%s,%ld,%.3f,%.3f,%.3f,%s\n", op, sh.text.c_str(), t.calls, t.median_us, t.min_us, t.max_us, impl);
    std::fflush(stdout);
}

void run_shape(const Shape &sh, memory::data_type dt, engine &eng, stream &strm, int warmup, int iterations,
               double time_ms) {
    const float eps = 1e-5f;
    const memory::desc data_md({sh.n, sh.c, sh.h, sh.w}, dt,
                               sh.layout == "NCHW" ? tag::nchw : tag::nhwc);
    const memory::desc chan_md({sh.c}, memory::data_type::f32, tag::a);
    primitive_attr attr;
    attr.set_scratchpad_mode(scratchpad_mode::user);
    std::mt19937 rng(42);

    memory src = filled(data_md, eng, rng, 0.0f, 1.0f, true);
    memory dst(data_md, eng), diff_dst = filled(data_md, eng, rng, 0.0f, 1.0f, true), diff_src(data_md, eng);
    memory scale = filled(chan_md, eng, rng, 0.5f, 1.5f, false), shift = filled(chan_md, eng, rng, -0.5f, 0.5f, false);
    memory mean(chan_md, eng), var(chan_md, eng), diff_scale(chan_md, eng), diff_shift(chan_md, eng);

    const auto ss = normalization_flags::use_scale | normalization_flags::use_shift;
    batch_normalization_forward::primitive_desc train_pd(
            batch_normalization_forward::desc(prop_kind::forward_training, data_md, eps, ss), attr, eng);
    batch_normalization_forward::primitive_desc infer_pd(
            batch_normalization_forward::desc(prop_kind::forward_inference, data_md, eps,
                                              ss | normalization_flags::use_global_stats), attr, eng);
    batch_normalization_backward::primitive_desc back_pd(
            batch_normalization_backward::desc(prop_kind::backward, data_md, data_md, eps, ss), attr, eng, train_pd);

    memory train_scratch(train_pd.scratchpad_desc(), eng), infer_scratch(infer_pd.scratchpad_desc(), eng),
            back_scratch(back_pd.scratchpad_desc(), eng);
    batch_normalization_forward train(train_pd), infer(infer_pd);
    batch_normalization_backward back(back_pd);
    std::unordered_map<int, memory> train_args = {
            {DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}, {DNNL_ARG_SCALE, scale}, {DNNL_ARG_SHIFT, shift},
            {DNNL_ARG_MEAN, mean}, {DNNL_ARG_VARIANCE, var}, {DNNL_ARG_SCRATCHPAD, train_scratch}};
    std::unordered_map<int, memory> infer_args = {
            {DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}, {DNNL_ARG_SCALE, scale}, {DNNL_ARG_SHIFT, shift},
            {DNNL_ARG_MEAN, mean}, {DNNL_ARG_VARIANCE, var}, {DNNL_ARG_SCRATCHPAD, infer_scratch}};
    // oneDNN 2.6 refuses to execute backward with use_shift unless DNNL_ARG_SHIFT is given too
    // ("could not execute a primitive"), although it does not read it.
    std::unordered_map<int, memory> back_args = {
            {DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_SCALE, scale}, {DNNL_ARG_SHIFT, shift},
            {DNNL_ARG_MEAN, mean}, {DNNL_ARG_VARIANCE, var}, {DNNL_ARG_DIFF_SRC, diff_src},
            {DNNL_ARG_DIFF_SCALE, diff_scale}, {DNNL_ARG_DIFF_SHIFT, diff_shift},
            {DNNL_ARG_SCRATCHPAD, back_scratch}};

    train.execute(strm, train_args);
    strm.wait();
    check_stats(sh, src, data(mean), data(var));

    row("forwardTraining", sh, measure([&] { train.execute(strm, train_args); strm.wait(); }, warmup, iterations, time_ms),
        train_pd.impl_info_str());
    // mean and var now hold batch statistics: inference and backward use them
    row("forwardInference", sh, measure([&] { infer.execute(strm, infer_args); strm.wait(); }, warmup, iterations, time_ms),
        infer_pd.impl_info_str());
    row("backward", sh, measure([&] { back.execute(strm, back_args); strm.wait(); }, warmup, iterations, time_ms),
        back_pd.impl_info_str());
}

}  // namespace

int main(int argc, char **argv) {
    std::string shapes, dtype = "f32";
    int threads = 1, warmup = 3, iterations = 6;
    double time_ms = 200;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i], v = argv[i + 1];
        if (k == "--shapes") shapes = v;
        else if (k == "--threads") threads = std::stoi(v);
        else if (k == "--warmup") warmup = std::stoi(v);
        else if (k == "--iterations") iterations = std::stoi(v);
        else if (k == "--time-ms") time_ms = std::stod(v);
        else if (k == "--dtype") dtype = v;
        else {
            std::fprintf(stderr, "bn_onednn: unknown option %s\n", k.c_str());
            return 2;
        }
    }
    if (shapes.empty() || iterations < 1 || warmup < 0 || threads < 1 || (dtype != "f32" && dtype != "bf16")) {
        std::fprintf(stderr, "usage: bn_onednn --shapes NC:32x64,NCHW:32x64x56x56,... [--threads 1] "
                             "[--warmup 3] [--iterations 6] [--time-ms 200] [--dtype f32|bf16]\n");
        return 2;
    }
#ifdef BN_HAVE_OPENMP
    omp_set_num_threads(threads);
    const int actual_threads = omp_get_max_threads();
#else
    const int actual_threads = -1;  // not an OpenMP build: the runtime's own default
#endif
    const dnnl_version_t *v = dnnl_version();
    std::printf("# peer: oneDNN %d.%d.%d (%s)\n", v->major, v->minor, v->patch, v->hash ? v->hash : "no hash");
    std::printf("# threads: %d\n", actual_threads);
    const memory::data_type dt = dtype == "bf16" ? memory::data_type::bf16 : memory::data_type::f32;
    if (dt == memory::data_type::bf16) {
        // oneDNN 2.6 runs bf16 batch norm only on CPUs with AVX-512 (else "could not create a
        // primitive descriptor iterator"): ask once, for a small tensor, before any output
        try {
            engine eng(engine::kind::cpu, 0);
            const memory::desc md({2, 16, 1, 1}, dt, tag::nhwc);
            batch_normalization_forward::primitive_desc(
                    batch_normalization_forward::desc(prop_kind::forward_training, md, 1e-5f,
                                                      normalization_flags::use_scale | normalization_flags::use_shift),
                    eng);
        } catch (const dnnl::error &e) {
            if (e.status != dnnl_unimplemented) {
                std::fprintf(stderr, "bn_onednn: %s\n", e.what());
                return 1;
            }
            std::printf("# absent: oneDNN %d.%d.%d has no bf16 batch norm on this CPU (%s)\n", v->major, v->minor,
                        v->patch, e.what());
            return 0;
        }
        std::printf("# dtype: bf16 src, dst, diff_dst, diff_src (float data rounded to it); f32 scale, shift, mean, "
                    "variance\n");
    }
    std::printf("# timing: %d warm-up + %d iterations of >= %g ms; median, min, max of the iteration means\n",
                warmup, iterations, time_ms);
    std::printf("op,shape,calls,median_us,min_us,max_us,impl\n");
    try {
        engine eng(engine::kind::cpu, 0);
        stream strm(eng);
        std::stringstream list(shapes);
        for (std::string text; std::getline(list, text, ',');) {
            run_shape(parse_shape(text), dt, eng, strm, warmup, iterations, time_ms);
        }
    } catch (const std::exception &e) {
        std::fprintf(stderr, "bn_onednn: %s\n", e.what());
        return 1;
    }
    return 0;
}
