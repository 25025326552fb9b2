/**
 * Worker side of `ScanPool`: runs a {@link LayerDecoder} (inflate + tar)
 * on the chunks the main thread posts and answers each with the span
 * starts found in it. One WASM zlib instance per worker.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { LayerDecoder } from "./scan.ts";
import type { ScanRequest, ScanResponse } from "./scan_pool.ts";

let decoder: LayerDecoder | undefined;
let failed = false;

function post(msg: ScanResponse, transfer: Transferable[] = []): void {
  self.postMessage(msg, transfer);
}

function fail(e: unknown): void {
  failed = true;
  decoder?.free();
  decoder = undefined;
  const err = e as Error & { kind?: string };
  post({ type: "error", kind: err.kind ?? "internal", message: err.message ?? String(e) });
}

self.onmessage = (ev: MessageEvent<ScanRequest>) => {
  const msg = ev.data;
  try {
    switch (msg.type) {
      case "start":
        failed = false;
        decoder = new LayerDecoder(msg.compression, msg.spanSize);
        break;
      case "chunk":
        // The buffer goes back to the main thread for the span digests and reuse.
        if (!failed) {
          post({ type: "decoded", starts: decoder!.push(msg.bytes), bytes: msg.bytes }, [
            msg.bytes.buffer as ArrayBuffer,
          ]);
        }
        break;
      case "end":
        if (!failed) {
          const result = decoder!.end();
          decoder = undefined;
          const transfer = result.checkpoints.map((c) => c.window.buffer as ArrayBuffer);
          post({ type: "done", result }, transfer);
        }
        break;
    }
  } catch (e) {
    fail(e);
  }
};

// Loaded: the pool may send work now.
post({ type: "ready" });
