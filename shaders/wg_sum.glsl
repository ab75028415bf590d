// Sum of v over the workgroup (every invocation gets it): subgroupAdd,
// then one partial per subgroup through shared memory (on one-subgroup
// workgroups, lavapipe's, that adds two barriers that cost little: no other
// subgroup to switch to). Needs GL_KHR_shader_subgroup_arithmetic; every
// invocation of the workgroup must call it (it holds barriers).
shared float wg_sum_red[gl_WorkGroupSize.x];
float workgroup_sum(float v)
{
    const float s = subgroupAdd(v);
    barrier(); // wg_sum_red may still be read from a previous call
    if (subgroupElect()) wg_sum_red[gl_SubgroupID] = s;
    barrier();
    float t = 0.0;
    for (uint i = 0u; i < gl_NumSubgroups; i++) t += wg_sum_red[i];
    return t;
}

// The maximum of v over the workgroup, as workgroup_sum (the same scratch).
float workgroup_max(float v)
{
    const float s = subgroupMax(v);
    barrier();
    if (subgroupElect()) wg_sum_red[gl_SubgroupID] = s;
    barrier();
    float t = s;
    for (uint i = 0u; i < gl_NumSubgroups; i++) t = max(t, wg_sum_red[i]);
    return t;
}
