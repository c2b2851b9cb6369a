// libjpeg-turbo's decompressor as gan's WebAssembly JPEG decoder (built by build.sh into jpeg.wasm): decodes
// only the block rows and columns that a crop needs. Rows above the crop are entropy-decoded only
// (jpeg_skip_scanlines), and the file is left after the crop's last row (only a progressive JPEG's scans are
// all read first); columns outside the crop are neither transformed nor upsampled (jpeg_crop_scanline). A
// CelebA crop is a third of the image. The pixels are exactly a full decode's (tested): the crop is widened
// by one pixel each side, since libjpeg-turbo's smooth chroma upsampling treats a partial row's outermost
// pixels as the image's edges.
#include <stdio.h>
#include <stdlib.h>
#include "jpeglib.h"

// Throws in JavaScript: libjpeg's fatal errors end the call (the caller then discards this instance).
__attribute__((import_module("env"), import_name("fail"), noreturn)) void fail(int code);

static struct jpeg_decompress_struct cinfo;
static struct jpeg_error_mgr jerr;
static int warnings;

static void error_exit(j_common_ptr c) { fail(c->err->msg_code); }
static void output_message(j_common_ptr c) { (void)c; }
// Corrupt data is a warning to libjpeg (it pads with grey); to us it is a damaged file, left to sharp.
static void emit_message(j_common_ptr c, int level) { (void)c; if (level < 0) warnings++; }

static unsigned char *input, *output;
static size_t inputSize, outputSize;
// width, height after header(); then the decoded region's left column and width (RGBX rows of width × 4 bytes)
static int info[4];

/** A buffer for a JPEG of `size` bytes; null when out of memory. */
unsigned char *inputBuffer(size_t size) {
  if (size > inputSize) {
    free(input);
    input = malloc(size);
    inputSize = input ? size : 0;
  }
  return input;
}

int *header(size_t size) {
  static int created;
  if (!created) {
    cinfo.err = jpeg_std_error(&jerr);
    jerr.error_exit = error_exit;
    jerr.output_message = output_message;
    jerr.emit_message = emit_message;
    jpeg_create_decompress(&cinfo);
    created = 1;
  }
  jpeg_abort_decompress(&cinfo); // the previous image, if its header was all that was read
  warnings = 0;
  jpeg_mem_src(&cinfo, input, size);
  if (jpeg_read_header(&cinfo, TRUE) != JPEG_HEADER_OK) return 0;
  info[0] = cinfo.image_width;
  info[1] = cinfo.image_height;
  return info;
}

/**
 * Rows top .. top+height-1 and at least columns left .. left+width-1 of the image whose header() was just
 * read, as RGBX; info then holds the first column decoded and the number decoded. Null when the data is
 * corrupt or memory runs out.
 */
unsigned char *decode(int left, int top, int width, int height) {
  cinfo.out_color_space = JCS_EXT_RGBX;
  jpeg_start_decompress(&cinfo);
  JDIMENSION x = left > 0 ? left - 1 : 0;
  JDIMENSION w = (left + width + 1 < (int)cinfo.output_width ? left + width + 1 : cinfo.output_width) - x;
  if (w < cinfo.output_width) jpeg_crop_scanline(&cinfo, &x, &w);
  info[2] = x;
  info[3] = cinfo.output_width;
  size_t stride = (size_t)cinfo.output_width * 4;
  if (stride * height > outputSize) {
    free(output);
    output = malloc(stride * height);
    outputSize = output ? stride * height : 0;
  }
  if (output && top > 0) jpeg_skip_scanlines(&cinfo, top);
  for (int y = 0; output && y < height;) {
    JSAMPROW row = output + stride * y;
    JDIMENSION got = jpeg_read_scanlines(&cinfo, &row, 1);
    if (got == 0) warnings++; // no more rows: cannot happen with a memory source, but never loop forever
    y += got ? got : height;
  }
  jpeg_abort_decompress(&cinfo); // the rows below are never decoded
  return output && !warnings ? output : 0;
}
