// bn_onednn.cpp - oneDNN's batch_normalization primitive (2.x API) on bnorm's benchmark shapes.
//
// Usage: bn_onednn --shapes NC:32x64,NCHW:32x64x56x56,... [--threads 1] [--warmup 3]
//                  [--iterations 6] [--time-ms 200] [--dtype f32] [--bnorm path/to/libbnorm.so]
// Writes CSV to stdout (comment lines start with '#'):
//   op,shape,calls,median_us,min_us,max_us,impl
// op is forwardTraining, forwardInference or backward, as in bnorm's KernelBench.
// --bnorm: also times bnorm's C library (dlopen), called as KernelBench calls it, on the same
// buffers, iteration by iteration in turn with oneDNN (which of the two goes first swaps every
// iteration), so that a slower or faster spell of a shared machine falls on both; its rows have
// impl "bnorm <version> (alternated)", and its statistics pass the check below too. bnorm runs
// on --threads threads of its own team.
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
#include <utility>
#include <vector>

#include <dlfcn.h>

#include "bn.h"

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

// one iteration: calls back to back for at least time_ms (at least one call); their mean and count
template <class F> std::pair<double, long> iteration(F &call, double time_ms) {
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    long k = 0;
    double elapsed_us = 0;
    do {
        call();
        k++;
        elapsed_us = std::chrono::duration<double, std::micro>(clock::now() - t0).count();
    } while (elapsed_us < time_ms * 1000);
    return {elapsed_us / k, k};
}

// the median, min and max of the iteration means
Timing summary(std::vector<double> means, long calls) {
    std::sort(means.begin(), means.end());
    const size_t m = means.size();
    const double median = m % 2 ? means[m / 2] : (means[m / 2 - 1] + means[m / 2]) / 2;
    return {median, means.front(), means.back(), calls};
}

template <class F> Timing measure(F call, int warmup, int iterations, double time_ms) {
    std::vector<double> means;
    long calls = 0;
    for (int it = 0; it < warmup + iterations; it++) {
        const auto [mean, k] = iteration(call, time_ms);
        if (it >= warmup) means.push_back(mean), calls += k;
    }
    return summary(means, calls);
}

// measure for two calls in turn: each iteration times a and b, a first in even iterations
template <class A, class B>
std::pair<Timing, Timing> measure_pair(A a, B b, int warmup, int iterations, double time_ms) {
    std::vector<double> means[2];
    long calls[2] = {0, 0};
    for (int it = 0; it < warmup + iterations; it++) {
        std::pair<double, long> ta, tb;
        if (it % 2 == 0) ta = iteration(a, time_ms), tb = iteration(b, time_ms);
        else tb = iteration(b, time_ms), ta = iteration(a, time_ms);
        if (it >= warmup) {
            means[0].push_back(ta.first), calls[0] += ta.second;
            means[1].push_back(tb.first), calls[1] += tb.second;
        }
    }
    return {summary(means[0], calls[0]), summary(means[1], calls[1])};
}

// bnorm's entry points, from the library given with --bnorm
struct Bnorm {
    decltype(&bn_forward_training) forward_training = nullptr;
    decltype(&bn_forward_inference) forward_inference = nullptr;
    decltype(&bn_backward) backward = nullptr;
    decltype(&bn_set_num_threads) set_num_threads = nullptr;
    decltype(&bn_strerror) strerror = nullptr;
    std::string version, impl;
};

template <class F> void resolve(void *lib, const char *name, F &f) {
    f = reinterpret_cast<F>(dlsym(lib, name));
    if (f == nullptr) throw std::runtime_error(std::string("--bnorm: no symbol ") + name + ": " + dlerror());
}

