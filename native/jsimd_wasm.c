/*
 * jsimd_wasm.c - WebAssembly SIMD (simd128) kernels for libjpeg-turbo's decompressor
 *
 * Replaces jsimd_none.c in a wasm32 build (clang --target=wasm32-wasi -msimd128) of libjpeg-turbo 2.1.5.
 * It implements, with <wasm_simd128.h>:
 *   - jsimd_idct_islow: the accurate integer inverse DCT (jidctint.c, JDCT_ISLOW, the default);
 *   - jsimd_ycc_rgb_convert: YCbCr -> RGB colour conversion (jdcolext.c) for every RGB/RGBX-like output
 *     colour space (3 or 4 bytes a pixel, any channel order);
 *   - jsimd_h2v2_fancy_upsample and jsimd_h2v1_fancy_upsample: "fancy" (triangle filter) chroma
 *     upsampling (jdsample.c) for 4:2:0 and 4:2:2.
 * Every other jsimd_* entry point behaves exactly as in jsimd_none.c (jsimd_can_* returns 0, so that
 * libjpeg-turbo uses its C code).
 *
 * The output is bit-identical to the C code's, for every input, not only for well-formed images:
 *   - The IDCT repeats jidctint.c's integer arithmetic exactly.  On wasm32 JLONG (long) and int are 32
 *     bits wide, so the C code computes modulo 2^32 (its signed overflow wraps in the generated code, as
 *     i32.add/i32.mul do), and so does this code in i32x4 lanes.  Addition, subtraction and multiplication
 *     modulo 2^32 form a ring, so regrouping them (folding the rounding constants in early) changes
 *     nothing; the right shifts and the final range limiting are done exactly where the C code does them.
 *     jidctint.c's short cuts for all-zero columns and rows are exact for sane data; where they are not
 *     (huge coefficients make the full formula overflow) this code detects it and uses the short cut's
 *     value, as the C code does.  The range-limit table lookup "range_limit[x & RANGE_MASK]" is computed
 *     arithmetically (see idct_store_rows()).
 *   - Colour conversion and upsampling use formulas that equal the C code's table lookups and integer
 *     expressions for every possible 8-bit input (proved by algebra or, for the R channel, by checking all
 *     256 inputs; see the comments).
 *
 * Buffer assumptions (the same ones libjpeg-turbo's own SIMD code makes, but weaker): sample rows
 * allocated by alloc_sarray() (jmemmgr.c) are padded to a multiple of 2 * ALIGN_SIZE >= 16 bytes, so a
 * 16-byte load that starts inside a row's used part stays inside the row.  The upsampling functions
 * write whole 16-byte vectors into their (library-owned) output rows, never past the padded end; colour
 * conversion writes exactly output_width pixels into the caller's row.
 *
 * Based on jsimd_none.c, Copyright 2009 Pierre Ossman for Cendio AB, Copyright (C) 2009-2011, 2014, 2022,
 * D. R. Commander, Copyright (C) 2015-2016, 2018, 2022, Matthieu Darbois, Copyright (C) 2020, Arm Limited,
 * and on the algorithms of jidctint.c, jdcolext.c and jdsample.c (Thomas G. Lane, IJG; D. R. Commander)
 * and simd/arm/jidctint-neon.c etc. (Arm Limited).  For conditions of distribution and use, see
 * libjpeg-turbo's LICENSE.md (IJG License and Modified (3-clause) BSD License).
 */

#define JPEG_INTERNALS
#include "jinclude.h"
#include "jpeglib.h"
#include "jsimd.h"
#include "jdct.h"
#include "jsimddct.h"

#include <wasm_simd128.h>

#if !defined(__wasm_simd128__)
#error "jsimd_wasm.c needs -msimd128"
#endif


/*************************** Colour conversion: YCbCr -> RGB ****************************/

/*
 * jdcolor.c's ycc_rgb_convert() computes, with x = Cb - 128 or Cr - 128 (-128..127):
 *   R = range_limit[Y + Cr_r_tab[Cr]],  Cr_r_tab = (91881 * x + 32768) >> 16
 *   B = range_limit[Y + Cb_b_tab[Cb]],  Cb_b_tab = (116130 * x + 32768) >> 16
 *   G = range_limit[Y + ((Cb_g_tab[Cb] + Cr_g_tab[Cr]) >> 16)]
 *     = range_limit[Y + ((-22554 * xb - 46802 * xr + 32768) >> 16)]
 * (FIX(1.40200) = 91881, FIX(1.77200) = 116130, FIX(0.34414) = 22554, FIX(0.71414) = 46802), where
 * range_limit[] clamps to 0..255 (the sums lie in -227..480, inside the table's "simple" part).
 *
 * Here, with q15mulr(a, b) = (a * b + 2^14) >> 15 (i16x8.q15mulr_sat_s; no saturation happens for these
 * operands):
 *   B - Y = x + q15mulr(x, 25297):  116130 = 65536 + 2 * 25297, so
 *           (116130 x + 2^15) >> 16 = x + ((2 * 25297 x + 2^15) >> 16) = x + ((25297 x + 2^14) >> 15).
 *   R - Y = x + q15mulr(x, 13173):  91881 = 65536 + 26345, and 26345 is odd, so this is not an algebraic
 *           identity, but it holds for all 256 values of x (checked exhaustively; any of 13172..13178 does).
 *   G - Y = high 16 bits of (dot(xb, 2 xr; -22554, -23401) + 32768), with i32x4.dot_i16x8_s, exact in
 *           32 bits; taking the high half of a 32-bit lane is an arithmetic shift right by 16.
 * Y + (R - Y) etc. lie in -227..480, and narrowing i16 to u8 with unsigned saturation clamps to 0..255.
 */

#define YCC_R_Q15  13173
#define YCC_B_Q15  25297
#define YCC_G_CB   (-22554)
#define YCC_G_CR2  (-23401)     /* applied to 2 * (Cr - 128): 2 * 23401 = 46802 */

/* Interleaves two u8x16 vectors bytewise: a0 b0 a1 b1 ... (low) and a8 b8 ... (high). */
#define ZIP8_LO(a, b)  wasm_i8x16_shuffle(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)
#define ZIP8_HI(a, b) \
  wasm_i8x16_shuffle(a, b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)
/* Interleaves two i16x8 vectors lanewise. */
#define ZIP16_LO(a, b)  wasm_i16x8_shuffle(a, b, 0, 8, 1, 9, 2, 10, 3, 11)
#define ZIP16_HI(a, b)  wasm_i16x8_shuffle(a, b, 4, 12, 5, 13, 6, 14, 7, 15)
/* The high 16 bits of each 32-bit lane of a, then of b, as i16x8 (= (x >> 16) for each lane). */
#define HIGH16(a, b)  wasm_i16x8_shuffle(a, b, 1, 3, 5, 7, 9, 11, 13, 15)

