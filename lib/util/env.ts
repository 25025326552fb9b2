/**
 * Environment variables read only where Deno already grants them, so a
 * command run with the least permissions never prompts or fails for one.
 *
 * @module
 */

/**
 * The variable `name`, or `undefined` when it is unset or Deno does not
 * grant reading it without asking.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { grantedEnv } from "./env.ts";
 * const granted = Deno.permissions.querySync({ name: "env", variable: "HOME" }).state === "granted";
 * assert.equal(grantedEnv("HOME"), granted ? Deno.env.get("HOME") : undefined);
 * ```
 */
export function grantedEnv(name: string): string | undefined {
  try {
    if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
      return undefined;
    }
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}
