/**
 * Whether another process on this machine is still running, as `/proc`
 * tells (Linux), asked without a prompt: the recoveries of the stores use
 * it to tell a killed writer's leftovers from a live writer's work.
 *
 * @module
 */

/** True when this process may read `path` (asked without a prompt). */
function mayRead(path: string): boolean {
  try {
    return Deno.permissions.querySync({ name: "read", path }).state === "granted";
  } catch {
    return false;
  }
}

/**
 * Whether process `pid` is gone: `true` when `/proc` lists processes here
 * and has no `/proc/<pid>`, `false` when it has one, `undefined` when
 * `/proc` cannot tell (not Linux, or no leave to read it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { processGone } from "./process.ts";
 * const answer = processGone(Deno.pid);
 * assert.ok(answer === false || answer === undefined); // we are running
 * ```
 */
export function processGone(pid: number): boolean | undefined {
  if (!mayRead("/proc")) return undefined;
  try {
    Deno.statSync(`/proc/${pid}`);
    return false;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) return undefined;
  }
  try {
    Deno.statSync(`/proc/${Deno.pid}`); // /proc lists processes here
    return true;
  } catch {
    return undefined;
  }
}

/**
 * This process's pid namespace (`pid:[4026531836]`), or undefined when
 * `/proc` cannot tell: pids are only comparable within one namespace.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pidNamespace } from "./process.ts";
 * const ns = pidNamespace();
 * assert.ok(ns === undefined || ns.startsWith("pid:["));
 * ```
 */
export function pidNamespace(): string | undefined {
  if (!mayRead("/proc")) return undefined;
  try {
    return Deno.readLinkSync("/proc/self/ns/pid");
  } catch {
    return undefined;
  }
}