/* R, G and B of 16 pixels from 16 bytes each of Y, Cb and Cr. */
static INLINE void ycc_rgb16(const JSAMPLE *yp, const JSAMPLE *cbp, const JSAMPLE *crp,
                             v128_t *r, v128_t *g, v128_t *b)
{
  const v128_t y = wasm_v128_load(yp);
  /* x - 128 as a signed byte is x ^ 0x80; then sign-extend to 16 bits */
  const v128_t cb = wasm_v128_xor(wasm_v128_load(cbp), wasm_i8x16_splat((int8_t)0x80));
  const v128_t cr = wasm_v128_xor(wasm_v128_load(crp), wasm_i8x16_splat((int8_t)0x80));
  const v128_t y_l = wasm_u16x8_extend_low_u8x16(y), y_h = wasm_u16x8_extend_high_u8x16(y);
  const v128_t cb_l = wasm_i16x8_extend_low_i8x16(cb), cb_h = wasm_i16x8_extend_high_i8x16(cb);
  const v128_t cr_l = wasm_i16x8_extend_low_i8x16(cr), cr_h = wasm_i16x8_extend_high_i8x16(cr);

  const v128_t kr = wasm_i16x8_splat(YCC_R_Q15), kb = wasm_i16x8_splat(YCC_B_Q15);
  v128_t r_l = wasm_i16x8_add(cr_l, wasm_i16x8_q15mulr_sat(cr_l, kr));
  v128_t r_h = wasm_i16x8_add(cr_h, wasm_i16x8_q15mulr_sat(cr_h, kr));
  v128_t b_l = wasm_i16x8_add(cb_l, wasm_i16x8_q15mulr_sat(cb_l, kb));
  v128_t b_h = wasm_i16x8_add(cb_h, wasm_i16x8_q15mulr_sat(cb_h, kb));

  /* G - Y: pairs (Cb - 128, 2 (Cr - 128)) times (-22554, -23401), plus 1/2, high halves */
  const v128_t kg = wasm_i32x4_splat((int32_t)((uint32_t)(uint16_t)YCC_G_CB |
                                               ((uint32_t)(uint16_t)YCC_G_CR2 << 16)));
  const v128_t half = wasm_i32x4_splat(32768);
  const v128_t cr2_l = wasm_i16x8_add(cr_l, cr_l), cr2_h = wasm_i16x8_add(cr_h, cr_h);
  v128_t g0 = wasm_i32x4_add(wasm_i32x4_dot_i16x8(ZIP16_LO(cb_l, cr2_l), kg), half);
  v128_t g1 = wasm_i32x4_add(wasm_i32x4_dot_i16x8(ZIP16_HI(cb_l, cr2_l), kg), half);
  v128_t g2 = wasm_i32x4_add(wasm_i32x4_dot_i16x8(ZIP16_LO(cb_h, cr2_h), kg), half);
  v128_t g3 = wasm_i32x4_add(wasm_i32x4_dot_i16x8(ZIP16_HI(cb_h, cr2_h), kg), half);
  v128_t g_l = HIGH16(g0, g1), g_h = HIGH16(g2, g3);

  *r = wasm_u8x16_narrow_i16x8(wasm_i16x8_add(r_l, y_l), wasm_i16x8_add(r_h, y_h));
  *g = wasm_u8x16_narrow_i16x8(wasm_i16x8_add(g_l, y_l), wasm_i16x8_add(g_h, y_h));
  *b = wasm_u8x16_narrow_i16x8(wasm_i16x8_add(b_l, y_l), wasm_i16x8_add(b_h, y_h));
}

/* Stores 16 pixels of channels c[0..size-1] interleaved (64 or 48 bytes). */
static INLINE void store_pixels16(JSAMPLE *out, const v128_t *c, const int size)
{
  if (size == 4) {
    v128_t c01_l = ZIP8_LO(c[0], c[1]), c01_h = ZIP8_HI(c[0], c[1]);
    v128_t c23_l = ZIP8_LO(c[2], c[3]), c23_h = ZIP8_HI(c[2], c[3]);
    wasm_v128_store(out, ZIP16_LO(c01_l, c23_l));
    wasm_v128_store(out + 16, ZIP16_HI(c01_l, c23_l));
    wasm_v128_store(out + 32, ZIP16_LO(c01_h, c23_h));
    wasm_v128_store(out + 48, ZIP16_HI(c01_h, c23_h));
  } else {
    /* p = c[0], q = c[1], s = c[2]: p0 q0 s0 p1 q1 s1 ... p15 q15 s15 */
    v128_t pq_l = ZIP8_LO(c[0], c[1]), pq_h = ZIP8_HI(c[0], c[1]);
    /* p0 q0 s0 p1 q1 s1 p2 q2 s2 p3 q3 s3 p4 q4 s4 p5 */
    wasm_v128_store(out, wasm_i8x16_shuffle(pq_l, c[2], 0, 1, 16, 2, 3, 17, 4, 5, 18, 6, 7, 19, 8, 9,
                                            20, 10));
    /* q5 p6 q6 p7 q7 p8 q8 p9 q9 p10 q10, then q5 s5 p6 q6 s6 ... p10 q10 */
    v128_t t = wasm_i8x16_shuffle(pq_l, pq_h, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 0, 0, 0, 0, 0);
    wasm_v128_store(out + 16, wasm_i8x16_shuffle(t, c[2], 0, 21, 1, 2, 22, 3, 4, 23, 5, 6, 24, 7, 8, 25,
                                                 9, 10));
    /* s10 p11 q11 s11 ... p15 q15 s15 */
    wasm_v128_store(out + 32, wasm_i8x16_shuffle(pq_h, c[2], 26, 6, 7, 27, 8, 9, 28, 10, 11, 29, 12,
                                                 13, 30, 14, 15, 31));
  }
}

/*
 * Converts num_rows rows to pixels of `size` bytes with R, G, B at byte offsets ro, go, bo and, if
 * size is 4, 0xFF (MAXJSAMPLE, as jdcolext.c writes) in the remaining byte.  Called with constant
 * arguments, so that each colour space gets its own specialised loop.
 */
