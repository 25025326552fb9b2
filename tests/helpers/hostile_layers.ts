/**
 * Hostile layers for the hardening tests: tar streams that are valid but
 * claim or contain a lot (many empty files, huge PAX records, long names),
 * written block by block so that a layer of millions of entries never sits
 * in memory, and gzipped with `node:zlib` straight to a file.
 *
 * Run as a script to write one for manual measurement:
 *
 *   deno run -A tests/helpers/hostile_layers.ts empty 2000000 /tmp/empty.tar.gz
 *   deno run -A tests/helpers/hostile_layers.ts pax 2200 /tmp/pax.tar.gz
 *
 * @module
 */
import { createGzip } from "node:zlib";
import { createWriteStream } from "node:fs";

const ENC = new TextEncoder();

/** Writes `text` at `at` in `b`. */
function put(b: Uint8Array, at: number, text: string): void {
  b.set(ENC.encode(text), at);
}

/**
 * One USTAR header block: `name` (≤ 100 bytes), size, typeflag; fixed
 * mode/uid/gid/mtime and `root` owner names, checksum filled in.
 */
export function ustarHeader(name: string | Uint8Array, size: number, typeflag = "0"): Uint8Array {
  const b = new Uint8Array(512);
  const n = typeof name === "string" ? ENC.encode(name) : name;
  if (n.length > 100) throw new Error("ustarHeader: name longer than 100 bytes");
  b.set(n, 0);
  put(b, 100, "0000644\0");
  put(b, 108, "0000000\0");
  put(b, 116, "0000000\0");
  put(b, 124, size.toString(8).padStart(11, "0") + "\0");
  put(b, 136, "14524770400\0");
  put(b, 156, typeflag);
  put(b, 257, "ustar\u000000");
  put(b, 265, "root");
  put(b, 297, "root");
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : b[i];
  put(b, 148, sum.toString(8).padStart(6, "0") + "\0 ");
  return b;
}

/** One PAX record `"<len> key=value\n"` (the length counts itself). */
export function paxRecord(key: string, value: string | Uint8Array): Uint8Array {
  const v = typeof value === "string" ? ENC.encode(value) : value;
  const body = ENC.encode(` ${key}=`).length + v.length + 1;
  let len = body + String(body).length;
  if (String(len).length !== String(body).length) len = body + String(len).length;
  const head = ENC.encode(`${len} ${key}=`);
  const out = new Uint8Array(len);
  out.set(head, 0);
  out.set(v, head.length);
  out[len - 1] = 0x0a;
  return out;
}

/** `data` followed by zero padding to a multiple of 512. */
export function padded(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(data.length / 512) * 512);
  out.set(data);
  return out;
}

/** The blocks of a PAX `x` header holding `records`, before the entry it applies to. */
export function paxHeader(records: Uint8Array[]): Uint8Array[] {
  let n = 0;
  for (const r of records) n += r.length;
  const data = new Uint8Array(n);
  let at = 0;
  for (const r of records) {
    data.set(r, at);
    at += r.length;
  }
  return [ustarHeader("PaxHeaders.0/f", n, "x"), padded(data)];
}

/** Two zero blocks: the end-of-archive marker. */
export const END_MARKER: Uint8Array = new Uint8Array(1024);

/** `count` empty regular files `f<i>` (one header block each), then the end marker. */
export function* emptyFiles(count: number): Generator<Uint8Array> {
  for (let i = 0; i < count; i++) yield ustarHeader(`f${i}`, 0);
  yield END_MARKER;
}

/**
 * `count` empty files, each with a PAX header holding one
 * `SCHILY.xattr.user.big` record of `valueBytes` bytes (the same value, so
 * the layer gzips to almost nothing), then the end marker.
 */
export function* paxBomb(count: number, valueBytes: number): Generator<Uint8Array> {
  const header = paxHeader([paxRecord("SCHILY.xattr.user.big", "x".repeat(valueBytes))]);
  for (let i = 0; i < count; i++) {
    yield* header;
    yield ustarHeader(`f${i}`, 0);
  }
  yield END_MARKER;
}

/** Writes `blocks`, gzipped (level 1) when `gzip` is true, to `path`; returns the byte size. */
export async function writeLayer(
  path: string,
  blocks: Iterable<Uint8Array>,
  gzip = true,
): Promise<number> {
  const file = createWriteStream(path);
  const sink = gzip ? createGzip({ level: 1 }) : file;
  if (gzip) sink.pipe(file);
  const done = new Promise<void>((resolve, reject) => {
    file.on("finish", () => resolve());
    file.on("error", reject);
  });
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  const flush = async () => {
    if (pending.length === 0) return;
    const chunk = new Uint8Array(pendingBytes);
    let at = 0;
    for (const p of pending) {
      chunk.set(p, at);
      at += p.length;
    }
    pending = [];
    pendingBytes = 0;
    if (!sink.write(chunk)) await new Promise<void>((r) => sink.once("drain", () => r()));
  };
  for (const b of blocks) {
    pending.push(b);
    pendingBytes += b.length;
    if (pendingBytes >= 1 << 20) await flush();
  }
  await flush();
  sink.end();
  await done;
  return (await Deno.stat(path)).size;
}

if (import.meta.main) {
  const [kind, count, path] = Deno.args;
  const n = Number(count);
  const blocks = kind === "empty" ? emptyFiles(n) : paxBomb(n, 1_000_000 - 64);
  const size = await writeLayer(path, blocks, path.endsWith(".gz"));
  console.log(`${path}: ${size} bytes`);
}
