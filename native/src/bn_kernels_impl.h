/*
 * bn_kernels_impl.h - the kernels of bn_kernels.h, written once over small vector helpers that
 * the including file defines before including this one (bn_kernels_generic.c, _avx2.c,
 * _avx512.c), then packed into that file's table with BN_KERNELS_TABLE(name).
 *
 * Helpers: vf holds VL floats, vd holds VL/2 doubles.
 *   vf_load, vf_load_n (first n lanes, the rest 0; never reads past them), vf_store,
 *   vf_store_n, vf_stream (aligned non-temporal store), vf_set1, vf_sub, vf_fma (a*b + c),
 *   vd_lo, vd_hi (exact float -> double of the lower / upper half), vd_zero, vd_set1, vd_add,
 *   vd_sub, vd_mul, vd_fma (a*b + c), vd_fnma (c - a*b), vd_load, vd_store, vd_keep_n (lanes
 *   >= n set to 0), vd_finite_or_zero, vf_from_vd (two vd rounded to one vf), bn_sfence.
 *
 * N = batch, C = channels, S = spatial size. Views and sums: see bn_kernels.h.
 *
 * Lanes. Rows view: every column has its own accumulators and adds its rows in order, so a
 * column's sums do not depend on the tile it is in. Runs view: element p of a run goes to lane
 * p mod LANES (LANES = 2*NV*VL/2 doubles), and the lanes are added by a fixed pairwise tree.
 * NV float vectors are in flight per step: enough independent additions to hide their latency.
 *
 * In place (out == x, dinp == dy or dinp == x): every element is read before it is written, in
 * the same step, so these pointers are not restrict.
 */

#define NV 4            // float vectors per tile (rows view) or per lane group (runs view)
#define TILE (NV * VL)  // columns per tile; lanes of the runs view
#define HV (VL / 2)     // doubles per vd

static ptrdiff_t clampn(ptrdiff_t v, ptrdiff_t hi) { return v < 0 ? 0 : v > hi ? hi : v; }

// lanes [0, n) of 2*NV double vectors into d[] (as sums, so that the lane order is that of memory)
static void lanes_store(double *d, const vd *v) {
    for (int i = 0; i < 2 * NV; i++) vd_store(d + i * HV, v[i]);
}

// x - k of NV float vectors, in double, as 2*NV vectors (exact: two floats)
#define BN_DIFF(d, v, k, i)                                                                        \
    do {                                                                                           \
        (d)[0] = vd_sub(vd_lo(v), (k)[2 * (i)]);                                                   \
        (d)[1] = vd_sub(vd_hi(v), (k)[2 * (i) + 1]);                                               \
    } while (0)

// s1 += d, s2 += d*d of one float vector's two halves
static void acc_stats(vd *s1, vd *s2, const vd *d) {
    s1[0] = vd_add(s1[0], d[0]);
    s1[1] = vd_add(s1[1], d[1]);
    s2[0] = vd_fma(d[0], d[0], s2[0]);
    s2[1] = vd_fma(d[1], d[1], s2[1]);
}

// shifted sums -> block total and m2; n values, k the shift (exact)
static void shifted_result(double *sum, double *m2, double n, double k, double s1, double s2) {
    if (n == 0.0) {
        *sum = 0.0;
        *m2 = 0.0;
        return;
    }
    *sum = n * k + s1;
    const double m = s2 - s1 * s1 / n;
    *m2 = m < 0.0 ? 0.0 : m; // rounding only; NaN stays NaN
}

// ----------------------------------------------------------------------------
// rows view

// the first n (< TILE) columns of one row into the accumulators
static void stats_part(vd *s1, vd *s2, const vd *k, const float *xr, ptrdiff_t n) {
    for (int i = 0; i < NV; i++) {
        const ptrdiff_t ni = clampn(n - i * VL, VL);
        if (ni == 0) break;
        const vf v = vf_load_n(xr + i * VL, ni);
        vd d[2];
        BN_DIFF(d, v, k, i);
        d[0] = vd_keep_n(d[0], clampn(ni, HV));
        d[1] = vd_keep_n(d[1], clampn(ni - HV, HV));
        acc_stats(s1 + 2 * i, s2 + 2 * i, d);
    }
}

