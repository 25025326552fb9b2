/**
 * Binding to zlib's inflate compiled to WebAssembly (`zlib.wasm`, built by
 * `tasks/build_zlib_wasm.sh` from Debian's zlib source). The module has no
 * imports and needs no permissions; each Worker gets its own instance.
 *
 * JavaScript never depends on the wasm32 `z_stream` layout: the C shim in
 * `tasks/zlib_shim.c` exposes one small function per field.
 *
 * @module
 */
import * as wasm from "./zlib.wasm";

/** zlib return code: success. */
export const Z_OK = 0;
/** zlib return code: end of a deflate stream (a gzip member) reached. */
export const Z_STREAM_END = 1;
/** zlib return code: a preset dictionary is needed. */
export const Z_NEED_DICT = 2;
/** zlib return code: the input data is corrupt. */
export const Z_DATA_ERROR = -3;
/** zlib return code: out of memory. */
export const Z_MEM_ERROR = -4;
/** zlib return code: no progress possible (needs input or output space). */
export const Z_BUF_ERROR = -5;
/** Flush mode: stop at every deflate block boundary and after a header. */
export const Z_BLOCK = 5;
/** Flush mode: decompress as much as possible. */
export const Z_NO_FLUSH = 0;
/** Window bits for a gzip stream (header and trailer checked). */
export const WBITS_GZIP = 31;
/** Window bits for a raw deflate stream (no header). */
export const WBITS_RAW = -15;

interface ZlibExports {
  memory: WebAssembly.Memory;
  _initialize(): void;
  malloc(n: number): number;
  free(p: number): void;
  zs_new(wbits: number): number;
  zs_reset(s: number, wbits: number): number;
  zs_set_in(s: number, p: number, n: number): void;
  zs_set_out(s: number, p: number, n: number): void;
  zs_avail_in(s: number): number;
  zs_avail_out(s: number): number;
  zs_data_type(s: number): number;
  zs_inflate(s: number, flush: number): number;
  zs_prime(s: number, bits: number, value: number): number;
  zs_set_dict(s: number, p: number, n: number): number;
  zs_validate(s: number, check: number): number;
  zs_msg(s: number): number;
  zs_free(s: number): void;
}

const z = wasm as unknown as ZlibExports;
z._initialize();

/**
 * A view of `len` bytes of WASM memory at `ptr`. Views go stale when the
 * memory grows, so take a fresh one after any call that may allocate.
 */
function view(ptr: number, len: number): Uint8Array {
  return new Uint8Array(z.memory.buffer, ptr, len);
}

/** Reads a NUL-terminated C string from WASM memory. */
function cString(ptr: number): string {
  if (ptr === 0) return "";
  const mem = new Uint8Array(z.memory.buffer);
  let end = ptr;
  while (mem[end] !== 0) end++;
  return new TextDecoder().decode(mem.subarray(ptr, end));
}

/**
 * A buffer in WASM memory. `bytes()` returns a fresh view each time, valid
 * until the next call into zlib.
 */
export class WasmBuffer {
  /** Address in WASM memory. */
  readonly ptr: number;
  /** Length in bytes. */
  readonly length: number;
  constructor(length: number) {
    this.length = length;
    this.ptr = z.malloc(length);
    if (this.ptr === 0) throw new Error(`cannot allocate ${length} bytes of WASM memory`);
  }
  /** A view of the whole buffer. */
  bytes(): Uint8Array {
    return view(this.ptr, this.length);
  }
  /** A view of `[start, end)` of the buffer. */
  subarray(start: number, end: number): Uint8Array {
    return view(this.ptr + start, end - start);
  }
  /** Frees the memory; the buffer must not be used afterwards. */
  free(): void {
    z.free(this.ptr);
  }
}

/**
 * One zlib inflate stream.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InflateStream, WasmBuffer, WBITS_GZIP, Z_NO_FLUSH, Z_STREAM_END } from "./zlib.ts";
 * import { gzipSync } from "node:zlib";
 * const gz = gzipSync(new TextEncoder().encode("hello"));
 * const input = new WasmBuffer(gz.length);
 * input.bytes().set(gz);
 * const output = new WasmBuffer(64);
 * const s = new InflateStream(WBITS_GZIP);
 * s.setInput(input.ptr, gz.length);
 * s.setOutput(output.ptr, 64);
 * assert.ok(s.inflate(Z_NO_FLUSH) === Z_STREAM_END);
 * const n = 64 - s.availOut;
 * assert.ok(new TextDecoder().decode(output.subarray(0, n)) === "hello");
 * s.free(); input.free(); output.free();
 * ```
 */
export class InflateStream {
  #s: number;
  constructor(wbits: number) {
    this.#s = z.zs_new(wbits);
    if (this.#s === 0) throw new Error("cannot initialise zlib inflate");
  }
  /** Resets the stream for a new member or a new raw stream. */
  reset(wbits: number): void {
    if (z.zs_reset(this.#s, wbits) !== Z_OK) throw new Error("cannot reset zlib inflate");
  }
  /** Sets the input to `len` bytes at `ptr` in WASM memory. */
  setInput(ptr: number, len: number): void {
    z.zs_set_in(this.#s, ptr, len);
  }
  /** Sets the output space to `len` bytes at `ptr` in WASM memory. */
  setOutput(ptr: number, len: number): void {
    z.zs_set_out(this.#s, ptr, len);
  }
  /** Input bytes not yet consumed. */
  get availIn(): number {
    return z.zs_avail_in(this.#s);
  }
  /** Output space not yet used. */
  get availOut(): number {
    return z.zs_avail_out(this.#s);
  }
  /** zlib's `data_type`: bits in the bit buffer, +64 after the last block, +128 at a block boundary. */
  get dataType(): number {
    return z.zs_data_type(this.#s);
  }
  /** zlib's last error message, or "". */
  get message(): string {
    return cString(z.zs_msg(this.#s));
  }
  /** Runs `inflate(flush)` and returns zlib's code. */
  inflate(flush: number): number {
    return z.zs_inflate(this.#s, flush);
  }
  /** `inflatePrime`: inserts `bits` bits of `value` into the bit buffer. */
  prime(bits: number, value: number): void {
    if (z.zs_prime(this.#s, bits, value) !== Z_OK) throw new Error("inflatePrime failed");
  }
  /** `inflateSetDictionary` from bytes in WASM memory. */
  setDictionary(ptr: number, len: number): void {
    if (z.zs_set_dict(this.#s, ptr, len) !== Z_OK) throw new Error("inflateSetDictionary failed");
  }
  /**
   * `inflateValidate`: with `false`, zlib neither computes nor checks the
   * gzip CRC-32 and length (the caller does); reset turns checking back on.
   */
  validate(check: boolean): void {
    if (z.zs_validate(this.#s, check ? 1 : 0) !== Z_OK) throw new Error("inflateValidate failed");
  }
  /** Frees the stream. */
  free(): void {
    if (this.#s !== 0) z.zs_free(this.#s);
    this.#s = 0;
  }
}
