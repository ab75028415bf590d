#include "fold.h"

#include "error.h"

mkv_status mkv_fold_run(mkv_fold *f, uint32_t t0, uint32_t n, float *out, mkv_error *err)
{
    if (n == 0 || n > f->batch || t0 > f->c->n_vocab || n > f->c->n_vocab - t0)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "fold: tokens [%u, +%u) outside the vocabulary (%u) or batch (%u)", t0, n,
                        f->c->n_vocab, f->batch);
    return f->run(f, t0, n, out, err);
}

void mkv_fold_destroy(mkv_fold *f)
{
    if (f) f->destroy(f);
}
