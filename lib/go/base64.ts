/**
 * Go's `encoding/base64.StdEncoding`, as `encoding/json` uses it for
 * `[]byte` values: padded standard alphabet; decoding skips CR and LF and
 * accepts non-zero trailing bits (Go's default, non-strict mode).
 *
 * @module
 */

/**
 * Standard padded base64 of `bytes` (Go's `StdEncoding.EncodeToString`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeStdBase64 } from "./base64.ts";
 * assert.equal(encodeStdBase64(new TextEncoder().encode("hello")), "aGVsbG8=");
 * assert.equal(encodeStdBase64(new Uint8Array(0)), "");
 * ```
 */
export function encodeStdBase64(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

const STD_BASE64 = /^[A-Za-z0-9+/]*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes like Go's `StdEncoding.DecodeString`: padding required, `\r` and
 * `\n` ignored anywhere, non-zero trailing bits accepted. Returns
 * `undefined` where Go reports "illegal base64 data".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeStdBase64 } from "./base64.ts";
 * assert.deepEqual(decodeStdBase64("aGk=\n"), new Uint8Array([104, 105]));
 * assert.deepEqual(decodeStdBase64("aGl="), new Uint8Array([104, 105])); // trailing bits
 * assert.equal(decodeStdBase64("aGk"), undefined); // padding missing
 * ```
 */
export function decodeStdBase64(text: string): Uint8Array | undefined {
  const s = text.replace(/[\r\n]/g, "");
  if (s.length % 4 !== 0 || !STD_BASE64.test(s)) return undefined;
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
