/**
 * Worker side of `verify_pool.ts`: runs the decoding half of a layer check
 * ({@link LayerDecodeCheck}: inflate, tar, checkpoint windows, resume
 * probes, and the tar entries compared with the zTOC's TOC when its bytes
 * come with the start) on the chunks the main thread posts, and hands each
 * chunk's buffer back for reuse. One WASM zlib instance per worker.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { zinfoOf } from "./spans.ts";
import type { Ztoc } from "./model.ts";
import { LayerDecodeCheck } from "./verify_layer.ts";
import { ZtocView } from "./ztoc_view.ts";
import type { VerifyRequest, VerifyResponse } from "./verify_pool.ts";

let check: LayerDecodeCheck | undefined;

function post(msg: VerifyResponse, transfer: Transferable[] = []): void {
  self.postMessage(msg, transfer);
}

self.onmessage = (ev: MessageEvent<VerifyRequest>) => {
  const m = ev.data;
  try {
    switch (m.type) {
      case "start": {
        const z = {
          compressionAlgorithm: m.algorithm,
          checkpoints: m.zinfo,
        } as Partial<Ztoc> as Ztoc;
        check = new LayerDecodeCheck(zinfoOf(z), m.sizes, {
          resumeBytes: m.resumeBytes,
          // The main thread opened the same bytes: this opens.
          toc: m.toc && ZtocView.decode(m.toc),
          tocListed: m.tocListed,
        });
        break;
      }
      case "chunk":
        check?.push(m.bytes);
        post({ type: "chunk", bytes: m.bytes }, [m.bytes.buffer as ArrayBuffer]);
        break;
      case "end": {
        const result = check!.end();
        check = undefined;
        post({ type: "done", result });
        break;
      }
    }
  } catch (e) {
    check?.free();
    check = undefined;
    post({ type: "error", message: (e as Error).message ?? String(e) });
  }
};

// Loaded: the main thread may send work now.
post({ type: "ready" });
