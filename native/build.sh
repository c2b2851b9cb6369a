#!/bin/sh
# Builds native/jpeg.wasm from libjpeg-turbo's source and jpeg.c with clang's WebAssembly target and wasi-libc
# (Debian: apt-get install -y clang lld wasi-libc libclang-rt-dev-wasm32; the source: apt-get source
# libjpeg-turbo, which gives 2.1.5 on bookworm). jpeg.wasm is committed, so that installing gan needs no C
# compiler; run this after changing jpeg.c.
#   native/build.sh path/to/libjpeg-turbo-2.1.5
set -eu
src=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
gen=$(mktemp -d)
trap 'rm -rf "$gen"' EXIT
version=$(sed -n 's/^project(libjpeg-turbo C VERSION \([0-9.]*\)).*/\1/p' "$src/CMakeLists.txt")
cat > "$gen/jconfig.h" <<H
#define JPEG_LIB_VERSION 62
#define LIBJPEG_TURBO_VERSION $version
#define LIBJPEG_TURBO_VERSION_NUMBER 0
#define MEM_SRCDST_SUPPORTED 1
#define BITS_IN_JSAMPLE 8
H
cat > "$gen/jconfigint.h" <<H
#define BUILD "gan"
#undef inline
#define INLINE __inline__ __attribute__((always_inline))
#define THREAD_LOCAL
#define PACKAGE_NAME "libjpeg-turbo"
#define VERSION "$version"
#define SIZEOF_SIZE_T 4
#define HAVE_BUILTIN_CTZL
#define FALLTHROUGH __attribute__((fallthrough));
H
sed -e "s/@COPYRIGHT_YEAR@/2022/" "$src/jversion.h.in" > "$gen/jversion.h"
# wasm32 has 64-bit integer registers and 32-bit pointers, as x86's x32 ABI: libjpeg-turbo's Huffman decoder
# then keeps 64 bits in its bit buffer rather than 32 (~25% faster decoding).
# jsimd_wasm.c (in place of jsimd_none.c) gives the IDCT, colour conversion and fancy upsampling in
# WebAssembly SIMD, bit-identical to the C code (see its comments).
cp "$src"/*.c "$src"/*.h "$gen"
sed -i 's/defined(__x86_64__) && defined(__ILP32__)/(defined(__x86_64__) \&\& defined(__ILP32__)) || defined(__wasm__)/' "$gen/jdhuff.h" "$gen/jdhuff.c"
grep -q __wasm__ "$gen/jdhuff.h" && grep -q __wasm__ "$gen/jdhuff.c" || { echo "jdhuff: the 64-bit bit buffer's condition was not found" >&2; exit 1; }
cd "$gen"
clang --target=wasm32-wasi --sysroot=/nonexistent -isystem /usr/include/wasm32-wasi -L/usr/lib/wasm32-wasi \
  -O3 -DNO_GETENV -DNO_PUTENV -msimd128 -mbulk-memory -nostartfiles -Wl,--no-entry -Wl,--strip-all \
  -Wl,--export=inputBuffer -Wl,--export=header -Wl,--export=decode -Wl,--allow-undefined-file=/dev/null \
  -I. -o "$here/jpeg.wasm" "$here/jpeg.c" \
  jdapimin.c jdapistd.c jdatasrc.c jdcoefct.c jdcolor.c jddctmgr.c jdhuff.c jdinput.c jdmainct.c jdmarker.c \
  jdmaster.c jdmerge.c jdphuff.c jdpostct.c jdsample.c jidctflt.c jidctfst.c jidctint.c jidctred.c \
  jquant1.c jquant2.c jcomapi.c jerror.c jmemmgr.c jmemnobs.c jutils.c "$here/jsimd_wasm.c"
ls -l "$here/jpeg.wasm"
