// "The last workgroup finishes": the pattern of the kernels whose end needs
// every workgroup's results (ffn_out.comp: the norms of whole vectors;
// attn.comp with MERGE: the merge of a KV head's splits).
//
// LAST_GROUP(COUNTER, N), a statement in main: the workgroup publishes its
// buffer writes (the including shader declares those buffers and COUNTER's
// `coherent`), then counts itself in COUNTER, a uint of a buffer; every
// workgroup but the one whose count reaches N returns from main there. The
// last one goes on and sees every other's writes. No workgroup ever waits
// for another, so nothing assumes forward progress between workgroups.
// LAST_GROUP_RESET(COUNTER), at the end of the last workgroup's work, sets
// the counter back to zero for the next dispatch (the host creates counters
// zero: memory.h).
// LAST_GROUP holds barriers: it must sit in workgroup-uniform control flow.
shared bool lg_last;
#define LAST_GROUP(COUNTER, N)                                                                   \
    memoryBarrierBuffer();                                                                       \
    barrier();                                                                                   \
    if (gl_LocalInvocationIndex == 0u) lg_last = atomicAdd(COUNTER, 1u) == (N) - 1u;             \
    barrier();                                                                                   \
    if (!lg_last) return;                                                                        \
    memoryBarrierBuffer() /* the other workgroups' writes are visible past their count */
#define LAST_GROUP_RESET(COUNTER) \
    if (gl_LocalInvocationIndex == 0u) COUNTER = 0u
