/**
 * A push-driven resume from a gzip checkpoint, for checking a zTOC while a
 * layer streams past: fed the compressed bytes from the checkpoint's span
 * start, it inflates (primed with the checkpoint's bits, its window as the
 * dictionary, across member boundaries as `soci-format.md` §5.5 says)
 * until it has produced the first `want` bytes of the span: a
 * `CheckpointResumer` that keeps what it produced and reports a failure
 * instead of throwing it.
 *
 * @module
 */
import type { Checkpoint } from "../gzip/checkpoint.ts";
import { CheckpointResumer } from "../gzip/resume.ts";

/** How the resumer's errors begin (a reader's context, not a probe's). */
const SPAN_PREFIX = "cannot decompress span: ";
/**
 * Compressed bytes handed to the resumer at a time: a probe wants a few
 * KiB of output, and the resumer copies what it is given into WASM memory
 * (up to 1 MiB at once), so a whole chunk would be copied for nothing.
 */
const STEP = 64 * 1024;

/**
 * Resumes inflating at a checkpoint and collects the first `want` output
 * bytes. Call {@link ResumeProbe.push} with the compressed bytes in order,
 * starting at the span's first byte (`in − 1` when `bits` is not 0, else
 * `in`), until `done`; then read `output` (`produced` bytes) or `error`.
 * Never call it from inside another inflater's output callback (it
 * allocates WASM memory).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gzipSync } from "node:zlib";
 * import { CheckpointInflater } from "../gzip/inflater.ts";
 * import { ResumeProbe } from "./resume_probe.ts";
 * const text = new TextEncoder().encode("x".repeat(100_000));
 * const gz = gzipSync(text);
 * const inf = new CheckpointInflater(0, { data: () => {} });
 * inf.push(gz);
 * const cp = inf.end().checkpoints[0];
 * const probe = new ResumeProbe(cp, 10);
 * probe.push(gz.subarray(cp.in));
 * assert.ok(probe.done && probe.produced === 10);
 * assert.equal(new TextDecoder().decode(probe.output), "x".repeat(10));
 * ```
 */
export class ResumeProbe {
  /** The bytes produced so far (`produced` of them are valid). */
  readonly output: Uint8Array;
  /** How many output bytes were produced. */
  produced = 0;
  /** Stopped: enough output, the data ended, or an error. */
  done = false;
  /** Why inflating failed, when it did. */
  error?: string;
  readonly #cp: Checkpoint;
  #resumer: CheckpointResumer | undefined;

  /** A probe of checkpoint `cp` collecting `want` bytes (0 is done at once). */
  constructor(cp: Checkpoint, want: number) {
    this.#cp = cp;
    this.output = new Uint8Array(Math.max(0, want));
    if (this.output.length === 0) this.done = true;
  }

  /** Feeds the next compressed bytes. */
  push(chunk: Uint8Array): void {
    if (this.done || chunk.length === 0) return;
    try {
      const resumer = this.#resumer ??= new CheckpointResumer(this.#cp);
      const sink = (out: Uint8Array) => {
        this.output.set(out, this.produced);
        this.produced += out.length;
      };
      for (let at = 0; at < chunk.length && !this.done; at += STEP) {
        resumer.feed(chunk.subarray(at, at + STEP));
        if (resumer.run(this.output.length, sink)) this.done = true;
      }
    } catch (e) {
      const message = (e as Error).message;
      this.error = message.startsWith(SPAN_PREFIX) ? message.slice(SPAN_PREFIX.length) : message;
      this.done = true;
    }
    if (this.done) this.free();
  }

  /** Frees the WASM memory (done automatically once `done`). */
  free(): void {
    this.#resumer?.free();
    this.#resumer = undefined;
  }
}
