/**
 * Talking to a module worker that answers in order: a {@link WorkerChannel}
 * queues its answers, and {@link startWorker} starts one that says
 * `{ type: "ready" }` once its modules are loaded. The scan and verify
 * worker pools both run on these.
 *
 * @module
 */

/** A worker that could not start (no read access to its module, …). */
export class WorkerUnavailable extends Error {}

/**
 * A worker and the answers it sent, consumed in order. When the worker
 * fails (an uncaught error) or is killed, it is terminated and the answer
 * `failure(message)` is queued, so that whoever waits on it wakes up.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WorkerChannel } from "./worker_channel.ts";
 * const code = "self.onmessage = (e) => self.postMessage({ type: 'echo', n: e.data });";
 * const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
 * const c = new WorkerChannel<{ type: string; n?: number; message?: string }>(
 *   new Worker(url, { type: "module" }),
 *   (message) => ({ type: "error", message }),
 * );
 * c.worker.postMessage(7);
 * assert.deepEqual(await c.next(), { type: "echo", n: 7 });
 * c.kill("stopped");
 * assert.deepEqual(await c.next(), { type: "error", message: "stopped" });
 * assert.equal(c.dead, true);
 * URL.revokeObjectURL(url);
 * ```
 */
export class WorkerChannel<T> {
  /** The worker. */
  readonly worker: Worker;
  #queue: T[] = [];
  #wake: (() => void) | undefined;
  readonly #failure: (message: string) => T;
  /** Set once the worker failed or was killed: nothing more will come. */
  dead = false;

  /**
   * Listens to `worker`'s messages and errors; `failure` makes the answer
   * queued when it fails or is killed, and `name` (default "worker")
   * starts the message of a failure.
   */
  constructor(worker: Worker, failure: (message: string) => T, name = "worker") {
    this.worker = worker;
    this.#failure = failure;
    worker.onmessage = (ev: MessageEvent<T>) => this.push(ev.data);
    worker.onerror = (ev: ErrorEvent) => {
      ev.preventDefault();
      this.kill(`${name} failed: ${ev.message}`);
    };
  }

  /** Queues an answer. */
  push(m: T): void {
    this.#queue.push(m);
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  /** Ends the worker; a caller waiting on it gets `failure(message)`. */
  kill(message: string): void {
    if (this.dead) return;
    this.dead = true;
    this.worker.terminate();
    this.push(this.#failure(message));
  }

  /** The next answer, in order. */
  async next(): Promise<T> {
    while (this.#queue.length === 0) await new Promise<void>((r) => (this.#wake = r));
    return this.#queue.shift()!;
  }
}

/** A worker being started: `ready` resolves once it said so, or rejects with `WorkerUnavailable`. */
export interface StartingWorker<T> {
  /** The worker's channel (its first answer is taken by `ready`). */
  channel: WorkerChannel<T>;
  /** Resolves when the worker is ready; rejects (worker killed) when it cannot start. */
  ready: Promise<void>;
}

/**
 * Starts the module worker at `url`, which is to answer `{ type: "ready" }`
 * first. Throws `WorkerUnavailable` at once when its module cannot be read
 * (asking Deno first avoids the error it would print for a worker that
 * cannot load); `ready` rejects with it when the first answer is anything
 * else (the worker is then killed). `failure` and `name` are the
 * channel's (see {@link WorkerChannel}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { startWorker } from "./worker_channel.ts";
 * const code = "self.postMessage({ type: 'ready' });";
 * const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
 * const { channel, ready } = startWorker<{ type: string; message?: string }>(
 *   new URL(url),
 *   (message) => ({ type: "error", message }),
 * );
 * await ready;
 * assert.equal(channel.dead, false);
 * channel.kill("done");
 * URL.revokeObjectURL(url);
 * ```
 */
export function startWorker<T extends { type: string; message?: string }>(
  url: URL,
  failure: (message: string) => T,
  name?: string,
): StartingWorker<T> {
  if (url.protocol === "file:") {
    const read = Deno.permissions.querySync({ name: "read", path: url });
    if (read.state !== "granted") throw new WorkerUnavailable("no read access");
  }
  const channel = new WorkerChannel<T>(new Worker(url, { type: "module" }), failure, name);
  const ready = channel.next().then((first) => {
    if (first.type !== "ready") {
      channel.kill("");
      throw new WorkerUnavailable(first.type === "error" ? first.message : "no ready message");
    }
  });
  return { channel, ready };
}