static void cl_stats(double *sum, double *m2, const float *x, ptrdiff_t ld, ptrdiff_t nrows,
                     ptrdiff_t tailn, ptrdiff_t wn) {
    // sum, m2: (wn,)
    // x: (nrows, ld) and a partial row of tailn
    for (ptrdiff_t w0 = 0; w0 < wn; w0 += TILE) {
        const ptrdiff_t tw = wn - w0 < TILE ? wn - w0 : TILE, tt = clampn(tailn - w0, tw);
        const float *xt = x + w0;
        vd k[2 * NV], s1[2 * NV], s2[2 * NV];
        const ptrdiff_t kn = nrows > 0 ? tw : tt; // K: the first row (or the partial one)
        for (int i = 0; i < NV; i++) {
            const vf v = vf_load_n(xt + i * VL, clampn(kn - i * VL, VL));
            k[2 * i] = vd_finite_or_zero(vd_lo(v));
            k[2 * i + 1] = vd_finite_or_zero(vd_hi(v));
        }
        for (int i = 0; i < 2 * NV; i++) s1[i] = s2[i] = vd_zero();
        if (tw == TILE) {
            for (ptrdiff_t r = 0; r < nrows; r++) {
                const float *xr = xt + r * ld;
                for (int i = 0; i < NV; i++) {
                    const vf v = vf_load(xr + i * VL);
                    vd d[2];
                    BN_DIFF(d, v, k, i);
                    acc_stats(s1 + 2 * i, s2 + 2 * i, d);
                }
            }
        } else {
            for (ptrdiff_t r = 0; r < nrows; r++) stats_part(s1, s2, k, xt + r * ld, tw);
        }
        if (tt > 0) stats_part(s1, s2, k, xt + nrows * ld, tt);
        double a1[TILE], a2[TILE], ak[TILE];
        lanes_store(a1, s1);
        lanes_store(a2, s2);
        lanes_store(ak, k);
        for (ptrdiff_t j = 0; j < tw; j++) {
            const double n = (double)(nrows + (j < tt));
            shifted_result(&sum[w0 + j], &m2[w0 + j], n, ak[j], a1[j], a2[j]);
        }
    }
}

// the first n (< TILE) columns of one row: out = (x - m)*s + h
static void apply_part(float *o, const float *xr, const vf *m, const vf *s, const vf *h,
                       ptrdiff_t n) {
    for (int i = 0; i < NV; i++) {
        const ptrdiff_t ni = clampn(n - i * VL, VL);
        if (ni == 0) break;
        const vf v = vf_load_n(xr + i * VL, ni);
        vf_store_n(o + i * VL, vf_fma(vf_sub(v, m[i]), s[i], h[i]), ni);
    }
}

static int aligned_vf(const float *p) { return ((uintptr_t)p % (sizeof(float) * VL)) == 0; }

