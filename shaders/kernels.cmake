# The one list of compute kernels and their variants. Adding a kernel: its
# .comp + .h (host description) in this folder, one line here, its call
# site in runtime/ops.c.
#          name            source              variant defines
mkv_kernel(embed           embed.comp)
mkv_kernel(rmsnorm         rmsnorm.comp)
mkv_kernel(matvec          matvec.comp)
mkv_kernel(matvec_swiglu   matvec.comp         DEFINES SWIGLU)
mkv_kernel(matvec_swiglu_meki matvec.comp      DEFINES SWIGLU_MEKI)
mkv_kernel(rope_kv         rope_kv.comp)
mkv_kernel(attn            attn.comp)
mkv_kernel(attn_combine    attn_combine.comp)
mkv_kernel(ffn_out         ffn_out.comp)
mkv_kernel(ffn_out_meki    ffn_out.comp        DEFINES MEKI)
mkv_kernel(argmax          argmax.comp)
mkv_kernel(argmax_final    argmax.comp         DEFINES FINAL)
mkv_kernel(matmul          matmul.comp)
mkv_kernel(matmul_swiglu   matmul.comp         DEFINES SWIGLU)
mkv_kernel(bw_probe        bw_probe.comp)