static INLINE void ycc_rgb_rows(JDIMENSION width, JSAMPIMAGE input_buf, JDIMENSION input_row,
                                JSAMPARRAY output_buf, int num_rows, const int size, const int ro,
                                const int go, const int bo)
{
  while (--num_rows >= 0) {
    const JSAMPLE *inptr0 = input_buf[0][input_row];
    const JSAMPLE *inptr1 = input_buf[1][input_row];
    const JSAMPLE *inptr2 = input_buf[2][input_row];
    JSAMPLE *outptr = *output_buf++;
    JDIMENSION col;
    v128_t c[4];
    input_row++;
    for (col = 0; col + 16 <= width; col += 16) {
      ycc_rgb16(inptr0 + col, inptr1 + col, inptr2 + col, &c[ro], &c[go], &c[bo]);
      if (size == 4) c[6 - ro - go - bo] = wasm_i8x16_splat((int8_t)MAXJSAMPLE);
      store_pixels16(outptr + col * size, c, size);
    }
    if (col < width) {
      /* The last 1..15 pixels: the input rows are padded (16-byte loads are safe, see the top of the
       * file), but the output row is the caller's, so go through a buffer. */
      JSAMPLE buf[64];
      ycc_rgb16(inptr0 + col, inptr1 + col, inptr2 + col, &c[ro], &c[go], &c[bo]);
      if (size == 4) c[6 - ro - go - bo] = wasm_i8x16_splat((int8_t)MAXJSAMPLE);
      store_pixels16(buf, c, size);
      memcpy(outptr + col * size, buf, (width - col) * size);
    }
  }
}

GLOBAL(int)
jsimd_can_rgb_ycc(void)
{
  return 0;
}

GLOBAL(int)
jsimd_can_rgb_gray(void)
{
  return 0;
}

GLOBAL(int)
jsimd_can_ycc_rgb(void)
{
  /* jsimd_ycc_rgb_convert() handles every colour space that jdcolor.c sends it */
  if (BITS_IN_JSAMPLE != 8 || (RGB_PIXELSIZE != 3 && RGB_PIXELSIZE != 4))
    return 0;
  return 1;
}

GLOBAL(int)
jsimd_can_ycc_rgb565(void)
{
  return 0;
}

GLOBAL(int)
jsimd_c_can_null_convert(void)
{
  return 0;
}

GLOBAL(void)
jsimd_rgb_ycc_convert(j_compress_ptr cinfo, JSAMPARRAY input_buf,
                      JSAMPIMAGE output_buf, JDIMENSION output_row,
                      int num_rows)
{
}

GLOBAL(void)
jsimd_rgb_gray_convert(j_compress_ptr cinfo, JSAMPARRAY input_buf,
                       JSAMPIMAGE output_buf, JDIMENSION output_row,
                       int num_rows)
{
}

