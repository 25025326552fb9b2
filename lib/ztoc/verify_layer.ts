/**
 * Checking a zTOC against its layer in one streaming pass. The layer's
 * bytes are pushed in order; the same bytes feed
 *
 * * the layer digest and the span digests over the zTOC's own span ranges
 *   (`soci-format.md` §5.3 / §5.6);
 * * the bytes before the first span, which must be a gzip header (§5.8);
 * * a full decompression, whose output feeds the tar reader (the real TOC)
 *   and is compared, at every checkpoint, with the checkpoint's window
 *   (the 32 KiB before `out`);
 * * when a TOC is given ({@link LayerVerifierOptions.toc}), the tar
 *   entries compared with it as they are read (`toc_check.ts`), none kept;
 * * for every checkpoint, a resume from that checkpoint alone
 *   ({@link ResumeProbe}) whose first bytes must equal the full
 *   decompression's bytes at `out`. The first 32 KiB are compared (the
 *   whole span when shorter): the resumed inflater decodes the same
 *   symbols from the same bit position as the full pass, and once 32 KiB
 *   of output agree, every later byte is a literal or a copy from at most
 *   32 KiB back, so it agrees too.
 *
 * Nothing is buffered beyond a chunk, the 32 KiB tail of the output and
 * the probes' first bytes (and the tar entries, when no TOC is given to
 * compare them with). The caller compares the results with the zTOC
 * (`use_cases/verify.ts`).
 *
 * @module
 */
import { nativeCrc32 } from "../gzip/crc_check.ts";
import { checkpointInflater, type Inflater } from "../gzip/native_inflater.ts";
import { type Checkpoint, WINDOW_SIZE } from "../gzip/checkpoint.ts";
import { Sha256 } from "../oci/digest.ts";
import type { TarEntry } from "../tar/entry.ts";
import { TarReader } from "../tar/reader.ts";
import { gzipHeaderLength } from "./gzip_header.ts";
import type { Ztoc } from "./model.ts";
import { ResumeProbe } from "./resume_probe.ts";
import type { Zinfo } from "./spans.ts";
import { TocCheck, type TocEntries, type TocFindings } from "./toc_check.ts";

/** Bytes of each span compared between a resume and the full decompression. */
export const DEFAULT_RESUME_CHECK = 32 * 1024;
/** Most bytes kept of the region before the first span. */
const MAX_HEADER = 64 * 1024;

/** A checkpoint whose window differs from the layer's bytes. */
export interface WindowMismatch {
  /** Checkpoint (= span) number. */
  checkpoint: number;
  /** Its uncompressed offset. */
  out: number;
  /** Uncompressed offset of the first byte that differs. */
  at: number;
}

/** A checkpoint from which resuming does not give the layer's bytes. */
export interface ResumeMismatch {
  /** Checkpoint (= span) number. */
  checkpoint: number;
  /** Its uncompressed offset. */
  out: number;
  /** What went wrong, in words. */
  reason: string;
}

/** What one pass learned (see the module documentation). */
export interface LayerCheck {
  /** sha256 of the layer bytes. */
  digest: string;
  /** Layer size. */
  size: number;
  /** `sha256:…` of each span's bytes over the zTOC's ranges (`""`: the layer ended before). */
  spanDigests: string[];
  /** Spans whose range reaches past the end of the layer. */
  truncatedSpans: number[];
  /**
   * Tar entries as the tar reader reports them (empty when decoding failed,
   * or when a TOC was given: they were compared with it, see `toc`).
   */
  entries: TarEntry[];
  /** The TOC given compared with the tar entries (absent when none was given or decoding failed). */
  toc?: TocFindings;
  /** Tar end position, when the tar stream ended cleanly. */
  uncompressedSize?: number;
  /** Why the bytes before the first span are not a gzip header (gzip zTOCs). */
  header?: string;
  /** Checkpoints whose window is wrong. */
  windows: WindowMismatch[];
  /** Checkpoints that do not resume to the layer's bytes. */
  resumes: ResumeMismatch[];
  /** Checkpoints whose window and resume were checked. */
  checkpointsChecked: number;
  /** Why decompressing or reading the tar failed. */
  decodeError?: string;
}

