/* The shared memory a specialised module declares, read from its SPIR-V:
 * the sum of its Workgroup variables' sizes once the specialization
 * constants have their values. An array's length may be a specialization
 * constant or an expression of them (OpSpecConstantOp: attn.comp's
 * sh_o[(WG / P) * HD], argmax's bv[gl_WorkGroupSize.x]), so the module's
 * constants are evaluated in order, as a driver does at pipeline creation.
 * Sizes count as the validation layer counts them (its shared-memory
 * check): a scalar its width (a bool 4 bytes), a vector its components,
 * an array its length times its element, a struct its members. */
#include "pipeline.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

enum {
    OP_DECORATE = 71, DEC_SPEC_ID = 1, SC_WORKGROUP = 4, OP_VARIABLE = 59,
    OP_TYPE_BOOL = 20, OP_TYPE_INT = 21, OP_TYPE_FLOAT = 22, OP_TYPE_VECTOR = 23, OP_TYPE_ARRAY = 28,
    OP_TYPE_STRUCT = 30, OP_TYPE_POINTER = 32,
    OP_CONSTANT_TRUE = 41, OP_CONSTANT_FALSE = 42, OP_CONSTANT = 43, OP_CONSTANT_COMPOSITE = 44,
    OP_SPEC_TRUE = 48, OP_SPEC_FALSE = 49, OP_SPEC_CONSTANT = 50, OP_SPEC_COMPOSITE = 51, OP_SPEC_OP = 52,
};

/* An OpSpecConstantOp's operation on 32-bit values (a, b, c its operands);
 * false for an operation this evaluator does not know. */
static bool spec_op(uint32_t op, uint32_t a, uint32_t b, uint32_t c, uint32_t *r)
{
    const int32_t sa = (int32_t)a, sb = (int32_t)b;
    switch (op) {
    case 126: *r = (uint32_t)-sa; return true;                   /* OpSNegate */
    case 113: case 114: *r = a; return true;                     /* OpUConvert, OpSConvert (32-bit) */
    case 128: *r = a + b; return true;                           /* OpIAdd */
    case 130: *r = a - b; return true;                           /* OpISub */
    case 132: *r = a * b; return true;                           /* OpIMul */
    case 134: *r = b ? a / b : 0; return true;                   /* OpUDiv */
    case 135: *r = sb ? (uint32_t)(sa / sb) : 0; return true;    /* OpSDiv */
    case 137: *r = b ? a % b : 0; return true;                   /* OpUMod */
    case 138: case 139: *r = sb ? (uint32_t)(sa % sb) : 0; return true; /* OpSRem, OpSMod (non-negative here) */
    case 164: *r = (a != 0) == (b != 0); return true;            /* OpLogicalEqual */
    case 165: *r = (a != 0) != (b != 0); return true;            /* OpLogicalNotEqual */
    case 166: *r = a || b; return true;                          /* OpLogicalOr */
    case 167: *r = a && b; return true;                          /* OpLogicalAnd */
    case 168: *r = !a; return true;                              /* OpLogicalNot */
    case 169: *r = a ? b : c; return true;                       /* OpSelect */
    case 170: *r = a == b; return true;                          /* OpIEqual */
    case 171: *r = a != b; return true;                          /* OpINotEqual */
    case 172: *r = a > b; return true;                           /* OpUGreaterThan */
    case 173: *r = sa > sb; return true;                         /* OpSGreaterThan */
    case 174: *r = a >= b; return true;                          /* OpUGreaterThanEqual */
    case 175: *r = sa >= sb; return true;                        /* OpSGreaterThanEqual */
    case 176: *r = a < b; return true;                           /* OpULessThan */
    case 177: *r = sa < sb; return true;                         /* OpSLessThan */
    case 178: *r = a <= b; return true;                          /* OpULessThanEqual */
    case 179: *r = sa <= sb; return true;                        /* OpSLessThanEqual */
    case 194: *r = b < 32 ? a >> b : 0; return true;             /* OpShiftRightLogical */
    case 195: *r = b < 32 ? (uint32_t)(sa >> b) : 0; return true; /* OpShiftRightArithmetic */
    case 196: *r = b < 32 ? a << b : 0; return true;             /* OpShiftLeftLogical */
    case 197: *r = a | b; return true;                           /* OpBitwiseOr */
    case 198: *r = a ^ b; return true;                           /* OpBitwiseXor */
    case 199: *r = a & b; return true;                           /* OpBitwiseAnd */
    case 200: *r = ~a; return true;                              /* OpNot */
    default: return false;
    }
}

