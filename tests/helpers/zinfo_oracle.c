/*
 * Test oracle: the gzip checkpoint pass as soci-format.md §5.2 describes
 * upstream's C generator (system zlib, window bits 47, 16 KiB input chunks,
 * Z_BLOCK, the checkpoint test after every inflate return, inflateReset at
 * the end of each member). Writes the zinfo v2 blob of §5.1.
 *
 * usage: zinfo_oracle SPAN_SIZE IN.gz OUT.zinfo
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <zlib.h>

#define CHUNK 16384
#define WIN 32768

typedef struct {
  int64_t in, out;
  uint8_t bits;
  uint8_t window[WIN];
} point;

static void put64(FILE *f, int64_t v) {
  for (int i = 0; i < 8; i++) fputc((int)((uint64_t)v >> (8 * i)) & 0xff, f);
}

int main(int argc, char **argv) {
  if (argc != 4) return 2;
  int64_t span = atoll(argv[1]);
  FILE *in = fopen(argv[2], "rb");
  if (!in) return 2;
  z_stream s;
  memset(&s, 0, sizeof s);
  if (inflateInit2(&s, 47) != Z_OK) return 2;
  unsigned char input[CHUNK];
  unsigned char window[WIN];
  memset(window, 0, WIN);
  size_t cap = 16, n = 0;
  point *pts = malloc(cap * sizeof(point));
  int64_t totin = 0, totout = 0, last = 0;
  int ret = Z_OK;
  s.avail_out = 0;
  for (;;) {
    if (s.avail_in == 0) {
      size_t got = fread(input, 1, CHUNK, in);
      if (got == 0) break;
      s.avail_in = (unsigned)got;
      s.next_in = input;
    }
    if (ret == Z_STREAM_END) inflateReset(&s);
    do {
      if (s.avail_out == 0) {
        s.avail_out = WIN;
        s.next_out = window;
      }
      totin += s.avail_in;
      totout += s.avail_out;
      ret = inflate(&s, Z_BLOCK);
      totin -= s.avail_in;
      totout -= s.avail_out;
      if (ret == Z_NEED_DICT || ret == Z_DATA_ERROR || ret == Z_MEM_ERROR) {
        fprintf(stderr, "zlib error %d\n", ret);
        return 1;
      }
      if (ret == Z_STREAM_END) break;
      if ((s.data_type & 128) && !(s.data_type & 64) && (totout == 0 || totout - last > span)) {
        if (n == cap) pts = realloc(pts, (cap *= 2) * sizeof(point));
        point *p = &pts[n++];
        p->in = totin;
        p->out = totout;
        p->bits = s.data_type & 7;
        /* window: the last WIN bytes of output, oldest first */
        unsigned used = WIN - s.avail_out;
        memcpy(p->window, window + used, WIN - used);
        memcpy(p->window + (WIN - used), window, used);
        last = totout;
      }
    } while (s.avail_in != 0);
  }
  if (ret != Z_STREAM_END) {
    fprintf(stderr, "truncated\n");
    return 1;
  }
  FILE *out = fopen(argv[3], "wb");
  int32_t cnt = (int32_t)n;
  for (int i = 0; i < 4; i++) fputc((cnt >> (8 * i)) & 0xff, out);
  put64(out, span);
  for (size_t i = 0; i < n; i++) {
    put64(out, pts[i].in);
    put64(out, pts[i].out);
    fputc(pts[i].bits, out);
    fwrite(pts[i].window, 1, WIN, out);
  }
  fclose(out);
  return 0;
}