/** Options of {@link LayerVerifier}. */
export interface LayerVerifierOptions {
  /** Bytes compared after each checkpoint (default 32 KiB). */
  resumeBytes?: number;
  /**
   * The zTOC's TOC, compared with the tar entries as they are read (see
   * `toc_check.ts`; a `ZtocView` is one): the findings are in `toc`, and
   * the entries are not kept.
   */
  toc?: TocEntries;
  /** Problems of the TOC listed before "… and N more" (default 5). */
  tocListed?: number;
}

interface Capture {
  buf: Uint8Array;
  filled: number;
}

/** What the hashing half learned (see {@link LayerHashCheck}). */
export type HashFindings = Pick<
  LayerCheck,
  "digest" | "size" | "spanDigests" | "truncatedSpans" | "header"
>;

/** What the decoding half learned (see {@link LayerDecodeCheck}). */
export type DecodeFindings = Pick<
  LayerCheck,
  | "entries"
  | "toc"
  | "uncompressedSize"
  | "windows"
  | "resumes"
  | "checkpointsChecked"
  | "decodeError"
>;

/** The sizes a zTOC claims for its layer. */
export interface ClaimedSizes {
  /** `compressed_archive_size`. */
  compressed: number;
  /** `uncompressed_archive_size`. */
  uncompressed: number;
}

/**
 * The hashing half of the pass: the layer digest, the span digests over
 * the zTOC's ranges, and the gzip header before the first span. Cheap
 * enough for the thread that reads the layer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tarZinfo } from "./spans.ts";
 * import { LayerHashCheck } from "./verify_layer.ts";
 * import { sha256Digest } from "../oci/digest.ts";
 * const layer = new Uint8Array(3000).map((_, i) => i % 7);
 * const h = new LayerHashCheck(tarZinfo(1024, 3000), { compressed: 3000, uncompressed: 3000 });
 * h.push(layer);
 * const f = h.end();
 * assert.equal(f.digest, sha256Digest(layer));
 * assert.deepEqual(f.spanDigests, [
 *   sha256Digest(layer.subarray(0, 1024)), sha256Digest(layer.subarray(1024, 2048)),
 *   sha256Digest(layer.subarray(2048)),
 * ]);
 * ```
 */
export class LayerHashCheck {
  readonly #gzip: boolean;
  readonly #numSpans: number;
  readonly #layer = new Sha256();
  #pos = 0;
  readonly #ranges: Array<[number, number]>;
  readonly #spanHash: Array<Sha256 | undefined>;
  readonly #spanDigests: string[];
  #nextSpan = 0;
  readonly #headEnd: number;
  readonly #head: Uint8Array;

  /** A hashing half for spans `zinfo` of a layer of the claimed sizes. */
  constructor(zinfo: Zinfo, sizes: ClaimedSizes) {
    this.#gzip = zinfo.kind === "gzip";
    const n = this.#numSpans = zinfo.numSpans;
    this.#ranges = [];
    for (let i = 0; i < n; i++) this.#ranges.push(zinfo.compressedRange(i, sizes.compressed));
    this.#spanHash = new Array(n).fill(undefined);
    this.#spanDigests = new Array(n).fill("");
    this.#headEnd = this.#gzip && n > 0 ? Math.min(this.#ranges[0][0], MAX_HEADER) : 0;
    this.#head = new Uint8Array(Math.max(0, this.#headEnd));
  }

