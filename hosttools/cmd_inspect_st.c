/* mekivk inspect for .safetensors: a stub. The safetensors reader belongs
 * to the convert work (DESIGN §6, training-form checkpoints); it replaces
 * this file with a real report (header JSON, tensor table, dtypes). */
#include "cli.h"

int mkv_inspect_safetensors(const char *path, FILE *out)
{
    fprintf(out, "file: %s\nformat: safetensors\nsafetensors support: see mekivk convert\n", path);
    return 2;
}
