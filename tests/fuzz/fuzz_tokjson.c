/* Fuzz target: a Hugging Face tokenizer.json as synth --tokenizer and
 * convert read it (hosttools/tok_keys.c: the JSON, the model's vocab and
 * merges, added tokens, the pre-tokenizer's regex), padded to 1024 tokens.
 * Input: the file's bytes. */
#include "fuzz_common.h"
#include "tok_keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_put("tokenizer.json", data, size);
    mkv_tok_keys k;
    mkv_error err;
    if (mkv_tok_keys_from_hf(path, NULL, 1024, &k, &err) == MKV_OK) mkv_tok_keys_free(&k);
    return 0;
}