  /** Hashes the next bytes of the layer. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    const start = this.#pos;
    const end = start + chunk.length;
    this.#layer.update(chunk);
    const ranges = this.#ranges;
    for (let i = this.#nextSpan; i < ranges.length; i++) {
      const [s, e] = ranges[i];
      if (s >= end) break;
      const a = Math.max(s, start);
      const b = Math.min(e, end);
      if (b > a) {
        const h = this.#spanHash[i] ??= new Sha256();
        h.update(chunk.subarray(a - start, b - start));
      }
      if (e <= end && i === this.#nextSpan) {
        this.#spanDigests[i] = (this.#spanHash[i] ?? new Sha256()).digest();
        this.#spanHash[i] = undefined;
        this.#nextSpan++;
      }
    }
    if (start < this.#headEnd) {
      this.#head.set(chunk.subarray(0, Math.min(chunk.length, this.#headEnd - start)), start);
    }
    this.#pos = end;
  }

  /** The digests, and what is wrong with the header region. */
  end(): HashFindings {
    const truncated: number[] = [];
    for (let i = this.#nextSpan; i < this.#ranges.length; i++) {
      truncated.push(i);
      this.#spanDigests[i] = "";
    }
    let header: string | undefined;
    if (this.#gzip && this.#numSpans > 0) {
      const start0 = this.#ranges[0][0];
      if (start0 > MAX_HEADER) header = `the first span starts at byte ${start0}`;
      else header = gzipHeaderLength(this.#head.subarray(0, Math.min(this.#pos, start0))).problem;
    }
    return {
      digest: this.#layer.digest(),
      size: this.#pos,
      spanDigests: this.#spanDigests,
      truncatedSpans: truncated,
      header,
    };
  }
}

/**
 * The decoding half of the pass: the full decompression (gzip) feeding the
 * tar reader, the window of every checkpoint compared with the output, and
 * a resume probe from every checkpoint. The CPU-heavy half: it can run on
 * a worker (`verify_worker.ts`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gzipSync } from "node:zlib";
 * import { scanLayer } from "./scan.ts";
 * import { buildZtoc } from "./builder.ts";
 * import { zinfoOf } from "./spans.ts";
 * import { LayerDecodeCheck } from "./verify_layer.ts";
 * const layer = gzipSync(new Uint8Array(1024)); // an empty tar
 * const z = buildZtoc(await scanLayer([layer], { compression: "gzip", spanSize: 1 << 20 }));
 * const d = new LayerDecodeCheck(zinfoOf(z), { compressed: layer.length, uncompressed: 1024 });
 * d.push(layer);
 * const f = d.end();
 * assert.equal(f.uncompressedSize, 1024);
 * assert.equal(f.checkpointsChecked, 1);
 * ```
 */
export class LayerDecodeCheck {
  readonly #gzip: boolean;
  #pos = 0;
  readonly #starts: number[];
  readonly #entries: TarEntry[] = [];
  readonly #toc: TocCheck | undefined;
  readonly #tar: TarReader;
  #inflater: Inflater | undefined;
  #decodeError: string | undefined;
  #tarError: string | undefined;
  readonly #cps: Checkpoint[];
  readonly #want: number[];
  #tail: Uint8Array = new Uint8Array(0);
  #nextWindow = 0;
  readonly #windows: WindowMismatch[] = [];
  #nextCapture = 0;
  readonly #captures = new Map<number, Capture>();
  #nextProbe = 0;
  readonly #probes = new Map<number, ResumeProbe>();
  readonly #resumes: ResumeMismatch[] = [];