static void cl_apply(float *out, const float *x, ptrdiff_t ld, ptrdiff_t nrows, ptrdiff_t tailn,
                     ptrdiff_t wn, const float *mh, const float *sc, const float *sh,
                     int stream) {
    // out, x: (nrows, ld) and a partial row of tailn
    // mh, sc, sh: (wn,)
    for (ptrdiff_t w0 = 0; w0 < wn; w0 += TILE) {
        const ptrdiff_t tw = wn - w0 < TILE ? wn - w0 : TILE, tt = clampn(tailn - w0, tw);
        vf m[NV], s[NV], h[NV];
        for (int i = 0; i < NV; i++) {
            const ptrdiff_t ni = clampn(tw - i * VL, VL);
            m[i] = vf_load_n(mh + w0 + i * VL, ni);
            s[i] = vf_load_n(sc + w0 + i * VL, ni);
            h[i] = vf_load_n(sh + w0 + i * VL, ni);
        }
        const float *xt = x + w0;
        float *ot = out + w0;
        if (tw == TILE && stream && aligned_vf(ot) && ld % VL == 0) {
            for (ptrdiff_t r = 0; r < nrows; r++) {
                for (int i = 0; i < NV; i++) {
                    const vf v = vf_load(xt + r * ld + i * VL);
                    vf_stream(ot + r * ld + i * VL, vf_fma(vf_sub(v, m[i]), s[i], h[i]));
                }
            }
        } else if (tw == TILE) {
            for (ptrdiff_t r = 0; r < nrows; r++) {
                for (int i = 0; i < NV; i++) {
                    const vf v = vf_load(xt + r * ld + i * VL);
                    vf_store(ot + r * ld + i * VL, vf_fma(vf_sub(v, m[i]), s[i], h[i]));
                }
            }
        } else {
            for (ptrdiff_t r = 0; r < nrows; r++) apply_part(ot + r * ld, xt + r * ld, m, s, h, tw);
        }
        if (tt > 0) apply_part(ot + nrows * ld, xt + nrows * ld, m, s, h, tt);
    }
    if (stream) bn_sfence();
}

// t1 += dy, t2 += dy*(x - m) of the first n (<= TILE) columns of one row; x may be NULL
static void sums_part(vd *t1, vd *t2, const vd *m, const float *dyr, const float *xr,
                      ptrdiff_t n) {
    for (int i = 0; i < NV; i++) {
        const ptrdiff_t ni = clampn(n - i * VL, VL);
        if (ni == 0) break;
        const vf g = vf_load_n(dyr + i * VL, ni);
        const vd g0 = vd_lo(g), g1 = vd_hi(g);
        t1[2 * i] = vd_add(t1[2 * i], g0);
        t1[2 * i + 1] = vd_add(t1[2 * i + 1], g1);
        if (xr == NULL) continue;
        const vf v = vf_load_n(xr + i * VL, ni);
        vd d[2];
        BN_DIFF(d, v, m, i);
        d[0] = vd_keep_n(d[0], clampn(ni, HV)); // a NaN mean of a lane past n stays out
        d[1] = vd_keep_n(d[1], clampn(ni - HV, HV));
        t2[2 * i] = vd_fma(g0, d[0], t2[2 * i]);
        t2[2 * i + 1] = vd_fma(g1, d[1], t2[2 * i + 1]);
    }
}

static void cl_sums(double *t1, double *t2, const float *dy, const float *x, const float *mean,
                    ptrdiff_t ld, ptrdiff_t nrows, ptrdiff_t tailn, ptrdiff_t wn) {
    // t1, t2, mean: (wn,)
    // dy, x: (nrows, ld) and a partial row of tailn
    for (ptrdiff_t w0 = 0; w0 < wn; w0 += TILE) {
        const ptrdiff_t tw = wn - w0 < TILE ? wn - w0 : TILE, tt = clampn(tailn - w0, tw);
        vd m[2 * NV], a1[2 * NV], a2[2 * NV];
        for (int i = 0; i < NV; i++) {
            const vf v = vf_load_n(mean + w0 + i * VL, clampn(tw - i * VL, VL));
            m[2 * i] = vd_lo(v);
            m[2 * i + 1] = vd_hi(v);
        }
        for (int i = 0; i < 2 * NV; i++) a1[i] = a2[i] = vd_zero();
        const float *gt = dy + w0, *xt = x != NULL ? x + w0 : NULL;
        if (tw == TILE && xt != NULL) {
            for (ptrdiff_t r = 0; r < nrows; r++) {
                for (int i = 0; i < NV; i++) {
                    const vf g = vf_load(gt + r * ld + i * VL), v = vf_load(xt + r * ld + i * VL);
                    const vd g0 = vd_lo(g), g1 = vd_hi(g);
                    vd d[2];
                    BN_DIFF(d, v, m, i);
                    a1[2 * i] = vd_add(a1[2 * i], g0);
                    a1[2 * i + 1] = vd_add(a1[2 * i + 1], g1);
                    a2[2 * i] = vd_fma(g0, d[0], a2[2 * i]);
                    a2[2 * i + 1] = vd_fma(g1, d[1], a2[2 * i + 1]);
                }
            }
        } else {
            for (ptrdiff_t r = 0; r < nrows; r++) {
                sums_part(a1, a2, m, gt + r * ld, xt != NULL ? xt + r * ld : NULL, tw);
            }
        }
        if (tt > 0) sums_part(a1, a2, m, gt + nrows * ld, xt != NULL ? xt + nrows * ld : NULL, tt);
        double b1[TILE], b2[TILE];
        lanes_store(b1, a1);
        lanes_store(b2, a2);
        for (ptrdiff_t j = 0; j < tw; j++) {
            t1[w0 + j] = b1[j];
            if (t2 != NULL) t2[w0 + j] = xt != NULL ? b2[j] : 0.0;
        }
    }
}

