/* The fold, straight from its formula in float64 (DESIGN §2). */
#include <math.h>
#include <stdlib.h>

#include "ref.h"

void ref_fold_row(const float *e, const float *m_row, const float *w_pg, const float *w_pu, const float *w_pd,
                  const float *mix_w, float alpha, float beta, uint32_t d_model, uint32_t d_proj, uint32_t d_mem,
                  float eps, float *out)
{
    double *t = malloc(d_proj * sizeof *t), *v = malloc(d_mem * sizeof *v);
    if (!t || !v) abort(); /* test code: a few KiB */
    for (uint32_t j = 0; j < d_proj; j++) {
        double g = 0, u = 0;
        for (uint32_t k = 0; k < d_model; k++) {
            g += (double)w_pg[(size_t)j * d_model + k] * e[k];
            u += (double)w_pu[(size_t)j * d_model + k] * e[k];
        }
        t[j] = g / (1.0 + exp(-g)) * u;
    }
    double ss = 0;
    for (uint32_t i = 0; i < d_mem; i++) {
        double gd = 0;
        for (uint32_t j = 0; j < d_proj; j++) gd += (double)w_pd[(size_t)i * d_proj + j] * t[j];
        v[i] = m_row[i] + (double)beta * gd;
        ss += v[i] * v[i];
    }
    double inv = 1.0 / sqrt(ss / d_mem + eps);
    for (uint32_t i = 0; i < d_mem; i++) out[i] = (float)(alpha * v[i] * inv * mix_w[i]);
    free(t);
    free(v);
}