GLOBAL(void)
jsimd_ycc_rgb_convert(j_decompress_ptr cinfo, JSAMPIMAGE input_buf,
                      JDIMENSION input_row, JSAMPARRAY output_buf,
                      int num_rows)
{
  JDIMENSION w = cinfo->output_width;

  /* one specialised loop per pixel layout, as jdcolor.c has */
#define YCC_RGB(LAYOUT) \
  ycc_rgb_rows(w, input_buf, input_row, output_buf, num_rows, LAYOUT##_PIXELSIZE, LAYOUT##_RED, \
               LAYOUT##_GREEN, LAYOUT##_BLUE)
  switch (cinfo->out_color_space) {
  case JCS_EXT_RGB: YCC_RGB(EXT_RGB); break;
  case JCS_EXT_RGBX: case JCS_EXT_RGBA: YCC_RGB(EXT_RGBX); break;
  case JCS_EXT_BGR: YCC_RGB(EXT_BGR); break;
  case JCS_EXT_BGRX: case JCS_EXT_BGRA: YCC_RGB(EXT_BGRX); break;
  case JCS_EXT_XBGR: case JCS_EXT_ABGR: YCC_RGB(EXT_XBGR); break;
  case JCS_EXT_XRGB: case JCS_EXT_ARGB: YCC_RGB(EXT_XRGB); break;
  default: YCC_RGB(RGB); break; /* JCS_RGB */
  }
#undef YCC_RGB
}

GLOBAL(void)
jsimd_ycc_rgb565_convert(j_decompress_ptr cinfo, JSAMPIMAGE input_buf,
                         JDIMENSION input_row, JSAMPARRAY output_buf,
                         int num_rows)
{
}

GLOBAL(void)
jsimd_c_null_convert(j_compress_ptr cinfo, JSAMPARRAY input_buf,
                     JSAMPIMAGE output_buf, JDIMENSION output_row,
                     int num_rows)
{
}

GLOBAL(int)
jsimd_can_h2v2_downsample(void)
{
  return 0;
}

GLOBAL(int)
jsimd_can_h2v1_downsample(void)
{
  return 0;
}

GLOBAL(int)
jsimd_can_h2v2_smooth_downsample(void)
{
  return 0;
}

GLOBAL(void)
jsimd_h2v2_downsample(j_compress_ptr cinfo, jpeg_component_info *compptr,
                      JSAMPARRAY input_data, JSAMPARRAY output_data)
{
}

GLOBAL(void)
jsimd_h2v2_smooth_downsample(j_compress_ptr cinfo,
                             jpeg_component_info *compptr,
                             JSAMPARRAY input_data, JSAMPARRAY output_data)
{
}

GLOBAL(void)
jsimd_h2v1_downsample(j_compress_ptr cinfo, jpeg_component_info *compptr,
                      JSAMPARRAY input_data, JSAMPARRAY output_data)
{
}

GLOBAL(int)
jsimd_can_h2v2_upsample(void)
{
  return 0;
}

GLOBAL(int)
jsimd_can_h2v1_upsample(void)
{
  return 0;
}

GLOBAL(int)
jsimd_can_int_upsample(void)
{
  return 0;
}

GLOBAL(void)
jsimd_int_upsample(j_decompress_ptr cinfo, jpeg_component_info *compptr,
                   JSAMPARRAY input_data, JSAMPARRAY *output_data_ptr)
{
}

GLOBAL(void)
jsimd_h2v2_upsample(j_decompress_ptr cinfo, jpeg_component_info *compptr,
                    JSAMPARRAY input_data, JSAMPARRAY *output_data_ptr)
{
}

GLOBAL(void)
jsimd_h2v1_upsample(j_decompress_ptr cinfo, jpeg_component_info *compptr,
                    JSAMPARRAY input_data, JSAMPARRAY *output_data_ptr)
{
}


/******************************** Fancy upsampling ********************************/

/*
 * jdsample.c's h2v1_fancy_upsample() and h2v2_fancy_upsample() compute, for input column j of a
 * downsampled row (0 <= j < w, w = downsampled_width >= 2), the output pixels 2j and 2j+1:
 *   h2v1: out[2j] = (3 s[j] + s[j-1] + 1) >> 2,   out[2j+1] = (3 s[j] + s[j+1] + 2) >> 2
 *   h2v2: out[2j] = (3 s[j] + s[j-1] + 8) >> 4,   out[2j+1] = (3 s[j] + s[j+1] + 7) >> 4
 * where for h2v1 s = the input row and for h2v2 s[j] = 3 * nearer[j] + further[j] (the "column sum" of
 * the nearer input row and the one above or below).  Its special cases for the first and last column,
 * out[0] = s[0] (h2v1) or (4 s[0] + 8) >> 4 (h2v2) and out[2w-1] = s[w-1] or (4 s[w-1] + 7) >> 4, are
 * the general formulas with s[-1] = s[0] and s[w] = s[w-1].
 *
 * Here the same formulas run in 16-bit lanes (at most 3 * 1020 + 1020 + 8 = 4088: no overflow), on 16
 * input columns at a time, with s[j-1] and s[j+1] shifted in from the neighbouring vectors.  s[-1] is
 * s[0] (the first vector's lane 0 repeated); out[2w-1], the one output that would need s[w], is
 * recomputed by the scalar formula after the loop.  Columns w and beyond of the last vector come from the
 * row's padding: the outputs they produce lie past out[2w-1] and are either not stored or stored into
 * the output row's padding (each 16-byte store is made only if it holds a real output, so it ends within
 * the row rounded up to 16 bytes, which the row's allocation covers).
 */

/* s[j-1] for the lanes j of cur, where prev holds the 8 columns before cur */
#define SHIFT_PREV(prev, cur)  wasm_i16x8_shuffle(prev, cur, 7, 8, 9, 10, 11, 12, 13, 14)
/* s[j+1] for the lanes j of cur, where next holds the 8 columns after cur */
#define SHIFT_NEXT(cur, next)  wasm_i16x8_shuffle(cur, next, 1, 2, 3, 4, 5, 6, 7, 8)

/* The column sums s (16-bit) of 16 columns: s = near * 3 + far (h2v2, shift 4), or s = near (h2v1) */
static INLINE void colsum16(const JSAMPLE *near, const JSAMPLE *far, v128_t *lo, v128_t *hi,
                            const int shift)
{
  v128_t n = wasm_v128_load(near);
  if (shift == 4) {
    v128_t f = wasm_v128_load(far);
    const v128_t three = wasm_i8x16_splat(3);
    *lo = wasm_i16x8_add(wasm_u16x8_extmul_low_u8x16(n, three), wasm_u16x8_extend_low_u8x16(f));
    *hi = wasm_i16x8_add(wasm_u16x8_extmul_high_u8x16(n, three), wasm_u16x8_extend_high_u8x16(f));
  } else {
    *lo = wasm_u16x8_extend_low_u8x16(n);
    *hi = wasm_u16x8_extend_high_u8x16(n);
  }
}

/*
 * One output row from the input row `near` (and, for h2v2, `far`): w input columns, 2w output pixels.
 * shift is 2 (h2v1) or 4 (h2v2); the rounding terms are 1, 2 (h2v1) or 8, 7 (h2v2).
 */
static INLINE void fancy_row(const JSAMPLE *near, const JSAMPLE *far, JSAMPLE *out, JDIMENSION w,
                             const int shift)
{
  const v128_t round_even = wasm_i16x8_splat(shift == 4 ? 8 : 1);
  const v128_t round_odd = wasm_i16x8_splat(shift == 4 ? 7 : 2);
  v128_t cur_l, cur_h, next_l, next_h, prev_h;
  JDIMENSION col;
  int last;

  colsum16(near, far, &cur_l, &cur_h, shift);
  prev_h = wasm_i16x8_shuffle(cur_l, cur_l, 0, 0, 0, 0, 0, 0, 0, 0);   /* s[-1] = s[0] */
  for (col = 0; col < w; col += 16) {
    v128_t t_l, t_h, even_l, even_h, odd_l, odd_h, even, odd;
    if (col + 16 < w)
      colsum16(near + col + 16, far + col + 16, &next_l, &next_h, shift);
    else
      next_l = next_h = cur_h;  /* only feeds outputs at 2w-1 and beyond */
    t_l = wasm_i16x8_mul(cur_l, wasm_i16x8_splat(3));
    t_h = wasm_i16x8_mul(cur_h, wasm_i16x8_splat(3));
    even_l = wasm_u16x8_shr(wasm_i16x8_add(wasm_i16x8_add(t_l, round_even), SHIFT_PREV(prev_h, cur_l)),
                            shift);
    even_h = wasm_u16x8_shr(wasm_i16x8_add(wasm_i16x8_add(t_h, round_even), SHIFT_PREV(cur_l, cur_h)),
                            shift);
    odd_l = wasm_u16x8_shr(wasm_i16x8_add(wasm_i16x8_add(t_l, round_odd), SHIFT_NEXT(cur_l, cur_h)),
                           shift);
    odd_h = wasm_u16x8_shr(wasm_i16x8_add(wasm_i16x8_add(t_h, round_odd), SHIFT_NEXT(cur_h, next_l)),
                           shift);
    /* all values are 0..255: narrowing is exact */
    even = wasm_u8x16_narrow_i16x8(even_l, even_h);
    odd = wasm_u8x16_narrow_i16x8(odd_l, odd_h);
    wasm_v128_store(out + 2 * col, ZIP8_LO(even, odd));
    if (col + 8 < w)
      wasm_v128_store(out + 2 * col + 16, ZIP8_HI(even, odd));
    prev_h = cur_h;
    cur_l = next_l;
    cur_h = next_h;
  }
  /* out[2w-1] with s[w] = s[w-1] (w > 2: jdsample.c upsamples narrower rows without smoothing) */
  last = shift == 4 ? near[w - 1] * 3 + far[w - 1] : near[w - 1];
  out[2 * w - 1] = (JSAMPLE)((last * 4 + (shift == 4 ? 7 : 2)) >> shift);
}

GLOBAL(int)
jsimd_can_h2v2_fancy_upsample(void)
{
  return BITS_IN_JSAMPLE == 8;
}

GLOBAL(int)
jsimd_can_h2v1_fancy_upsample(void)
{
  return BITS_IN_JSAMPLE == 8;
}

GLOBAL(int)
jsimd_can_h1v2_fancy_upsample(void)
{
  return 0;
}

GLOBAL(void)
jsimd_h2v2_fancy_upsample(j_decompress_ptr cinfo, jpeg_component_info *compptr,
                          JSAMPARRAY input_data, JSAMPARRAY *output_data_ptr)
{
  JSAMPARRAY output_data = *output_data_ptr;
  JDIMENSION w = compptr->downsampled_width;
  int inrow, outrow;

  for (inrow = 0, outrow = 0; outrow < cinfo->max_v_samp_factor; inrow++, outrow += 2) {
    /* upper output row: the input row and the one above; lower: the input row and the one below */
    fancy_row(input_data[inrow], input_data[inrow - 1], output_data[outrow], w, 4);
    fancy_row(input_data[inrow], input_data[inrow + 1], output_data[outrow + 1], w, 4);
  }
}

GLOBAL(void)
jsimd_h2v1_fancy_upsample(j_decompress_ptr cinfo, jpeg_component_info *compptr,
                          JSAMPARRAY input_data, JSAMPARRAY *output_data_ptr)
{
  JSAMPARRAY output_data = *output_data_ptr;
  JDIMENSION w = compptr->downsampled_width;
  int inrow;

  for (inrow = 0; inrow < cinfo->max_v_samp_factor; inrow++)
    fancy_row(input_data[inrow], input_data[inrow], output_data[inrow], w, 2);  /* far unused */
}

GLOBAL(void)
jsimd_h1v2_fancy_upsample(j_decompress_ptr cinfo, jpeg_component_info *compptr,
                          JSAMPARRAY input_data, JSAMPARRAY *output_data_ptr)
{
}

GLOBAL(int)
jsimd_can_h2v2_merged_upsample(void)
{
  return 0;
}

GLOBAL(int)
jsimd_can_h2v1_merged_upsample(void)
{
  return 0;
}

GLOBAL(void)
jsimd_h2v2_merged_upsample(j_decompress_ptr cinfo, JSAMPIMAGE input_buf,
                           JDIMENSION in_row_group_ctr, JSAMPARRAY output_buf)
{
}

GLOBAL(void)
jsimd_h2v1_merged_upsample(j_decompress_ptr cinfo, JSAMPIMAGE input_buf,
                           JDIMENSION in_row_group_ctr, JSAMPARRAY output_buf)
{
}

GLOBAL(int)
jsimd_can_convsamp(void)
{
  return 0;
}

GLOBAL(int)
jsimd_can_convsamp_float(void)
{
  return 0;
}

GLOBAL(void)
jsimd_convsamp(JSAMPARRAY sample_data, JDIMENSION start_col,
               DCTELEM *workspace)
{
}

GLOBAL(void)
jsimd_convsamp_float(JSAMPARRAY sample_data, JDIMENSION start_col,
                     FAST_FLOAT *workspace)
{
}

GLOBAL(int)
jsimd_can_fdct_islow(void)
{
  return 0;
}

GLOBAL(int)
jsimd_can_fdct_ifast(void)
{
  return 0;
}

GLOBAL(int)
jsimd_can_fdct_float(void)
{
  return 0;
}

GLOBAL(void)
jsimd_fdct_islow(DCTELEM *data)
{
}

GLOBAL(void)
jsimd_fdct_ifast(DCTELEM *data)
{
}

GLOBAL(void)
jsimd_fdct_float(FAST_FLOAT *data)
{
}

GLOBAL(int)
jsimd_can_quantize(void)
{
  return 0;
}

GLOBAL(int)
jsimd_can_quantize_float(void)
{
  return 0;
}

GLOBAL(void)
jsimd_quantize(JCOEFPTR coef_block, DCTELEM *divisors, DCTELEM *workspace)
{
}

GLOBAL(void)
jsimd_quantize_float(JCOEFPTR coef_block, FAST_FLOAT *divisors,
                     FAST_FLOAT *workspace)
{
}

GLOBAL(int)
jsimd_can_idct_2x2(void)
{
  return 0;
}

GLOBAL(int)
jsimd_can_idct_4x4(void)
{
  return 0;
}

GLOBAL(int)
jsimd_can_idct_6x6(void)
{
  return 0;
}

GLOBAL(int)
jsimd_can_idct_12x12(void)
{
  return 0;
}

GLOBAL(void)
jsimd_idct_2x2(j_decompress_ptr cinfo, jpeg_component_info *compptr,
               JCOEFPTR coef_block, JSAMPARRAY output_buf,
               JDIMENSION output_col)
{
}

GLOBAL(void)
jsimd_idct_4x4(j_decompress_ptr cinfo, jpeg_component_info *compptr,
               JCOEFPTR coef_block, JSAMPARRAY output_buf,
               JDIMENSION output_col)
{
}

GLOBAL(void)
jsimd_idct_6x6(j_decompress_ptr cinfo, jpeg_component_info *compptr,
               JCOEFPTR coef_block, JSAMPARRAY output_buf,
               JDIMENSION output_col)
{
}

GLOBAL(void)
jsimd_idct_12x12(j_decompress_ptr cinfo, jpeg_component_info *compptr,
                 JCOEFPTR coef_block, JSAMPARRAY output_buf,
                 JDIMENSION output_col)
{
}


/******************************** Accurate integer IDCT ********************************/

/*
 * jidctint.c's jpeg_idct_islow(): pass 1 transforms the 8 columns (dequantized coefficients, 32-bit
 * products) into an int workspace, each result DESCALEd by CONST_BITS - PASS1_BITS = 11; pass 2
 * transforms the workspace's 8 rows, DESCALEs by CONST_BITS + PASS1_BITS + 3 = 18 and maps each value v
 * to range_limit[v & RANGE_MASK].  All intermediate values are JLONG or int: 32 bits on wasm32.
 *
 * Here pass 1 runs on 4 columns at a time (one per i32x4 lane, for the left and right halves of the
 * block), the 8x8 workspace is transposed, and pass 2 runs on 4 rows at a time; the 8x8 bytes are then
 * transposed back for the stores.
 */

#define CONST_BITS  13
#define PASS1_BITS  2

#define FIX_0_298631336  2446
#define FIX_0_390180644  3196
#define FIX_0_541196100  4433
#define FIX_0_765366865  6270
#define FIX_0_899976223  7373
#define FIX_1_175875602  9633
#define FIX_1_501321110  12299
#define FIX_1_847759065  15137
#define FIX_1_961570560  16069
#define FIX_2_053119869  16819
#define FIX_2_562915447  20995
#define FIX_3_072711026  25172

#define I32(x)  wasm_i32x4_splat(x)

/*
 * The 1-D IDCT of jpeg_idct_islow() on four independent vectors of 8 values (x[0..7], one per lane), as
 * in the C code term by term, modulo 2^32.  Returns y[k] = (result k + round) >> shift, arithmetic; the
 * C code's DESCALE(v, n) is round = 2^(n-1), shift = n.  round is added to tmp0 and tmp1, from which it
 * reaches every output once (the same sums modulo 2^32).  When the caller passes zero vectors for x[4..7]
 * (or x[1..7]), the compiler drops their terms: multiplying by zero and adding zero change nothing.
 */
static INLINE void idct_1d(const v128_t *x, v128_t *y, int32_t round, const int shift)
{
  v128_t z1, z2, z3, z4, z5, tmp0, tmp1, tmp2, tmp3, tmp10, tmp11, tmp12, tmp13;

  /* Even part */
  z2 = x[2];
  z3 = x[6];
  z1 = wasm_i32x4_mul(wasm_i32x4_add(z2, z3), I32(FIX_0_541196100));
  tmp2 = wasm_i32x4_add(z1, wasm_i32x4_mul(z3, I32(-FIX_1_847759065)));
  tmp3 = wasm_i32x4_add(z1, wasm_i32x4_mul(z2, I32(FIX_0_765366865)));

  /* LEFT_SHIFT() shifts as unsigned long: i32x4.shl is the same modulo 2^32 */
  tmp0 = wasm_i32x4_add(wasm_i32x4_shl(wasm_i32x4_add(x[0], x[4]), CONST_BITS), I32(round));
  tmp1 = wasm_i32x4_add(wasm_i32x4_shl(wasm_i32x4_sub(x[0], x[4]), CONST_BITS), I32(round));

  tmp10 = wasm_i32x4_add(tmp0, tmp3);
  tmp13 = wasm_i32x4_sub(tmp0, tmp3);
  tmp11 = wasm_i32x4_add(tmp1, tmp2);
  tmp12 = wasm_i32x4_sub(tmp1, tmp2);

  /* Odd part */
  tmp0 = x[7];
  tmp1 = x[5];
  tmp2 = x[3];
  tmp3 = x[1];

  z1 = wasm_i32x4_add(tmp0, tmp3);
  z2 = wasm_i32x4_add(tmp1, tmp2);
  z3 = wasm_i32x4_add(tmp0, tmp2);
  z4 = wasm_i32x4_add(tmp1, tmp3);
  z5 = wasm_i32x4_mul(wasm_i32x4_add(z3, z4), I32(FIX_1_175875602));

  tmp0 = wasm_i32x4_mul(tmp0, I32(FIX_0_298631336));
  tmp1 = wasm_i32x4_mul(tmp1, I32(FIX_2_053119869));
  tmp2 = wasm_i32x4_mul(tmp2, I32(FIX_3_072711026));
  tmp3 = wasm_i32x4_mul(tmp3, I32(FIX_1_501321110));
  z1 = wasm_i32x4_mul(z1, I32(-FIX_0_899976223));
  z2 = wasm_i32x4_mul(z2, I32(-FIX_2_562915447));
  z3 = wasm_i32x4_mul(z3, I32(-FIX_1_961570560));
  z4 = wasm_i32x4_mul(z4, I32(-FIX_0_390180644));

  z3 = wasm_i32x4_add(z3, z5);
  z4 = wasm_i32x4_add(z4, z5);

  tmp0 = wasm_i32x4_add(tmp0, wasm_i32x4_add(z1, z3));
  tmp1 = wasm_i32x4_add(tmp1, wasm_i32x4_add(z2, z4));
  tmp2 = wasm_i32x4_add(tmp2, wasm_i32x4_add(z2, z3));
  tmp3 = wasm_i32x4_add(tmp3, wasm_i32x4_add(z1, z4));

  y[0] = wasm_i32x4_shr(wasm_i32x4_add(tmp10, tmp3), shift);
  y[7] = wasm_i32x4_shr(wasm_i32x4_sub(tmp10, tmp3), shift);
  y[1] = wasm_i32x4_shr(wasm_i32x4_add(tmp11, tmp2), shift);
  y[6] = wasm_i32x4_shr(wasm_i32x4_sub(tmp11, tmp2), shift);
  y[2] = wasm_i32x4_shr(wasm_i32x4_add(tmp12, tmp1), shift);
  y[5] = wasm_i32x4_shr(wasm_i32x4_sub(tmp12, tmp1), shift);
  y[3] = wasm_i32x4_shr(wasm_i32x4_add(tmp13, tmp0), shift);
  y[4] = wasm_i32x4_shr(wasm_i32x4_sub(tmp13, tmp0), shift);
}

/*
 * Whether any lane of v lies outside -2^18 .. 2^18-1.  Inside, the C code's short cuts for an all-zero
 * AC column (pass 1: dcval = v << PASS1_BITS) or row (pass 2: DESCALE(v, PASS1_BITS + 3)) give what
 * the full formula gives (which then computes (v << 13 + 2^(n-1)) >> n without overflow).
 */
static INLINE int outside_2_18(v128_t v)
{
  return wasm_v128_any_true(wasm_i32x4_shr(wasm_i32x4_add(v, I32(1 << 18)), 19));
}

/* Lanes where all of x[1..7] are zero: all ones, else zero (pass 2). */
static INLINE v128_t ac_zero_lanes(const v128_t *x)
{
  v128_t or = wasm_v128_or(wasm_v128_or(wasm_v128_or(x[1], x[2]), wasm_v128_or(x[3], x[4])),
                           wasm_v128_or(wasm_v128_or(x[5], x[6]), x[7]));
  return wasm_i32x4_eq(or, wasm_i32x4_splat(0));
}

/* Transposes the 4x4 matrix of 32-bit lanes a[0..3] into b[0..3] (b[i] lane j = a[j] lane i). */
static INLINE void transpose4(const v128_t *a, v128_t *b)
{
  v128_t t0 = wasm_i32x4_shuffle(a[0], a[1], 0, 4, 1, 5);   /* a00 a10 a01 a11 */
  v128_t t1 = wasm_i32x4_shuffle(a[0], a[1], 2, 6, 3, 7);   /* a02 a12 a03 a13 */
  v128_t t2 = wasm_i32x4_shuffle(a[2], a[3], 0, 4, 1, 5);   /* a20 a30 a21 a31 */
  v128_t t3 = wasm_i32x4_shuffle(a[2], a[3], 2, 6, 3, 7);   /* a22 a32 a23 a33 */
  b[0] = wasm_i64x2_shuffle(t0, t2, 0, 2);
  b[1] = wasm_i64x2_shuffle(t0, t2, 1, 3);
  b[2] = wasm_i64x2_shuffle(t1, t3, 0, 2);
  b[3] = wasm_i64x2_shuffle(t1, t3, 1, 3);
}

/*
 * DEQUANTIZE() of row k of the coefficients (row), columns 4 * half .. 4 * half + 3: the 32-bit products
 * (short * short or short * int in the C code: exact in 32 bits).
 */
static INLINE v128_t dequantize(v128_t row, const ISLOW_MULT_TYPE *quantptr, int k, const int half)
{
  if (sizeof(ISLOW_MULT_TYPE) == 2) {
    v128_t q = wasm_v128_load(quantptr + k * DCTSIZE);
    return half ? wasm_i32x4_extmul_high_i16x8(row, q) : wasm_i32x4_extmul_low_i16x8(row, q);
  }
  return wasm_i32x4_mul(half ? wasm_i32x4_extend_high_i16x8(row) : wasm_i32x4_extend_low_i16x8(row),
                        wasm_v128_load(quantptr + k * DCTSIZE + 4 * half));
}

/*
 * Pass 1 on the 4 columns 4 * half .. 4 * half + 3: row[0..7] are the rows of coefficients, ac_zero
 * whether rows 1..7 are all zero in these columns, upper_zero whether rows 4..7 are, and ac_lanes the OR
 * of rows 1..7 (as the C code, test the coefficients, not their products with a quantization table that
 * might hold zeros).  ws[0..7] = workspace rows 0..7 of these columns.
 */
static INLINE void idct_pass1(const v128_t *row, const ISLOW_MULT_TYPE *quantptr, const int half,
                              v128_t *ws, int ac_zero, int upper_zero, v128_t ac_lanes)
{
  v128_t x[8];
  int k;

  x[0] = dequantize(row[0], quantptr, 0, half);
  if (ac_zero) {
    /* jidctint.c: "AC terms all zero": dcval = LEFT_SHIFT(DC, PASS1_BITS), in every row */
    v128_t dc = wasm_i32x4_shl(x[0], PASS1_BITS);
    for (k = 0; k < 8; k++) ws[k] = dc;
    return;
  }
  for (k = 1; k < 4; k++) x[k] = dequantize(row[k], quantptr, k, half);
  if (upper_zero) {
    x[4] = x[5] = x[6] = x[7] = wasm_i32x4_splat(0);
    idct_1d(x, ws, 1 << (CONST_BITS - PASS1_BITS - 1), CONST_BITS - PASS1_BITS);
  } else {
    for (k = 4; k < 8; k++) x[k] = dequantize(row[k], quantptr, k, half);
    idct_1d(x, ws, 1 << (CONST_BITS - PASS1_BITS - 1), CONST_BITS - PASS1_BITS);
  }
  if (__builtin_expect(outside_2_18(x[0]), 0)) {
    /* Some columns may have had the C code's short cut, and its value differ: use it there. */
    v128_t mask = wasm_i32x4_eq(ac_lanes, wasm_i32x4_splat(0)), dc = wasm_i32x4_shl(x[0], PASS1_BITS);
    for (k = 0; k < 8; k++) ws[k] = wasm_v128_bitselect(dc, ws[k], mask);
  }
}

/*
 * Pass 2 on 4 rows: x[0..7] are workspace columns 0..7 of these rows (one row per lane).  Returns, in
 * y[k], column k's values v of these rows shifted so that bits 6..15 of each lane hold v & RANGE_MASK,
 * with v = DESCALE(.., 18) the C code's value before range_limit[] (see idct_store_rows()).  (The lanes
 * hold DESCALE(.., 12) = v << 6 plus 6 more bits below, which do not matter.)
 */
static INLINE void idct_pass2(v128_t *x, v128_t *y, int right_zero)
{
  const int32_t round = 1 << (CONST_BITS + PASS1_BITS + 3 - 1);
  int k;

  if (right_zero) {
    x[4] = x[5] = x[6] = x[7] = wasm_i32x4_splat(0);
    idct_1d(x, y, round, CONST_BITS + PASS1_BITS + 3 - 6);
  } else
    idct_1d(x, y, round, CONST_BITS + PASS1_BITS + 3 - 6);
  if (__builtin_expect(outside_2_18(x[0]), 0)) {
    /* jidctint.c's "AC terms all zero" rows: DESCALE(wsptr[0], PASS1_BITS + 3) */
    v128_t mask = ac_zero_lanes(x);
    v128_t dc = wasm_i32x4_shl(wasm_i32x4_shr(wasm_i32x4_add(x[0], I32(1 << (PASS1_BITS + 3 - 1))),
                                              PASS1_BITS + 3), 6);
    for (k = 0; k < 8; k++) y[k] = wasm_v128_bitselect(dc, y[k], mask);
  }
}

/*
 * Range limiting and the output transpose.  top[k] and bottom[k] are pass 2's results for column k of
 * rows 0..3 and 4..7: bits 6..15 of each lane are v & RANGE_MASK (RANGE_MASK = 1023).
 *
 * jdmaster.c's prepare_range_limit_table() makes IDCT_range_limit(cinfo)[i] (i = v & 1023) equal to
 * i + 128 for i < 128, 255 for 128 <= i < 512, 0 for 512 <= i < 896, and i - 896 for i >= 896: that is,
 * clamp(s + 128, 0, 255) where s = i if i < 512, else i - 1024 (i read as a signed 10-bit number).
 * So: take the low 16 bits of each lane (s * 64 + 0..63 as a signed 16-bit number), add 128 * 64 with
 * signed saturation, shift right by 6 arithmetically (s + 128, or 511 where the addition saturated,
 * which only happens when s + 128 >= 512), and narrow to unsigned bytes with saturation (the clamp).
 */
static INLINE void idct_store_rows(const v128_t *top, const v128_t *bottom, JSAMPARRAY output_buf,
                                   JDIMENSION output_col)
{
  v128_t c[8], p[4], q0, q1, q2, q3;
  int k;

  for (k = 0; k < 8; k++) {
    /* the low halves of the lanes: column k, rows 0..7 */
    v128_t v = wasm_i16x8_shuffle(top[k], bottom[k], 0, 2, 4, 6, 8, 10, 12, 14);
    c[k] = wasm_i16x8_shr(wasm_i16x8_add_sat(v, wasm_i16x8_splat(128 << 6)), 6);
  }
  /* p[i]: bytes 0..7 = column 2i, rows 0..7; bytes 8..15 = column 2i+1 */
  for (k = 0; k < 4; k++) p[k] = wasm_u8x16_narrow_i16x8(c[2 * k], c[2 * k + 1]);
  /* q0: rows 0..3 of columns 0..3 (4 bytes a row); q1: rows 4..7; q2, q3: the same for columns 4..7 */
  q0 = wasm_i8x16_shuffle(p[0], p[1], 0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27);
  q1 = wasm_i8x16_shuffle(p[0], p[1], 4, 12, 20, 28, 5, 13, 21, 29, 6, 14, 22, 30, 7, 15, 23, 31);
  q2 = wasm_i8x16_shuffle(p[2], p[3], 0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27);
  q3 = wasm_i8x16_shuffle(p[2], p[3], 4, 12, 20, 28, 5, 13, 21, 29, 6, 14, 22, 30, 7, 15, 23, 31);
  /* two rows of 8 bytes each */
  p[0] = wasm_i32x4_shuffle(q0, q2, 0, 4, 1, 5);
  p[1] = wasm_i32x4_shuffle(q0, q2, 2, 6, 3, 7);
  p[2] = wasm_i32x4_shuffle(q1, q3, 0, 4, 1, 5);
  p[3] = wasm_i32x4_shuffle(q1, q3, 2, 6, 3, 7);
  for (k = 0; k < 4; k++) {
    wasm_v128_store64_lane(output_buf[2 * k] + output_col, p[k], 0);
    wasm_v128_store64_lane(output_buf[2 * k + 1] + output_col, p[k], 1);
  }
}

GLOBAL(int)
jsimd_can_idct_islow(void)
{
  /* The exactness argument above needs 32-bit JLONG and int, as on wasm32. */
  if (DCTSIZE != 8 || sizeof(JCOEF) != 2 || BITS_IN_JSAMPLE != 8 || sizeof(JLONG) != 4 ||
      sizeof(int) != 4 || (sizeof(ISLOW_MULT_TYPE) != 2 && sizeof(ISLOW_MULT_TYPE) != 4))
    return 0;
  return 1;
}

GLOBAL(int)
jsimd_can_idct_ifast(void)
{
  return 0;
}

GLOBAL(int)
jsimd_can_idct_float(void)
{
  return 0;
}

GLOBAL(void)
jsimd_idct_islow(j_decompress_ptr cinfo, jpeg_component_info *compptr,
                 JCOEFPTR coef_block, JSAMPARRAY output_buf,
                 JDIMENSION output_col)
{
  const ISLOW_MULT_TYPE *quantptr = (const ISLOW_MULT_TYPE *)compptr->dct_table;
  v128_t row[8], ac, upper, wl[8], wr[8], a[8], b[8], top[8], bottom[8];
  int64_t ac_l, ac_h, upper_l, upper_h;
  int k, right_zero;

  for (k = 0; k < 8; k++) row[k] = wasm_v128_load(coef_block + k * DCTSIZE);
  upper = wasm_v128_or(wasm_v128_or(row[4], row[5]), wasm_v128_or(row[6], row[7]));
  ac = wasm_v128_or(upper, wasm_v128_or(wasm_v128_or(row[1], row[2]), row[3]));

  if (!wasm_v128_any_true(wasm_v128_or(ac, wasm_v128_and(row[0],
                                                          wasm_i16x8_make(0, -1, -1, -1, -1, -1, -1, -1))))) {
    /*
     * Only the DC coefficient (if any): in the C code every column takes the "AC terms all zero" short
     * cut (dcval = DC * quant << PASS1_BITS in column 0, 0 elsewhere), then every row does, giving
     * range_limit[DESCALE(dcval, PASS1_BITS + 3) & RANGE_MASK] everywhere.  Unsigned arithmetic wraps
     * as the C code's does (and clang's conversion to int32_t and >> are two's complement).
     */
    uint32_t dcval = (uint32_t)((int32_t)coef_block[0] * (int32_t)quantptr[0]) << PASS1_BITS;
    int32_t v = (int32_t)(dcval + (1 << (PASS1_BITS + 3 - 1))) >> (PASS1_BITS + 3);
    int s = (int)(((uint32_t)v & RANGE_MASK) ^ 512) - 512;  /* signed 10-bit value, see above */
    v128_t dc = wasm_i8x16_splat((int8_t)(s + CENTERJSAMPLE < 0 ? 0 :
                                          s + CENTERJSAMPLE > MAXJSAMPLE ? MAXJSAMPLE :
                                          s + CENTERJSAMPLE));
    for (k = 0; k < 8; k++) wasm_v128_store64_lane(output_buf[k] + output_col, dc, 0);
    return;
  }

  ac_l = wasm_i64x2_extract_lane(ac, 0);
  ac_h = wasm_i64x2_extract_lane(ac, 1);
  upper_l = wasm_i64x2_extract_lane(upper, 0);
  upper_h = wasm_i64x2_extract_lane(upper, 1);

  /* Pass 1: columns 0..3, then 4..7 (all zero there gives a zero workspace, as in the C code) */
  idct_pass1(row, quantptr, 0, wl, ac_l == 0, upper_l == 0, wasm_i32x4_extend_low_i16x8(ac));
  right_zero = ac_h == 0 && wasm_i64x2_extract_lane(row[0], 1) == 0;
  if (!right_zero)
    idct_pass1(row, quantptr, 1, wr, ac_h == 0, upper_h == 0, wasm_i32x4_extend_high_i16x8(ac));

  /* Pass 2: rows 0..3 and 4..7, columns 0..3 transposed from wl, columns 4..7 from wr */
  transpose4(wl, a);
  transpose4(wl + 4, b);
  if (!right_zero) {
    transpose4(wr, a + 4);
    transpose4(wr + 4, b + 4);
  }
  idct_pass2(a, top, right_zero);
  idct_pass2(b, bottom, right_zero);
  idct_store_rows(top, bottom, output_buf, output_col);
}

GLOBAL(void)
jsimd_idct_ifast(j_decompress_ptr cinfo, jpeg_component_info *compptr,
                 JCOEFPTR coef_block, JSAMPARRAY output_buf,
                 JDIMENSION output_col)
{
}

GLOBAL(void)
jsimd_idct_float(j_decompress_ptr cinfo, jpeg_component_info *compptr,
                 JCOEFPTR coef_block, JSAMPARRAY output_buf,
                 JDIMENSION output_col)
{
}

GLOBAL(int)
jsimd_can_huff_encode_one_block(void)
{
  return 0;
}

GLOBAL(JOCTET *)
jsimd_huff_encode_one_block(void *state, JOCTET *buffer, JCOEFPTR block,
                            int last_dc_val, c_derived_tbl *dctbl,
                            c_derived_tbl *actbl)
{
  return NULL;
}

GLOBAL(int)
jsimd_can_encode_mcu_AC_first_prepare(void)
{
  return 0;
}

GLOBAL(void)
jsimd_encode_mcu_AC_first_prepare(const JCOEF *block,
                                  const int *jpeg_natural_order_start, int Sl,
                                  int Al, UJCOEF *values, size_t *zerobits)
{
}

GLOBAL(int)
jsimd_can_encode_mcu_AC_refine_prepare(void)
{
  return 0;
}

GLOBAL(int)
jsimd_encode_mcu_AC_refine_prepare(const JCOEF *block,
                                   const int *jpeg_natural_order_start, int Sl,
                                   int Al, UJCOEF *absvalues, size_t *bits)
{
  return 0;
}