// dinp = k*((dy - a) - (x - m)*b) in double, rounded once to float. The columns go DT at a time
// so that the four constants (m, a, b, k) of 2*DT/VL double vectors stay in registers.
#define DT (2 * VL)

static vf dinp_vec(vf g, vf v, const vd *m, const vd *a, const vd *b, const vd *k) {
    const vd t0 = vd_fnma(vd_sub(vd_lo(v), m[0]), b[0], vd_sub(vd_lo(g), a[0]));
    const vd t1 = vd_fnma(vd_sub(vd_hi(v), m[1]), b[1], vd_sub(vd_hi(g), a[1]));
    return vf_from_vd(vd_mul(t0, k[0]), vd_mul(t1, k[1]));
}

// columns [0, n) (n <= DT) of rows [0, nrows) from constants of DT columns at cm, ca, cb, ck
static void dinp_cols(float *o, const float *dy, const float *x, ptrdiff_t ld, ptrdiff_t nrows,
                      ptrdiff_t n, const double *cm, const double *ca, const double *cb,
                      const double *ck, int stream) {
    vd m[4], a[4], b[4], k[4];
    for (int i = 0; i < 4; i++) {
        m[i] = vd_load(cm + i * HV);
        a[i] = vd_load(ca + i * HV);
        b[i] = vd_load(cb + i * HV);
        k[i] = vd_load(ck + i * HV);
    }
    if (n == DT) {
        const int st = stream && aligned_vf(o) && ld % VL == 0;
        for (ptrdiff_t r = 0; r < nrows; r++) {
            for (int i = 0; i < 2; i++) {
                const ptrdiff_t at = r * ld + i * VL;
                const vf y = dinp_vec(vf_load(dy + at), vf_load(x + at), m + 2 * i, a + 2 * i,
                                      b + 2 * i, k + 2 * i);
                if (st) vf_stream(o + at, y);
                else vf_store(o + at, y);
            }
        }
        return;
    }
    for (ptrdiff_t r = 0; r < nrows; r++) {
        for (int i = 0; i < 2; i++) {
            const ptrdiff_t ni = clampn(n - i * VL, VL), at = r * ld + i * VL;
            if (ni == 0) break;
            const vf y = dinp_vec(vf_load_n(dy + at, ni), vf_load_n(x + at, ni), m + 2 * i,
                                  a + 2 * i, b + 2 * i, k + 2 * i);
            vf_store_n(o + at, y, ni);
        }
    }
}

