/*
 * Thin C surface over zlib's inflate for the WASM build of soci-deno.
 *
 * JavaScript never touches the z_stream struct layout: every field it
 * needs goes through one of these small functions. Build with
 * tasks/build_zlib_wasm.sh.
 */
#include <stdlib.h>
#include "zlib.h"

/* Allocate a z_stream and initialise it for inflate with window bits
 * `wbits` (31 = gzip, -15 = raw deflate, 47 = gzip or zlib). Returns 0 on
 * failure. */
z_stream *zs_new(int wbits) {
  z_stream *s = (z_stream *)calloc(1, sizeof(z_stream));
  if (!s) return 0;
  if (inflateInit2(s, wbits) != Z_OK) {
    free(s);
    return 0;
  }
  return s;
}

int zs_reset(z_stream *s, int wbits) { return inflateReset2(s, wbits); }

void zs_set_in(z_stream *s, unsigned char *p, unsigned n) {
  s->next_in = p;
  s->avail_in = n;
}

void zs_set_out(z_stream *s, unsigned char *p, unsigned n) {
  s->next_out = p;
  s->avail_out = n;
}

unsigned zs_avail_in(z_stream *s) { return s->avail_in; }
unsigned zs_avail_out(z_stream *s) { return s->avail_out; }
int zs_data_type(z_stream *s) { return s->data_type; }
int zs_inflate(z_stream *s, int flush) { return inflate(s, flush); }
int zs_prime(z_stream *s, int bits, int value) {
  return inflatePrime(s, bits, value);
}
int zs_set_dict(z_stream *s, const unsigned char *p, unsigned n) {
  return inflateSetDictionary(s, p, n);
}
/* check = 0: the gzip CRC-32 and length are neither computed nor checked
 * (the caller checks them); 1: zlib checks them. Call after every reset. */
int zs_validate(z_stream *s, int check) { return inflateValidate(s, check); }
const char *zs_msg(z_stream *s) { return s->msg ? s->msg : ""; }

void zs_free(z_stream *s) {
  if (!s) return;
  inflateEnd(s);
  free(s);
}
