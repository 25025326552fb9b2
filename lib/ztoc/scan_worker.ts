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
 * Asked to build the zTOC (`start` with `build`), the worker keeps the
 * entries (packed: thousands of live objects would slow every garbage
 * collection of this thread, which allocates all the time) and the
 * checkpoints instead of sending them, and once the main thread sends the
 * span digests it builds and encodes the zTOC here: only the zTOC's bytes
 * cross threads.
 *
 * @module
 */
import type { Checkpoint } from "../gzip/checkpoint.ts";
import type { TarEntry } from "../tar/entry.ts";
import { encodeEntries, PackedEntries } from "../tar/entry_codec.ts";
import { encodeScan, type EncodeScanOptions, EntryCheck } from "./builder.ts";
import { LayerDecoder } from "./layer_decoder.ts";
import type { SpanStart } from "./scan.ts";

/** The worker's global scope, as much of it as this module uses (no global lib directive). */
const scope = self as unknown as {
  postMessage(message: unknown, transfer: Transferable[]): void;
  onmessage: ((ev: MessageEvent<ScanRequest>) => void) | null;
};

/** Messages to a scan worker. */
export type ScanRequest =
  /** A new layer; with `build`, its zTOC is built here (see `encode`). */
  | { type: "start"; spanSize: number; build?: EncodeScanOptions }
  | { type: "chunk"; bytes: Uint8Array }
  | { type: "end" }
  /** Build and encode the zTOC of the layer just ended, with these span digests. */
  | { type: "encode"; spanDigests: string[] }
  /** Forget the layer just ended (its zTOC is not wanted after all). */
  | { type: "drop" };

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
    /** The span starts not sent yet. */
    starts: SpanStart[];
    /** The checkpoints, windows included (not when the zTOC is built here). */
    checkpoints?: Checkpoint[];
    /** The tar stream's size, as the tar reader saw it. */
    uncompressedSize: number;
    /** The compressed chunks not given back yet. */
    bytes: Uint8Array[];
    /** The last tar entries, if any (none when the zTOC is built here). */
    entries?: Uint8Array;
  }
  | ({ type: "encoded" } & EncodedZtocMessage)
  | { type: "error"; kind: string; message: string; fatal?: boolean };

/** What `encoded` carries: `EncodedZtoc`. */
export interface EncodedZtocMessage {
  /** The zTOC's bytes. */
  bytes: Uint8Array;
  /** Entries of its TOC. */
  files: number;
  /** Its spans. */
  spans: number;
  /** Whether the `xattr` optimization may mark it, when asked. */
  xattrFree?: boolean;
}

/** A layer read to its end whose zTOC is to be built here. */
interface Finished {
  checkpoints: Checkpoint[];
  uncompressedSize: number;
  /** The entries, packed (`encodeEntries`). */
  entries: Uint8Array[];
  /** The entries, checked as they were read. */
  check: EntryCheck;
  size: number;
}

let decoder: LayerDecoder | undefined;
/** With `start`'s `build`: the zTOC is built here. */
let build: EncodeScanOptions | undefined;
let finished: Finished | undefined;
/** The entries read so far, packed, when the zTOC is built here. */
let kept: Uint8Array[] = [];
/** Those entries checked, in order, while still objects (`encodeScan` then need not read them first). */
let check = new EntryCheck();
let spanSize = 0;
/** Span starts sent so far. */
let sent = 0;
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

/** `entries` packed, or undefined when there are none; checked first when the zTOC is built here. */
function pack(entries: TarEntry[]): Uint8Array | undefined {
  if (build) { for (let i = 0; i < entries.length; i++) check.add(entries[i]); }
  return entries.length === 0 ? undefined : encodeEntries(entries);
}

function post(msg: ScanResponse, t: Transferable[] = []): void {
  scope.postMessage(msg, t);
}

function fail(e: unknown): void {
  failed = true;
  decoder?.free();
  decoder = undefined;
  finished = undefined;
  kept = [];
  check = new EntryCheck();
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
        sent = 0;
        build = msg.build;
        finished = undefined;
        kept = [];
        check = new EntryCheck();
        spanSize = msg.spanSize;
        // The uncompressed bytes are read as tar where they are, on this thread.
        decoder = new LayerDecoder("gzip", msg.spanSize, { keepsInput: true });
        break;
      case "chunk": {
        if (failed) break;
        held.push({ at: pushed, bytes: msg.bytes });
        pushed += msg.bytes.length;
        const starts = decoder!.push(msg.bytes);
        sent += starts.length;
        const back = release(decoder!.needFrom);
        const packed = pack(decoder!.takeEntries());
        const t = back.map((b) => b.buffer as ArrayBuffer);
        if (build) {
          // Kept here for the zTOC.
          if (packed) kept.push(packed);
          post({ type: "decoded", starts, bytes: back, settled: decoder!.settled }, t);
        } else {
          post(
            { type: "decoded", starts, bytes: back, entries: packed, settled: decoder!.settled },
            packed ? [...t, packed.buffer as ArrayBuffer] : t,
          );
        }
        break;
      }
      case "end":
        if (!failed) {
          const { checkpoints, uncompressedSize, entries } = decoder!.end();
          decoder = undefined;
          const starts = checkpoints.slice(sent).map((c) => ({ in: c.in, bits: c.bits }));
          const back = release(Infinity);
          const t = back.map((b) => b.buffer as ArrayBuffer);
          if (build) {
            const last = pack(entries);
            if (last) kept.push(last);
            finished = { checkpoints, uncompressedSize, entries: kept, check, size: pushed };
            kept = [];
            check = new EntryCheck();
            post({ type: "done", starts, uncompressedSize, bytes: back }, t);
            break;
          }
          const packed = pack(entries);
          post({
            type: "done",
            starts,
            checkpoints,
            uncompressedSize,
            bytes: back,
            entries: packed,
          }, [
            ...checkpoints.map((c) => c.window.buffer as ArrayBuffer),
            ...t,
            ...(packed ? [packed.buffer as ArrayBuffer] : []),
          ]);
        }
        break;
      case "encode": {
        const f = finished;
        finished = undefined;
        if (f === undefined) throw new Error("no layer read to build a zTOC of");
        const z = encodeScan({
          compression: "gzip",
          digest: "",
          size: f.size,
          uncompressedSize: f.uncompressedSize,
          spanSize,
          checkpoints: f.checkpoints,
          spanDigests: msg.spanDigests,
          entries: new PackedEntries(f.entries),
          checked: f.check,
        }, build);
        // The zTOC is a view of its own buffer (the last bytes of one its
        // size bound long, whose pages before it were never touched): the
        // buffer moves, the view keeps its place in it.
        post({ type: "encoded", ...z }, [z.bytes.buffer as ArrayBuffer]);
        break;
      }
      case "drop":
        finished = undefined;
        break;
    }
  } catch (e) {
    fail(e);
  }
};

// Loaded: the pool may send work now.
post({ type: "ready" });