static void cl_dinp(float *dinp, const float *dy, const float *x, ptrdiff_t ld, ptrdiff_t nrows,
                    ptrdiff_t tailn, ptrdiff_t wn, const double *cm, const double *ca,
                    const double *cb, const double *ck, int stream) {
    // dinp, dy, x: (nrows, ld) and a partial row of tailn
    // cm, ca, cb, ck: (wn,) rounded up to a multiple of DT, the padding finite
    for (ptrdiff_t w0 = 0; w0 < wn; w0 += DT) {
        const ptrdiff_t tw = wn - w0 < DT ? wn - w0 : DT, tt = clampn(tailn - w0, tw);
        dinp_cols(dinp + w0, dy + w0, x + w0, ld, nrows, tw, cm + w0, ca + w0, cb + w0, ck + w0,
                  stream);
        if (tt > 0) {
            const ptrdiff_t at = nrows * ld + w0;
            dinp_cols(dinp + at, dy + at, x + at, ld, 1, tt, cm + w0, ca + w0, cb + w0, ck + w0, 0);
        }
    }
    if (stream) bn_sfence();
}

// ----------------------------------------------------------------------------
// runs view

// the pairwise tree over the LANES = TILE lanes: ((l0 + l(T/2)) + ...), fixed by TILE
static double lanes_total(double *a) {
    for (int h = TILE / 2; h >= 1; h /= 2) {
        for (int j = 0; j < h; j++) a[j] += a[j + h];
    }
    return a[0];
}

static void run_stats(double *sum, double *m2, const float *x, ptrdiff_t stride,
                      ptrdiff_t nruns, ptrdiff_t len) {
    // x: nruns runs of (len,) at stride
    const double kd = isfinite(x[0]) ? (double)x[0] : 0.0;
    vd k[2 * NV], s1[2 * NV], s2[2 * NV];
    for (int i = 0; i < 2 * NV; i++) {
        k[i] = vd_set1(kd);
        s1[i] = s2[i] = vd_zero();
    }
    for (ptrdiff_t r = 0; r < nruns; r++) {
        const float *xr = x + r * stride;
        ptrdiff_t p = 0;
        for (; p + TILE <= len; p += TILE) {
            for (int i = 0; i < NV; i++) {
                const vf v = vf_load(xr + p + i * VL);
                vd d[2];
                BN_DIFF(d, v, k, i);
                acc_stats(s1 + 2 * i, s2 + 2 * i, d);
            }
        }
        if (p < len) stats_part(s1, s2, k, xr + p, len - p);
    }
    double a1[TILE], a2[TILE];
    lanes_store(a1, s1);
    lanes_store(a2, s2);
    const double t1 = lanes_total(a1), t2 = lanes_total(a2);
    shifted_result(sum, m2, (double)(nruns * len), kd, t1, t2);
}

// first elements of o up to its next VL-float boundary (at most len)
static ptrdiff_t head_to_aligned(const float *o, ptrdiff_t len) {
    const ptrdiff_t mis = (ptrdiff_t)(((uintptr_t)o / sizeof(float)) % VL);
    const ptrdiff_t h = mis == 0 ? 0 : VL - mis;
    return h < len ? h : len;
}

static void run_apply(float *out, const float *x, ptrdiff_t stride, ptrdiff_t nruns,
                      ptrdiff_t len, float mh, float sc, float sh, int stream) {
    // out, x: nruns runs of (len,) at stride
    const vf m = vf_set1(mh), s = vf_set1(sc), h = vf_set1(sh);
    for (ptrdiff_t r = 0; r < nruns; r++) {
        const float *xr = x + r * stride;
        float *o = out + r * stride;
        ptrdiff_t p = 0;
        if (stream) {
            p = head_to_aligned(o, len);
            if (p > 0) vf_store_n(o, vf_fma(vf_sub(vf_load_n(xr, p), m), s, h), p);
            for (; p + VL <= len; p += VL) {
                vf_stream(o + p, vf_fma(vf_sub(vf_load(xr + p), m), s, h));
            }
        } else {
            for (; p + VL <= len; p += VL) {
                vf_store(o + p, vf_fma(vf_sub(vf_load(xr + p), m), s, h));
            }
        }
        if (p < len) vf_store_n(o + p, vf_fma(vf_sub(vf_load_n(xr + p, len - p), m), s, h), len - p);
    }
    if (stream) bn_sfence();
}

