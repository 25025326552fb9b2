/**
 * Worker side of `ScanPool`: inflates a gzip layer (natively where Deno's
 * zlib allows it, else with WASM zlib; see `native_inflater.ts`), checks
 * its CRC-32s and reads its tar in place, so that the uncompressed bytes
 * never leave this thread.
 * Each compressed chunk the main thread posts is answered with the span
 * starts (checkpoints) settled by it, how far they are settled (a start
 * may be found a chunk late), the tar entries read (packed in one buffer)
 * and the compressed chunks the inflater no longer reads, given back in
 * order (the main thread hashes the spans then, and reuses the buffers).
 *
 * @module
 */
import type { Checkpoint } from "../gzip/checkpoint.ts";
import { nativeCrc32 } from "../gzip/crc_check.ts";
import { checkpointInflater, type Inflater } from "../gzip/native_inflater.ts";
import type { TarEntry } from "../tar/entry.ts";
import { encodeEntries } from "../tar/entry_codec.ts";
import { TarReader } from "../tar/reader.ts";
import { MAX_SPANS } from "./limits.ts";

/** The worker's global scope, as much of it as this module uses (no global lib directive). */
const scope = self as unknown as {
  postMessage(message: unknown, transfer: Transferable[]): void;
  onmessage: ((ev: MessageEvent<ScanRequest>) => void) | null;
};

/** Messages to a scan worker. */
export type ScanRequest =
  | { type: "start"; spanSize: number }
  | { type: "chunk"; bytes: Uint8Array }
  | { type: "end" };

/** A span start: where a checkpoint was placed (compressed offset and bits). */
export interface WorkerSpanStart {
  in: number;
  bits: number;
}

/** Messages from a scan worker. */
export type ScanResponse =
  | { type: "ready" }
  | {
    type: "decoded";
    starts: WorkerSpanStart[];
    /**
     * Compressed chunks given back, in order: those the inflater no longer
     * reads (it keeps views of the last ones, for its probes and replays).
     */
    bytes: Uint8Array[];
    /** Tar entries read since the last message (`encodeEntries`), if any. */
    entries?: Uint8Array;
    /** Compressed offset up to which every span start was sent (see `CheckpointInflater.settled`). */
    settled: number;
  }
  | {
    type: "done";
    checkpoints: Checkpoint[];
    /** The tar stream's size, as the tar reader saw it. */
    uncompressedSize: number;
    /** The compressed chunks not given back yet. */
    bytes: Uint8Array[];
    /** The last tar entries, if any. */
    entries?: Uint8Array;
  }
  | { type: "error"; kind: string; message: string; fatal?: boolean };

let inflater: Inflater | undefined;
let tar: TarReader | undefined;
/** A tar error, kept while inflating goes on: a gzip error, if one comes, names the real problem. */
let tarError: unknown;
let entries: TarEntry[] = [];
let failed = false;
/** Compressed chunks the inflater may still read, with the stream offset of each. */
let held: Array<{ at: number; bytes: Uint8Array }> = [];
let pushed = 0;
let starts: WorkerSpanStart[] = [];

/** Takes the held chunks wholly before `offset` (all with Infinity). */
function release(offset: number): Uint8Array[] {
  let n = 0;
  while (n < held.length && held[n].at + held[n].bytes.length <= offset) n++;
  return held.splice(0, n).map((h) => h.bytes);
}

/** The entries read since the last call, packed; undefined when none. */
function takeEntries(): Uint8Array | undefined {
  if (entries.length === 0) return undefined;
  const packed = encodeEntries(entries);
  entries = [];
  return packed;
}

function post(msg: ScanResponse, t: Transferable[] = []): void {
  scope.postMessage(msg, t);
}

/** Uncompressed bytes, read as tar where they are (a view valid during the call). */
function data(bytes: Uint8Array): void {
  if (tar === undefined || tar.done || tarError !== undefined) return;
  try {
    tar.push(bytes);
  } catch (e) {
    tarError = e;
  }
}

function fail(e: unknown): void {
  failed = true;
  inflater?.free();
  inflater = undefined;
  tar = undefined;
  held = [];
  starts = [];
  entries = [];
  const err = e as Error & { kind?: string };
  post({ type: "error", kind: err.kind ?? "internal", message: err.message ?? String(e) });
}

scope.onmessage = (ev: MessageEvent<ScanRequest>) => {
  const msg = ev.data;
  try {
    switch (msg.type) {
      case "start":
        failed = false;
        held = [];
        pushed = 0;
        starts = [];
        entries = [];
        tarError = undefined;
        tar = new TarReader((e) => entries.push(e));
        inflater = checkpointInflater(msg.spanSize, {
          data,
          checkpoint: (cp) => starts.push({ in: cp.in, bits: cp.bits }),
        }, { check: nativeCrc32, maxCheckpoints: MAX_SPANS, keepsInput: true });
        break;
      case "chunk": {
        if (failed) break;
        held.push({ at: pushed, bytes: msg.bytes });
        pushed += msg.bytes.length;
        inflater!.push(msg.bytes);
        const back = release(inflater!.needFrom);
        const packed = takeEntries();
        post(
          { type: "decoded", starts, bytes: back, entries: packed, settled: inflater!.settled },
          [
            ...back.map((b) => b.buffer as ArrayBuffer),
            ...(packed ? [packed.buffer as ArrayBuffer] : []),
          ],
        );
        starts = [];
        break;
      }
      case "end":
        if (!failed) {
          const summary = inflater!.end();
          inflater = undefined;
          if (tarError !== undefined) throw tarError;
          const uncompressedSize = tar!.end();
          tar = undefined;
          const windows = summary.checkpoints.map((c) => c.window.buffer as ArrayBuffer);
          const back = release(Infinity);
          const packed = takeEntries();
          post({
            type: "done",
            checkpoints: summary.checkpoints,
            uncompressedSize,
            bytes: back,
            entries: packed,
          }, [
            ...windows,
            ...back.map((b) => b.buffer as ArrayBuffer),
            ...(packed ? [packed.buffer as ArrayBuffer] : []),
          ]);
        }
        break;
    }
  } catch (e) {
    fail(e);
  }
};

// Loaded: the pool may send work now.
post({ type: "ready" });