Bnorm load_bnorm(const std::string &path) {
    void *lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) throw std::runtime_error("--bnorm: cannot load " + path + ": " + dlerror());
    Bnorm b;
    decltype(&bn_version) version = nullptr;
    resolve(lib, "bn_version", version);
    resolve(lib, "bn_forward_training", b.forward_training);
    resolve(lib, "bn_forward_inference", b.forward_inference);
    resolve(lib, "bn_backward", b.backward);
    resolve(lib, "bn_set_num_threads", b.set_num_threads);
    resolve(lib, "bn_strerror", b.strerror);
    b.version = version();
    b.impl = "bnorm " + b.version + " (alternated)";
    return b;
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
               double time_ms, const Bnorm *bn) {
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

    const auto train_call = [&] { train.execute(strm, train_args); strm.wait(); };
    const auto infer_call = [&] { infer.execute(strm, infer_args); strm.wait(); };
    const auto back_call = [&] { back.execute(strm, back_args); strm.wait(); };
    if (bn == nullptr) {
        row("forwardTraining", sh, measure(train_call, warmup, iterations, time_ms), train_pd.impl_info_str());
        // mean and var now hold batch statistics: inference and backward use them
        row("forwardInference", sh, measure(infer_call, warmup, iterations, time_ms), infer_pd.impl_info_str());
        row("backward", sh, measure(back_call, warmup, iterations, time_ms), back_pd.impl_info_str());
        return;
    }

    // bnorm on the same buffers (its outputs overwrite oneDNN's), with its own (C,) vectors; the
    // flags of KernelBench: training updates the running statistics, inference reads them
    const int64_t C = sh.c;
    std::vector<float> save_mean(C), save_rstd(C), running_mean(C, 0.0f), running_var(C, 1.0f), dgamma(C), dbeta(C);
    const unsigned data_flag = dt == memory::data_type::bf16 ? BN_DATA_BF16 : 0u;
    const int layout = sh.layout == "NC" ? BN_LAYOUT_NC : sh.layout == "NCHW" ? BN_LAYOUT_NCHW : BN_LAYOUT_NHWC;
    const int64_t N = sh.n, S = sh.layout == "NC" ? 1 : sh.s();
    const float *gamma = data(scale), *beta = data(shift);
    int status = 0;
    const auto bn_train = [&] {
        status |= bn->forward_training(dst.get_data_handle(), save_mean.data(), save_rstd.data(), running_mean.data(),
                                       running_var.data(), src.get_data_handle(), nullptr, gamma, beta, eps, 0.1,
                                       BN_USE_SCALE | BN_USE_SHIFT | BN_UPDATE_RUNNING | data_flag, layout, N, C, S);
    };
    const auto bn_infer = [&] {
        status |= bn->forward_inference(dst.get_data_handle(), src.get_data_handle(), nullptr, running_mean.data(),
                                        running_var.data(), gamma, beta, eps, BN_USE_SCALE | BN_USE_SHIFT | data_flag,
                                        layout, N, C, S);
    };
    const auto bn_back = [&] {
        status |= bn->backward(diff_src.get_data_handle(), nullptr, dgamma.data(), dbeta.data(),
                               diff_dst.get_data_handle(), nullptr, src.get_data_handle(), gamma, save_mean.data(),
                               save_rstd.data(), BN_USE_SCALE | data_flag, BN_DIFF_INP | BN_DIFF_SCALE | BN_DIFF_SHIFT,
                               layout, N, C, S);
    };
    // bnorm's statistics of the same data pass the same check (variance = 1/rstd^2 - eps)
    bn_train();
    if (status != 0) throw std::runtime_error(sh.text + ": bnorm: " + bn->strerror(status));
    std::vector<float> bn_var(C);
    for (int64_t c = 0; c < C; c++) bn_var[c] = float(1.0 / (double(save_rstd[c]) * save_rstd[c]) - eps);
    check_stats(sh, src, save_mean.data(), bn_var.data());

    const auto both = [&](const char *op, auto &peer_call, auto &bn_call, const std::string &peer_impl) {
        const auto [peer_t, bn_t] = measure_pair(peer_call, bn_call, warmup, iterations, time_ms);
        if (status != 0) throw std::runtime_error(sh.text + ": bnorm " + op + ": " + bn->strerror(status));
        row(op, sh, peer_t, peer_impl.c_str());
        row(op, sh, bn_t, bn->impl.c_str());
    };
    both("forwardTraining", train_call, bn_train, train_pd.impl_info_str());
    // mean and var (oneDNN's) and save_mean, save_rstd (bnorm's) hold batch statistics
    both("forwardInference", infer_call, bn_infer, infer_pd.impl_info_str());
    both("backward", back_call, bn_back, back_pd.impl_info_str());
}

}  // namespace

int main(int argc, char **argv) {
    std::string shapes, dtype = "f32", bnorm;
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
        else if (k == "--bnorm") bnorm = v;
        else {
            std::fprintf(stderr, "bn_onednn: unknown option %s\n", k.c_str());
            return 2;
        }
    }
    if (shapes.empty() || iterations < 1 || warmup < 0 || threads < 1 || (dtype != "f32" && dtype != "bf16")) {
        std::fprintf(stderr, "usage: bn_onednn --shapes NC:32x64,NCHW:32x64x56x56,... [--threads 1] "
                             "[--warmup 3] [--iterations 6] [--time-ms 200] [--dtype f32|bf16] [--bnorm libbnorm.so]\n");
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
    try {
        Bnorm bn;
        if (!bnorm.empty()) {
            bn = load_bnorm(bnorm);
            std::printf("# bnorm: %s (%s), %d thread(s), alternated with oneDNN iteration by iteration\n",
                        bn.version.c_str(), bnorm.c_str(), bn.set_num_threads(threads));
        }
        std::printf("op,shape,calls,median_us,min_us,max_us,impl\n");
        engine eng(engine::kind::cpu, 0);
        stream strm(eng);
        std::stringstream list(shapes);
        for (std::string text; std::getline(list, text, ',');) {
            run_shape(parse_shape(text), dt, eng, strm, warmup, iterations, time_ms, bnorm.empty() ? nullptr : &bn);
        }
    } catch (const std::exception &e) {
        std::fprintf(stderr, "bn_onednn: %s\n", e.what());
        return 1;
    }
    return 0;
}
