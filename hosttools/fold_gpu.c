#include "error.h"
#include "fold.h"

mkv_status mkv_fold_gpu_create(const mkv_ckpt *c, mkv_device *dev, uint32_t batch, mkv_fold **out, mkv_error *err)
{
    *out = NULL;
    return mkv_fail(err, MKV_ERR_UNSUPPORTED, "fold: no device engine yet");
}
