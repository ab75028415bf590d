/* How ffn_out_meki reads W_mo (shared by the C side, model.c stores it,
 * and ffn_out.comp). Plain #defines only: both C and GLSL include it.
 *
 * W_mo (d_model rows of d_mem) is stored transposed and in bands: band b
 * holds outputs 8 MKV_WMO_BAND b .. + 8 MKV_WMO_BAND - 1 for every k, as
 * an F16 matrix row of d_mem runs of 8 MKV_WMO_BAND halves: element (k, o)
 * of the band, output o of it, at half k * 8 MKV_WMO_BAND + o (outputs past
 * d_model are 0). In 16-byte chunks of 8 outputs: chunk j of k at
 * (j / MKV_WMO_BAND) * d_mem * MKV_WMO_BAND + k * MKV_WMO_BAND + j % MKV_WMO_BAND.
 * A workgroup's outputs for every k then lie in one run of memory instead
 * of d_mem rows a whole transposed row apart: on lavapipe those scattered
 * reads missed the cache one after the other (q4_0 decode: W_mo's loads
 * 1.26 ms per token for 3.7 MB). */
#ifndef MKV_WMO_LAYOUT_H
#define MKV_WMO_LAYOUT_H

#define MKV_WMO_BAND 8u /* chunks of 8 outputs a band holds */

#endif
