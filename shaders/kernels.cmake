# The one list of compute kernels and their variants. Adding a kernel: its
# .comp + .h (host description) in this folder, one line here, its call
# site. TYPED builds one variant per weight type of MKV_WTYPES (NAME_f16,
# NAME_q4_0, ...; the shader includes "wtype.glsl", which is wt_<type>.glsl);
# TEXEL also NAME_tb_<type>, reading weights and input as texel buffers
# (wt_bind.glsl; runtime/tunables.h picks one per device).
# Adding a weight type: wt_<type>.glsl, its layout in wtype_layout.h, its
# entry here and in runtime/wtype.c.
set(MKV_WTYPES f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q5_k q6_k)
#          name               source             variants
mkv_kernel(embed              embed.comp         TYPED)
mkv_kernel(rmsnorm            rmsnorm.comp)
mkv_kernel(rmsnorm_add        rmsnorm.comp       DEFINES ADD)
mkv_kernel(rmsnorm_last       rmsnorm.comp       DEFINES LAST)
mkv_kernel(rmsnorm_add_norm   rmsnorm.comp       DEFINES ADD_NORM)
mkv_kernel(rmsnorm_tb         rmsnorm.comp       DEFINES WT_TEXEL)
mkv_kernel(rmsnorm_add_tb     rmsnorm.comp       DEFINES ADD WT_TEXEL)
mkv_kernel(rmsnorm_last_tb    rmsnorm.comp       DEFINES LAST WT_TEXEL)
mkv_kernel(rmsnorm_add_norm_tb rmsnorm.comp      DEFINES ADD_NORM WT_TEXEL)
mkv_kernel(matvec             matvec.comp        TYPED TEXEL)
mkv_kernel(matvec_swiglu      matvec.comp        TYPED TEXEL DEFINES SWIGLU)
mkv_kernel(matvec_swiglu_meki matvec.comp        TYPED TEXEL DEFINES SWIGLU_MEKI)
mkv_kernel(rope_kv            rope_kv.comp)
mkv_kernel(rope_kv_q8         rope_kv.comp       DEFINES KV_Q8)
mkv_kernel(rope_kv_tb         rope_kv.comp       DEFINES WT_TEXEL)
mkv_kernel(rope_kv_q8_tb      rope_kv.comp       DEFINES KV_Q8 WT_TEXEL)
mkv_kernel(attn               attn.comp)
mkv_kernel(attn_tb            attn.comp          DEFINES WT_TEXEL)
mkv_kernel(attn_q8            attn.comp          DEFINES KV_Q8)
mkv_kernel(attn_q8_tb         attn.comp          DEFINES KV_Q8 WT_TEXEL)
mkv_kernel(attn_combine       attn_combine.comp)
mkv_kernel(attn_combine_tb    attn_combine.comp  DEFINES WT_TEXEL)
mkv_kernel(ffn_out            ffn_out.comp       TYPED TEXEL)
mkv_kernel(ffn_out_meki       ffn_out.comp       TYPED TEXEL DEFINES MEKI)
mkv_kernel(mm                 mm.comp            TYPED TEXEL)
mkv_kernel(ffn_act            ffn_act.comp)
mkv_kernel(ffn_act_tb         ffn_act.comp       DEFINES WT_TEXEL)
mkv_kernel(meki_v             meki_v.comp)
mkv_kernel(argmax             argmax.comp)
mkv_kernel(argmax_tb          argmax.comp        DEFINES WT_TEXEL)
mkv_kernel(argmax_final       argmax.comp        DEFINES FINAL)
mkv_kernel(matmul             matmul.comp)
mkv_kernel(matmul_swiglu      matmul.comp        DEFINES SWIGLU)
mkv_kernel(bw_probe           bw_probe.comp)
mkv_kernel(bw_probe_run       bw_probe.comp      DEFINES RUN)
mkv_kernel(bw_probe_grid      bw_probe.comp      DEFINES GRID)
mkv_kernel(bw_probe_tb        bw_probe.comp      DEFINES WT_TEXEL)
mkv_kernel(bw_probe_run_tb    bw_probe.comp      DEFINES RUN WT_TEXEL)
mkv_kernel(bw_probe_grid_tb   bw_probe.comp      DEFINES GRID WT_TEXEL)
