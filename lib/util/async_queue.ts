/**
 * A small unbounded async queue: producers `push`, one consumer iterates.
 *
 * @module
 */

/**
 * An async-iterable queue. `close()` ends the iteration after the queued
 * items; `fail(e)` makes the consumer throw `e`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AsyncQueue } from "./async_queue.ts";
 * const q = new AsyncQueue<number>();
 * q.push(1); q.push(2); q.close();
 * const seen = [];
 * for await (const n of q) seen.push(n);
 * assert.ok(seen.join() === "1,2");
 * ```
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  #items: T[] = [];
  #head = 0;
  #closed = false;
  #error: { e: unknown } | undefined;
  #wake: (() => void) | undefined;

  /** Adds an item. */
  push(item: T): void {
    this.#items.push(item);
    this.#notify();
  }
  /** Ends the iteration once the queued items are consumed. */
  close(): void {
    this.#closed = true;
    this.#notify();
  }
  /** Makes the consumer throw `e` at its next step. */
  fail(e: unknown): void {
    this.#error = { e };
    this.#notify();
  }
  /** Items waiting. */
  get size(): number {
    return this.#items.length - this.#head;
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      if (this.#error) throw this.#error.e;
      if (this.#head < this.#items.length) {
        const item = this.#items[this.#head];
        this.#items[this.#head++] = undefined as T;
        if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
          this.#items = this.#items.slice(this.#head);
          this.#head = 0;
        }
        yield item;
        continue;
      }
      if (this.#closed) return;
      await new Promise<void>((r) => (this.#wake = r));
    }
  }
}
