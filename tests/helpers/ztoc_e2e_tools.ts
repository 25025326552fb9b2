/**
 * Shared pieces of the zTOC end-to-end tests: running commands and the
 * CLI, temp dirs, deterministic data, the C zinfo oracle
 * (`zinfo_oracle.c`, compiled against the system zlib) with a blob parser
 * of its own, and span digests computed from checkpoints by F§5.3/F§5.6
 * with `node:crypto`.
 *
 * @module
 */

import { concat, sha256 } from "./bytes.ts";
export { concat, hex, prng, randInt, randomBytes, sha256, textBytes } from "./bytes.ts";

const DEC = new TextDecoder();

/** The repository root. */
export const REPO: string = new URL("../../", import.meta.url).pathname;

/** Exit code, stdout bytes and stderr text of a finished command. */
export interface RunResult {
  code: number;
  stdout: Uint8Array;
  stderr: string;
}

/** Runs a command to its end and returns what it printed (never throws on exit codes). */
export async function exec(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<RunResult> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd: opts.cwd,
    env: opts.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: out.stdout, stderr: DEC.decode(out.stderr) };
}

/** Runs a command and returns its stdout; throws with its stderr when it fails. */
export async function mustRun(cmd: string, args: string[], cwd?: string): Promise<Uint8Array> {
  const r = await exec(cmd, args, { cwd });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** Runs a shell pipeline (`bash -c`), for `cat a b > c` and the like. */
export function sh(script: string, cwd?: string): Promise<Uint8Array> {
  return mustRun("bash", ["-c", `set -euo pipefail; ${script}`], cwd);
}

/**
 * Runs `deno run -A cli.ts ARGS` from the repository root, with its own
 * empty store root so that no state outside the test's temp dir is used.
 */
export function soci(args: string[], root: string): Promise<RunResult> {
  return exec("deno", ["run", "-A", "cli.ts", "--root", root, ...args], {
    cwd: REPO,
    env: { NO_COLOR: "1" },
  });
}

/** Runs `fn` with a fresh temp dir that is removed afterwards. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "ztoc_e2e_" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Bytes of a hex string. */
export function unhex(s: string): Uint8Array {
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Compiles `zinfo_oracle.c` with gcc and the system zlib into `dir`; returns the binary. */
export async function compileZinfoOracle(dir: string): Promise<string> {
  const src = new URL("./zinfo_oracle.c", import.meta.url).pathname;
  const bin = `${dir}/zinfo_oracle`;
  await mustRun("gcc", ["-O2", "-o", bin, src, "-lz"]);
  return bin;
}

/** Runs the zinfo oracle on a gzip file; returns its zinfo v2 blob. */
export async function zinfoOracle(bin: string, spanSize: number, gz: string): Promise<Uint8Array> {
  const out = `${gz}.${spanSize}.zinfo`;
  await mustRun(bin, [String(spanSize), gz, out]);
  const blob = await Deno.readFile(out);
  await Deno.remove(out);
  return blob;
}

/** A checkpoint as read from an oracle blob. */
export interface OracleCheckpoint {
  in: number;
  out: number;
  bits: number;
  window: Uint8Array;
}

/** Parses a zinfo v2 blob by F§5.1 (12-byte header, 32785-byte records, little-endian). */
export function parseZinfoBlob(blob: Uint8Array): { spanSize: number; cps: OracleCheckpoint[] } {
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const n = dv.getInt32(0, true);
  if (blob.length !== 12 + 32785 * n) throw new Error(`oracle blob of ${blob.length} bytes`);
  const cps: OracleCheckpoint[] = [];
  for (let i = 0; i < n; i++) {
    const r = 12 + 32785 * i;
    cps.push({
      in: Number(dv.getBigInt64(r, true)),
      out: Number(dv.getBigInt64(r + 8, true)),
      bits: blob[r + 16],
      window: blob.subarray(r + 17, r + 32785),
    });
  }
  return { spanSize: Number(dv.getBigInt64(4, true)), cps };
}

/**
 * Span digests of a gzip layer (F§5.3): span i covers `[in_i − (bits_i ≠ 0),
 * in_{i+1})`, the last span ends at the layer's end.
 */
export function gzipSpanDigests(layer: Uint8Array, cps: OracleCheckpoint[]): string[] {
  return cps.map((cp, i) => {
    const start = cp.bits !== 0 ? cp.in - 1 : cp.in;
    const end = i + 1 < cps.length ? cps[i + 1].in : layer.length;
    return sha256(layer.subarray(start, end));
  });
}

/** Span digests of an uncompressed layer (F§5.6): fixed `spanSize` slices of the file. */
export function tarSpanDigests(layer: Uint8Array, spanSize: number): string[] {
  const out: string[] = [];
  for (let at = 0; at < layer.length; at += spanSize) {
    out.push(sha256(layer.subarray(at, Math.min(layer.length, at + spanSize))));
  }
  return out;
}

/** Collects an async iterable of chunks into one array. */
export async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of it) parts.push(p);
  return concat(parts);
}

/** Names in a directory, sorted. */
export async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

/** Runs `fn` over `items`, at most `limit` at a time; results in input order. */
export async function mapLimit<T, R>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** True when two byte arrays are equal (compared 8 bytes at a time where aligned). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let i = 0;
  if (a.byteOffset % 8 === 0 && b.byteOffset % 8 === 0) {
    const n = a.length >>> 3;
    const wa = new BigUint64Array(a.buffer, a.byteOffset, n);
    const wb = new BigUint64Array(b.buffer, b.byteOffset, n);
    for (; i < n; i++) if (wa[i] !== wb[i]) return false;
    i = n * 8;
  }
  for (; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
