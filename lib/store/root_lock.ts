/**
 * The soci root's exclusive lock, shared by every artifact store of a root
 * (the local store and the containerd store keep one artifacts DB there):
 * a `flock` of the root directory itself, so locking leaves no file behind.
 * It serializes store commits, garbage collection, recoveries and
 * `rebuild-db` across processes and within one.
 *
 * @module
 */

/**
 * Runs `fn` holding the exclusive lock of `root` (created with mode 0700,
 * parents included, when missing). The lock is released when `fn` settles,
 * and by the kernel when the process dies.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { withRootLock } from "./root_lock.ts";
 * const root = await Deno.makeTempDir();
 * const order: string[] = [];
 * let inside!: () => void;
 * const entered = new Promise<void>((r) => inside = r);
 * const a = withRootLock(root, async () => {
 *   order.push("a in");
 *   inside();
 *   await new Promise((r) => setTimeout(r, 20));
 *   order.push("a out");
 * });
 * await entered;
 * await withRootLock(root, () => Promise.resolve(order.push("b")));
 * await a;
 * assert.deepEqual(order, ["a in", "a out", "b"]); // b waited for a
 * assert.deepEqual([...Deno.readDirSync(root)], []); // no lock file
 * await Deno.remove(root);
 * ```
 */
export async function withRootLock<T>(root: string, fn: () => Promise<T>): Promise<T> {
  await Deno.mkdir(root, { recursive: true, mode: 0o700 });
  const f = await Deno.open(root, { read: true });
  try {
    await f.lock(true);
    return await fn();
  } finally {
    f.close(); // closing releases the lock
  }
}