mkv_status mkv_spirv_shared_bytes(const uint32_t *code, size_t bytes, const char *name, const uint32_t *spec,
                                  uint32_t n_spec, uint64_t *out, mkv_error *err)
{
    *out = 0;
    const size_t n = bytes / 4;
    if (n < 5 || code[0] != 0x07230203u) return mkv_fail(err, MKV_ERR_FORMAT, "shader %s: not SPIR-V", name);
    const uint32_t bound = code[3];
    if (bound > (1u << 20)) return mkv_fail(err, MKV_ERR_FORMAT, "shader %s: id bound = %u too large", name, bound);
    /* per id: a constant's value (`known` set), a composite's instruction
     * (word offset), a type's byte size, a pointer's target type, the
     * SpecId decoration (+ 1) */
    uint32_t *val = mkv_calloc(bound, 4), *spec_id = mkv_calloc(bound, 4), *comp = mkv_calloc(bound, 4);
    uint32_t *ptr_to = mkv_calloc(bound, 4);
    uint64_t *size = mkv_calloc(bound, 8);
    uint8_t *known = mkv_calloc(bound, 1);
    mkv_status st = MKV_OK;
    uint64_t total = 0;
    if (!val || !spec_id || !comp || !ptr_to || !size || !known) {
        st = mkv_fail(err, MKV_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
#define BAD(...) do { st = mkv_fail(err, MKV_ERR_FORMAT, __VA_ARGS__); goto out; } while (0)
#define ID_OK(x) ((x) < bound)
    for (size_t i = 5; i < n;) {
        const uint32_t op = code[i] & 0xffffu, wc = code[i] >> 16;
        if (wc == 0 || i + wc > n) BAD("shader %s: bad instruction at word %zu", name, i);
        const uint32_t *a = code + i + 1;
        const uint32_t na = wc - 1; /* operand words */
        switch (op) {
        case OP_DECORATE:
            if (na >= 3 && a[1] == DEC_SPEC_ID && ID_OK(a[0])) spec_id[a[0]] = a[2] + 1;
            break;
        case OP_TYPE_BOOL:
            if (na >= 1 && ID_OK(a[0])) size[a[0]] = 4;
            break;
        case OP_TYPE_INT: case OP_TYPE_FLOAT:
            if (na >= 2 && ID_OK(a[0])) size[a[0]] = a[1] / 8;
            break;
        case OP_TYPE_VECTOR:
            if (na >= 3 && ID_OK(a[0]) && ID_OK(a[1])) size[a[0]] = size[a[1]] * a[2];
            break;
        case OP_TYPE_ARRAY:
            if (na < 3 || !ID_OK(a[0]) || !ID_OK(a[1]) || !ID_OK(a[2])) BAD("shader %s: bad OpTypeArray at word %zu", name, i);
            if (!known[a[2]]) BAD("shader %s: array %u's length (id %u) is no constant this reader evaluates", name, a[0], a[2]);
            size[a[0]] = size[a[1]] * (uint64_t)val[a[2]];
            break;
        case OP_TYPE_STRUCT:
            if (na >= 1 && ID_OK(a[0]))
                for (uint32_t m = 1; m < na; m++) size[a[0]] += ID_OK(a[m]) ? size[a[m]] : 0;
            break;
        case OP_TYPE_POINTER:
            if (na >= 3 && ID_OK(a[0])) ptr_to[a[0]] = a[2];
            break;
        case OP_CONSTANT_TRUE: case OP_CONSTANT_FALSE: case OP_SPEC_TRUE: case OP_SPEC_FALSE:
            if (na >= 2 && ID_OK(a[1])) {
                uint32_t v = op == OP_CONSTANT_TRUE || op == OP_SPEC_TRUE;
                if ((op == OP_SPEC_TRUE || op == OP_SPEC_FALSE) && spec_id[a[1]] && spec_id[a[1]] - 1 < n_spec)
                    v = spec[spec_id[a[1]] - 1] != 0;
                val[a[1]] = v, known[a[1]] = 1;
            }
            break;
        case OP_CONSTANT: case OP_SPEC_CONSTANT: /* the low word: 32-bit constants */
            if (na >= 3 && ID_OK(a[1])) {
                uint32_t v = a[2];
                if (op == OP_SPEC_CONSTANT && spec_id[a[1]] && spec_id[a[1]] - 1 < n_spec) v = spec[spec_id[a[1]] - 1];
                val[a[1]] = v, known[a[1]] = 1;
            }
            break;
        case OP_CONSTANT_COMPOSITE: case OP_SPEC_COMPOSITE:
            if (na >= 2 && ID_OK(a[1])) comp[a[1]] = (uint32_t)i;
            break;
        case OP_SPEC_OP: {
            if (na < 4 || !ID_OK(a[1])) BAD("shader %s: bad OpSpecConstantOp at word %zu", name, i);
            const uint32_t sub = a[2];
            uint32_t r = 0;
            if (sub == 81) { /* OpCompositeExtract: composite, one index */
                const uint32_t c = a[3];
                if (na != 5 || !ID_OK(c) || !comp[c] || a[4] + 3 >= (code[comp[c]] >> 16))
                    BAD("shader %s: OpSpecConstantOp CompositeExtract at word %zu: not evaluated", name, i);
                const uint32_t e = code[comp[c] + 3 + a[4]];
                if (!ID_OK(e) || !known[e]) BAD("shader %s: composite %u's member %u is no known constant", name, c, a[4]);
                r = val[e];
            } else {
                uint32_t o[3] = {0, 0, 0};
                for (uint32_t k = 0; k < 3 && 3 + k < na; k++) {
                    if (!ID_OK(a[3 + k]) || !known[a[3 + k]])
                        BAD("shader %s: OpSpecConstantOp at word %zu: operand %u is no known constant", name, i, a[3 + k]);
                    o[k] = val[a[3 + k]];
                }
                if (!spec_op(sub, o[0], o[1], o[2], &r))
                    BAD("shader %s: OpSpecConstantOp %u at word %zu: an operation this reader does not evaluate "
                        "(runtime/spirv_shared.c)", name, sub, i);
            }
            val[a[1]] = r, known[a[1]] = 1;
            break;
        }
        case OP_VARIABLE:
            if (na >= 3 && a[2] == SC_WORKGROUP && ID_OK(a[0]) && ID_OK(ptr_to[a[0]])) total += size[ptr_to[a[0]]];
            break;
        default:
            break;
        }
        i += wc;
    }
#undef BAD
#undef ID_OK
    *out = total;
out:
    free(val);
    free(spec_id);
    free(comp);
    free(ptr_to);
    free(size);
    free(known);
    return st;
}
