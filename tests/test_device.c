/* Device helpers of the GPU tests (test_util.h); kept apart so the
 * host-only tests do not link the Vulkan runtime. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

mkv_device *tu_device(void)
{
    mkv_device_opts opts;
    mkv_device_opts_default(&opts);
    const char *v = getenv("MKV_VALIDATION");
    opts.validation = v && strcmp(v, "1") == 0;
    /* The device's messenger prints each message once and counts it; the
     * layer's own stdout log is off while a messenger exists, so nothing
     * is printed twice and tu_assert_no_validation points back to it. */
    opts.quiet = false;
    mkv_device *dev = NULL;
    mkv_error err;
    mkv_status st = mkv_device_create(&opts, &dev, &err);
    if (st != MKV_OK) ck_abort_msg("mkv_device_create: %s: %s", mkv_status_name(st), err.msg);
    return dev;
}

void tu_assert_no_validation(const mkv_device *dev)
{
    uint32_t n = mkv_device_validation_count(dev);
    ck_assert_msg(n == 0, "the validation layer reported %u message(s) (printed on stderr above)", n);
}
