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
import type { TarEntry } from "../tar/entry.ts";
import { encodeEntries } from "../tar/entry_codec.ts";
import { LayerDecoder } from "./layer_decoder.ts";
import type { SpanStart } from "./scan.ts";

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

/** Messages from a scan worker. */
export type ScanResponse =
  | { type: "ready" }
  | {
    type: "decoded";
    /** Span starts (checkpoints) settled by this chunk. */
    starts: SpanStart[];
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

let decoder: LayerDecoder | undefined;
let failed = false;
/** Compressed chunks the decoder may still read, with the stream offset of each. */
let held: Array<{ at: number; bytes: Uint8Array }> = [];
let pushed = 0;

/** Takes the held chunks wholly before `offset` (all with Infinity). */
function release(offset: number): Uint8Array[] {
  let n = 0;
  while (n < held.length && held[n].at + held[n].bytes.length <= offset) n++;
  return held.splice(0, n).map((h) => h.bytes);
}

/** `entries` packed, or undefined when there are none. */
function pack(entries: TarEntry[]): Uint8Array | undefined {
  return entries.length === 0 ? undefined : encodeEntries(entries);
}

function post(msg: ScanResponse, t: Transferable[] = []): void {
  scope.postMessage(msg, t);
}

function fail(e: unknown): void {
  failed = true;
  decoder?.free();
  decoder = undefined;
  held = [];
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
        // The uncompressed bytes are read as tar where they are, on this thread.
        decoder = new LayerDecoder("gzip", msg.spanSize, { keepsInput: true });
        break;
      case "chunk": {
        if (failed) break;
        held.push({ at: pushed, bytes: msg.bytes });
        pushed += msg.bytes.length;
        const starts = decoder!.push(msg.bytes);
        const back = release(decoder!.needFrom);
        const packed = pack(decoder!.takeEntries());
        post(
          { type: "decoded", starts, bytes: back, entries: packed, settled: decoder!.settled },
          [
            ...back.map((b) => b.buffer as ArrayBuffer),
            ...(packed ? [packed.buffer as ArrayBuffer] : []),
          ],
        );
        break;
      }
      case "end":
        if (!failed) {
          const { checkpoints, uncompressedSize, entries } = decoder!.end();
          decoder = undefined;
          const windows = checkpoints.map((c) => c.window.buffer as ArrayBuffer);
          const back = release(Infinity);
          const packed = pack(entries);
          post({ type: "done", checkpoints, uncompressedSize, bytes: back, entries: packed }, [
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