  /** A decoding half for spans `zinfo` of a layer of the claimed sizes. */
  constructor(zinfo: Zinfo, sizes: ClaimedSizes, options: LayerVerifierOptions = {}) {
    this.#gzip = zinfo.kind === "gzip";
    const toc = options.toc &&
      new TocCheck(options.toc, sizes.uncompressed, { listed: options.tocListed });
    this.#toc = toc;
    const entries = this.#entries;
    this.#tar = new TarReader(toc ? (e) => toc.push(e) : (e) => entries.push(e));
    this.#cps = this.#gzip ? zinfo.checkpoints : [];
    this.#starts = this.#cps.map((_, i) => zinfo.compressedRange(i, sizes.compressed)[0]);
    const k = options.resumeBytes ?? DEFAULT_RESUME_CHECK;
    this.#want = this.#cps.map((_, i) => {
      const [us, ue] = zinfo.uncompressedRange(i, sizes.uncompressed);
      return Math.max(0, Math.min(k, ue - us));
    });
    if (this.#gzip) {
      // The CRC-32 of each member is checked natively (in WASM zlib it
      // would add about a sixth to the decode).
      this.#inflater = checkpointInflater(Number.MAX_SAFE_INTEGER, {
        data: (bytes, out) => this.#data(bytes, out),
      }, { check: nativeCrc32 });
    }
  }

  /** Decodes the next bytes of the layer. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    const start = this.#pos;
    const end = start + chunk.length;
    if (this.#gzip) {
      this.#startProbes(chunk, start, end);
      if (this.#decodeError === undefined) {
        try {
          this.#inflater!.push(chunk);
        } catch (e) {
          this.#decodeError = (e as Error).message;
          this.#inflater!.free();
          this.#inflater = undefined;
        }
      }
      this.#settle(false);
    } else if (this.#tarError === undefined && !this.#tar.done) {
      try {
        this.#tar.push(chunk);
      } catch (e) {
        this.#tarError = (e as Error).message;
      }
    }
    this.#pos = end;
  }

  /** Starts a resume probe at every span beginning inside this chunk. */
  #startProbes(chunk: Uint8Array, start: number, end: number): void {
    const fresh = new Set<number>();
    while (this.#nextProbe < this.#cps.length && this.#starts[this.#nextProbe] < end) {
      const i = this.#nextProbe++;
      const s = this.#starts[i];
      if (s < start || this.#want[i] === 0) continue;
      const probe = new ResumeProbe(this.#cps[i], this.#want[i]);
      probe.push(chunk.subarray(s - start));
      this.#probes.set(i, probe);
      fresh.add(i);
    }
    for (const [i, probe] of this.#probes) {
      if (!fresh.has(i) && !probe.done) probe.push(chunk);
    }
  }

  /** Output of the full decompression (a view valid only during the call). */
  #data(bytes: Uint8Array, out: number): void {
    if (this.#tarError === undefined && !this.#tar.done) {
      try {
        this.#tar.push(bytes);
      } catch (e) {
        this.#tarError = (e as Error).message;
      }
    }
    const end = out + bytes.length;
    // Windows of the checkpoints reached.
    const cps = this.#cps;
    while (this.#nextWindow < cps.length && cps[this.#nextWindow].out <= end) {
      const j = this.#nextWindow++;
      this.#checkWindow(j, bytes, out);
    }
    // The first bytes after each checkpoint, for its probe.
    while (this.#nextCapture < cps.length && cps[this.#nextCapture].out < end) {
      const j = this.#nextCapture++;
      if (this.#want[j] > 0 && cps[j].out >= out) {
        this.#captures.set(j, { buf: new Uint8Array(this.#want[j]), filled: 0 });
      }
    }
    for (const [j, c] of this.#captures) {
      if (c.filled === c.buf.length) continue;
      const from = cps[j].out + c.filled;
      if (from >= end || from < out) continue;
      const n = Math.min(c.buf.length - c.filled, end - from);
      c.buf.set(bytes.subarray(from - out, from - out + n), c.filled);
      c.filled += n;
    }
    // The last 32 KiB of output, for the next windows.
    if (bytes.length >= WINDOW_SIZE) this.#tail = bytes.slice(bytes.length - WINDOW_SIZE);
    else {
      const keep = Math.min(this.#tail.length, WINDOW_SIZE - bytes.length);
      const t = new Uint8Array(keep + bytes.length);
      t.set(this.#tail.subarray(this.#tail.length - keep));
      t.set(bytes, keep);
      this.#tail = t;
    }
  }

  /** Compares checkpoint j's window with the output before its `out`. */
  #checkWindow(j: number, bytes: Uint8Array, out: number): void {
    const cp = this.#cps[j];
    const end = cp.out;
    let p = end - Math.min(end, WINDOW_SIZE); // stream offset of the first meaningful byte
    const tail = this.#tail;
    const tailStart = out - tail.length;
    const w = cp.window;
    const shift = WINDOW_SIZE - end; // the window's index of stream offset p is p + shift
    const differs = () => this.#windows.push({ checkpoint: j, out: end, at: p });
    // Not kept: checkpoints are out of order (the zTOC check reports that).
    if (p < tailStart) return void differs();
    // The bytes before this output, kept from the last, then this output's.
    for (const limit = Math.min(out, end); p < limit; p++) {
      if (tail[p - tailStart] !== w[p + shift]) return void differs();
    }
    for (; p < end; p++) if (bytes[p - out] !== w[p + shift]) return void differs();
  }

  /** Compares the probes that are done with the full output they must equal. */
  #settle(final: boolean): void {
    for (const [i, probe] of this.#probes) {
      const c = this.#captures.get(i);
      const captured = c !== undefined && c.filled === c.buf.length;
      if (!final && !(probe.done && captured)) continue;
      this.#probes.delete(i);
      this.#captures.delete(i);
      probe.free();
      const out = this.#cps[i].out;
      const have = c?.filled ?? 0;
      const n = Math.min(probe.produced, have);
      let diff = -1;
      for (let k = 0; k < n; k++) {
        if (probe.output[k] !== c!.buf[k]) {
          diff = k;
          break;
        }
      }
      if (diff >= 0) {
        this.#resumes.push({
          checkpoint: i,
          out,
          reason: `resuming gives different bytes from offset ${out + diff} on`,
        });
      } else if (probe.produced < have) {
        this.#resumes.push({
          checkpoint: i,
          out,
          reason: `resuming stops after ${probe.produced} bytes` +
            (probe.error ? ` (${probe.error})` : ""),
        });
      }
    }
  }

  /** Ends the pass and returns what it learned. */
  end(): DecodeFindings {
    let uncompressedSize: number | undefined;
    if (this.#inflater !== undefined) {
      try {
        this.#inflater.end();
      } catch (e) {
        this.#decodeError = (e as Error).message;
      }
      this.#inflater = undefined;
    }
    if (this.#decodeError === undefined && this.#tarError === undefined) {
      try {
        uncompressedSize = this.#tar.end();
      } catch (e) {
        this.#tarError = (e as Error).message;
      }
    }
    this.#settle(true);
    const decodeError = this.#decodeError ?? (this.#tarError && `tar: ${this.#tarError}`);
    return {
      entries: decodeError ? [] : this.#entries,
      toc: decodeError ? undefined : this.#toc?.end(uncompressedSize),
      uncompressedSize,
      windows: this.#windows,
      resumes: this.#resumes,
      checkpointsChecked: this.#gzip ? this.#cps.length : 0,
      decodeError,
    };
  }

  /** Frees WASM memory after a failure (done by `end()` otherwise). */
  free(): void {
    this.#inflater?.free();
    this.#inflater = undefined;
    for (const p of this.#probes.values()) p.free();
    this.#probes.clear();
  }
}

