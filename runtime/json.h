/* A small strict JSON parser (RFC 8259) for safetensors headers, their
 * index files and Hugging Face config.json: the whole text is parsed into a
 * flat array of values with first-child / next-sibling links. Strict: no
 * comments, no trailing commas, no leading zeros, no control characters in
 * strings, nothing after the top-level value; nesting is limited. Strings
 * are unescaped (\uXXXX and surrogate pairs to UTF-8) into one buffer. */
#ifndef MKV_JSON_H
#define MKV_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "mekivk.h"

typedef enum mkv_json_type {
    MKV_JSON_NULL, MKV_JSON_FALSE, MKV_JSON_TRUE, MKV_JSON_NUMBER, MKV_JSON_STRING, MKV_JSON_ARRAY, MKV_JSON_OBJECT,
} mkv_json_type;

#define MKV_JSON_NONE UINT32_MAX /* "no such value" index */
#define MKV_JSON_MAX_DEPTH 64
#define MKV_JSON_MAX_VALUES (1u << 20) /* bounds memory on hostile input (~90 MiB) */

typedef struct mkv_json_value {
    mkv_json_type type;
    uint32_t first;      /* ARRAY/OBJECT: first child (MKV_JSON_NONE if empty) */
    uint32_t next;       /* next sibling (MKV_JSON_NONE if last) */
    uint32_t n;          /* ARRAY/OBJECT: number of children */
    const char *key;     /* member of an OBJECT: its key (NUL-terminated), else NULL */
    const char *str;     /* STRING: NUL-terminated value; NUMBER: its text as written */
    size_t len;          /* STRING: bytes (may contain NUL via \u0000); NUMBER: text length */
    double num;          /* NUMBER */
    bool is_uint;        /* NUMBER written as a non-negative integer that fits u64 */
    uint64_t u;          /* NUMBER when is_uint */
    size_t offset;       /* byte offset of the value in the text (for messages) */
} mkv_json_value;

typedef struct mkv_json {
    mkv_json_value *v;   /* v[0] is the top-level value */
    uint32_t n;
    char *strings;       /* unescaped strings and number texts */
} mkv_json;

/* Parses text[0..len). On error returns MKV_ERR_FORMAT with a message
 * "<what>: JSON byte <offset>: <problem>", `what` naming the file/part. */
mkv_status mkv_json_parse(const char *text, size_t len, const char *what, mkv_json *out, mkv_error *err);
void mkv_json_free(mkv_json *j);
/* Writes s[0..len) as a JSON string: quotes, escapes, and U+FFFD for each
 * byte that is not part of valid UTF-8. */
void mkv_json_print_str(FILE *f, const char *s, size_t len);

/* Member `key` of object value `obj`, or MKV_JSON_NONE (also if obj is not
 * an object). The first match if a key repeats. */
uint32_t mkv_json_get(const mkv_json *j, uint32_t obj, const char *key);

#endif
