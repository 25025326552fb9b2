/**
 * Starting a scan worker (`scan_worker.ts`) and talking to it: a
 * {@link Channel} (a `WorkerChannel`) queues its answers in order.
 * {@link prestartScanWorker} starts one before it is needed — the worker
 * loads its module and compiles zlib's WASM while the caller still loads
 * its own modules or opens the image — and the next
 * {@link startScanWorker} (a `ScanPool` taking a worker) gets it. This
 * module imports nothing heavy, so that a command can start the worker
 * first thing.
 *
 * @module
 */
import type { ScanResponse } from "./scan_worker.ts";
import {
  type StartingWorker as Starting,
  startWorker,
  type WorkerChannel,
  WorkerUnavailable,
} from "../util/worker_channel.ts";

export { WorkerUnavailable };

const WORKER_URL = new URL("./scan_worker.ts", import.meta.url);

/** A scan worker and the answers it sent, consumed in order. */
export type Channel = WorkerChannel<ScanResponse>;

/** A scan worker being started (see `startWorker`). */
export type StartingWorker = Starting<ScanResponse>;

/** Workers started ahead, oldest first. */
const prestarted: StartingWorker[] = [];
/** Workers started by {@link startScanWorkersEarly} that no `prestartScanWorker` claimed yet. */
const unclaimed: StartingWorker[] = [];

function spawn(): StartingWorker {
  return startWorker<ScanResponse>(
    WORKER_URL,
    (message) => ({ type: "error", kind: "internal", message, fatal: true }),
    "scan worker",
  );
}

/** A worker started ahead, for the next {@link startScanWorker}. */
function spawnAhead(): StartingWorker {
  const w = spawn();
  w.ready.catch(() => {}); // whoever takes it sees the failure
  prestarted.push(w);
  return w;
}

/**
 * A scan worker: the prestarted one when there is one, else a new one.
 * Throws `WorkerUnavailable` when workers cannot start here.
 */
export function startScanWorker(): StartingWorker {
  return prestarted.shift() ?? spawn();
}

/**
 * Starts `count` scan workers now (default 1) for the next `ScanPool`s that
 * need them. Dispose of the result when done: the workers nobody took are
 * then stopped. Where workers cannot start, nothing is started (the scan
 * finds out itself).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { prestartScanWorker, startScanWorker } from "./scan_channel.ts";
 * {
 *   using _ = prestartScanWorker();
 *   const { channel, ready } = startScanWorker(); // the prestarted worker
 *   await ready;
 *   assert.equal(channel.dead, false);
 *   channel.kill("done");
 * }
 * {
 *   using _ = prestartScanWorker(2); // not taken: both stopped at the end of the block
 * }
 * ```
 */
export function prestartScanWorker(count = 1): Disposable {
  // Workers started early (at program start) count towards `count`, and
  // are stopped with the others when not taken.
  const mine: StartingWorker[] = unclaimed.splice(0, count);
  try {
    while (mine.length < count) mine.push(spawnAhead());
  } catch (e) {
    if (!(e instanceof WorkerUnavailable)) throw e;
  }
  return {
    [Symbol.dispose]() {
      for (const w of mine) {
        const i = prestarted.indexOf(w);
        if (i < 0) continue; // taken
        prestarted.splice(i, 1);
        w.channel.kill("scan worker not used");
      }
    },
  };
}

/**
 * Starts `count` scan workers at program start: creating a worker holds
 * the calling thread for about 35 ms, and the worker then loads its
 * modules for about 40 ms more, which this overlaps with the caller's own
 * start (evaluating its modules, reading its arguments). The next
 * {@link prestartScanWorker} claims them (and stops those not used); until
 * then nothing stops them, so only a program's entry point should call
 * this. Where workers cannot start, nothing is started.
 *
 * @example
 * ```ts
 * import { prestartScanWorker, startScanWorkersEarly } from "./scan_channel.ts";
 * startScanWorkersEarly(1);
 * // … later, where the scans run: claims the worker, and stops it if unused.
 * using _ = prestartScanWorker(1);
 * ```
 */
export function startScanWorkersEarly(count: number): void {
  try {
    for (let i = 0; i < count; i++) unclaimed.push(spawnAhead());
  } catch (e) {
    if (!(e instanceof WorkerUnavailable)) throw e;
  }
}