static void run_sums(double *t1, double *t2, const float *dy, const float *x, float mean,
                     ptrdiff_t stride, ptrdiff_t nruns, ptrdiff_t len) {
    // dy, x: nruns runs of (len,) at stride; x may be NULL (then *t2 = 0)
    vd m[2 * NV], a1[2 * NV], a2[2 * NV];
    for (int i = 0; i < 2 * NV; i++) {
        m[i] = vd_set1((double)mean);
        a1[i] = a2[i] = vd_zero();
    }
    for (ptrdiff_t r = 0; r < nruns; r++) {
        const float *gr = dy + r * stride, *xr = x != NULL ? x + r * stride : NULL;
        ptrdiff_t p = 0;
        if (xr != NULL) {
            for (; p + TILE <= len; p += TILE) {
                for (int i = 0; i < NV; i++) {
                    const vf g = vf_load(gr + p + i * VL), v = vf_load(xr + p + i * VL);
                    const vd g0 = vd_lo(g), g1 = vd_hi(g);
                    vd d[2];
                    BN_DIFF(d, v, m, i);
                    a1[2 * i] = vd_add(a1[2 * i], g0);
                    a1[2 * i + 1] = vd_add(a1[2 * i + 1], g1);
                    a2[2 * i] = vd_fma(g0, d[0], a2[2 * i]);
                    a2[2 * i + 1] = vd_fma(g1, d[1], a2[2 * i + 1]);
                }
            }
        } else {
            for (; p + TILE <= len; p += TILE) {
                for (int i = 0; i < NV; i++) {
                    const vf g = vf_load(gr + p + i * VL);
                    a1[2 * i] = vd_add(a1[2 * i], vd_lo(g));
                    a1[2 * i + 1] = vd_add(a1[2 * i + 1], vd_hi(g));
                }
            }
        }
        if (p < len) sums_part(a1, a2, m, gr + p, xr != NULL ? xr + p : NULL, len - p);
    }
    double b1[TILE], b2[TILE];
    lanes_store(b1, a1);
    lanes_store(b2, a2);
    *t1 = lanes_total(b1);
    *t2 = x != NULL ? lanes_total(b2) : 0.0;
}

static void run_dinp(float *dinp, const float *dy, const float *x, ptrdiff_t stride,
                     ptrdiff_t nruns, ptrdiff_t len, double mean, double aa, double bb,
                     double kk, int stream) {
    // dinp, dy, x: nruns runs of (len,) at stride: dinp = kk*((dy - aa) - (x - mean)*bb)
    const vd m[2] = {vd_set1(mean), vd_set1(mean)}, a[2] = {vd_set1(aa), vd_set1(aa)};
    const vd b[2] = {vd_set1(bb), vd_set1(bb)}, k[2] = {vd_set1(kk), vd_set1(kk)};
    for (ptrdiff_t r = 0; r < nruns; r++) {
        const float *gr = dy + r * stride, *xr = x + r * stride;
        float *o = dinp + r * stride;
        ptrdiff_t p = 0;
        const ptrdiff_t head = stream ? head_to_aligned(o, len) : 0;
        if (head > 0) {
            vf_store_n(o, dinp_vec(vf_load_n(gr, head), vf_load_n(xr, head), m, a, b, k), head);
            p = head;
        }
        for (; p + VL <= len; p += VL) {
            const vf y = dinp_vec(vf_load(gr + p), vf_load(xr + p), m, a, b, k);
            if (stream) vf_stream(o + p, y);
            else vf_store(o + p, y);
        }
        if (p < len) {
            const vf y = dinp_vec(vf_load_n(gr + p, len - p), vf_load_n(xr + p, len - p), m, a, b, k);
            vf_store_n(o + p, y, len - p);
        }
    }
    if (stream) bn_sfence();
}

#define BN_KERNELS_TABLE(isa)                                                                      \
    const bn_kernels bn_kernels_##isa = {#isa,     cl_stats,  cl_apply,  cl_sums,  cl_dinp,        \
                                         run_stats, run_apply, run_sums, run_dinp}
