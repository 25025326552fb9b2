/**
 * Worker side of `ScanPool`: inflates a gzip layer (natively where Deno's
 * zlib allows it, else with WASM zlib; see `native_inflater.ts`) and
 * nothing else, so that the inflate thread never waits (the gzip CRC-32 is
 * checked by the main thread).
 * Each compressed chunk the main thread posts is answered with the span
 * starts (checkpoints) settled by it, how far they are settled (a start
 * may be found a chunk late), the chunk's buffer (given back for reuse)
 * and the uncompressed bytes it produced, copied into buffers that are
 * transferred, not copied, to the main thread (which reads the tar, hashes
 * and builds the TOC) and come back with later chunks.
 *
 * @module
 */
import type { Checkpoint } from "../gzip/checkpoint.ts";
import type { MemberEnd } from "../gzip/inflater.ts";
import { checkpointInflater, type Inflater } from "../gzip/native_inflater.ts";
import { MAX_SPANS } from "./limits.ts";

/** The worker's global scope, as much of it as this module uses (no global lib directive). */
const scope = self as unknown as {
  postMessage(message: unknown, transfer: Transferable[]): void;
  onmessage: ((ev: MessageEvent<ScanRequest>) => void) | null;
};

/** Messages to a scan worker. */
export type ScanRequest =
  | { type: "start"; spanSize: number }
  | {
    type: "chunk";
    bytes: Uint8Array;
    /** Output buffers given back for reuse (transferred). */
    free: ArrayBuffer[];
  }
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
    /** Uncompressed bytes produced from it, in order (views of transferred buffers). */
    out: Uint8Array[];
    /** gzip members that ended in it: the main thread checks their CRC-32 and length. */
    members: MemberEnd[];
    /** Compressed offset up to which every span start was sent (see `CheckpointInflater.settled`). */
    settled: number;
  }
  | {
    type: "done";
    checkpoints: Checkpoint[];
    uncompressedSize: number;
    /** The compressed chunks not given back yet. */
    bytes: Uint8Array[];
  }
  | { type: "error"; kind: string; message: string; fatal?: boolean };

/** Size of the buffers that carry uncompressed bytes to the main thread. */
export const OUT_BUFFER = 1 << 20;

let inflater: Inflater | undefined;
let failed = false;
/** Compressed chunks the inflater may still read, with the stream offset of each. */
let held: Array<{ at: number; bytes: Uint8Array }> = [];
let pushed = 0;

/** Takes the held chunks wholly before `offset` (all with Infinity). */
function release(offset: number): Uint8Array[] {
  let n = 0;
  while (n < held.length && held[n].at + held[n].bytes.length <= offset) n++;
  return held.splice(0, n).map((h) => h.bytes);
}
let starts: WorkerSpanStart[] = [];
let members: MemberEnd[] = [];
let out: Uint8Array[] = [];
let transfer: ArrayBuffer[] = [];
const free: ArrayBuffer[] = [];
let buf: Uint8Array | undefined;
let fill = 0;

function post(msg: ScanResponse, t: Transferable[] = []): void {
  scope.postMessage(msg, t);
}

/** Hands the filled part of the current output buffer on. */
function flush(): void {
  if (buf === undefined || fill === 0) return;
  out.push(buf.subarray(0, fill));
  transfer.push(buf.buffer as ArrayBuffer);
  buf = undefined;
  fill = 0;
}

function data(bytes: Uint8Array): void {
  let at = 0;
  while (at < bytes.length) {
    buf ??= new Uint8Array(free.pop() ?? new ArrayBuffer(OUT_BUFFER));
    const n = Math.min(buf.length - fill, bytes.length - at);
    buf.set(bytes.subarray(at, at + n), fill);
    fill += n;
    at += n;
    if (fill === buf.length) flush();
  }
}

function fail(e: unknown): void {
  failed = true;
  inflater?.free();
  inflater = undefined;
  held = [];
  buf = undefined;
  fill = 0;
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
        inflater = checkpointInflater(msg.spanSize, {
          data,
          checkpoint: (cp) => starts.push({ in: cp.in, bits: cp.bits }),
          member: (m) => members.push(m),
        }, { check: "caller", maxCheckpoints: MAX_SPANS, keepsInput: true });
        break;
      case "chunk":
        for (const b of msg.free) if (b.byteLength === OUT_BUFFER) free.push(b);
        if (failed) break;
        held.push({ at: pushed, bytes: msg.bytes });
        pushed += msg.bytes.length;
        inflater!.push(msg.bytes);
        flush();
        {
          const back = release(inflater!.needFrom);
          post({ type: "decoded", starts, bytes: back, out, members, settled: inflater!.settled }, [
            ...back.map((b) => b.buffer as ArrayBuffer),
            ...transfer,
          ]);
        }
        starts = [];
        members = [];
        out = [];
        transfer = [];
        break;
      case "end":
        if (!failed) {
          const summary = inflater!.end();
          inflater = undefined;
          const windows = summary.checkpoints.map((c) => c.window.buffer as ArrayBuffer);
          const back = release(Infinity);
          post({
            type: "done",
            checkpoints: summary.checkpoints,
            uncompressedSize: summary.totalOut,
            bytes: back,
          }, [...windows, ...back.map((b) => b.buffer as ArrayBuffer)]);
        }
        break;
    }
  } catch (e) {
    starts = [];
    members = [];
    out = [];
    transfer = [];
    fail(e);
  }
};

// Loaded: the pool may send work now.
post({ type: "ready" });