/**
 * Both halves in the calling thread: push the layer's bytes in order, then
 * `end()` (see the module documentation).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gzipSync } from "node:zlib";
 * import { scanLayer } from "./scan.ts";
 * import { buildZtoc } from "./builder.ts";
 * import { zinfoOf } from "./spans.ts";
 * import { LayerVerifier } from "./verify_layer.ts";
 * const layer = gzipSync(new Uint8Array(1024)); // an empty tar
 * const z = buildZtoc(await scanLayer([layer], { compression: "gzip", spanSize: 1 << 20 }));
 * const v = new LayerVerifier(z, zinfoOf(z));
 * v.push(layer);
 * const check = v.end();
 * assert.deepEqual(check.spanDigests, z.spanDigests);
 * assert.equal(check.windows.length + check.resumes.length, 0);
 * assert.equal(check.uncompressedSize, 1024);
 * ```
 */
export class LayerVerifier {
  readonly #hash: LayerHashCheck;
  readonly #decode: LayerDecodeCheck;

  /** A checker of the layer that `z` (with its parsed zinfo `zinfo`) indexes. */
  constructor(z: Ztoc, zinfo: Zinfo, options: LayerVerifierOptions = {}) {
    const sizes = { compressed: z.compressedArchiveSize, uncompressed: z.uncompressedArchiveSize };
    this.#hash = new LayerHashCheck(zinfo, sizes);
    this.#decode = new LayerDecodeCheck(zinfo, sizes, options);
  }

  /** Feeds the next bytes of the layer. */
  push(chunk: Uint8Array): void {
    this.#hash.push(chunk);
    this.#decode.push(chunk);
  }

  /** Ends the pass and returns what it learned. */
  end(): LayerCheck {
    return { ...this.#hash.end(), ...this.#decode.end() };
  }

  /** Frees WASM memory after a failure (done by `end()` otherwise). */
  free(): void {
    this.#decode.free();
  }
}
