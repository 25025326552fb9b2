/**
 * Deno's operating-system error texts, rewritten the way Go (and so the
 * upstream `soci`) prints them: `No such file or directory (os error 2):
 * mkdir '/a/b'` becomes `mkdir /a/b: no such file or directory`.
 *
 * @module
 */

/** `<Description> (os error <n>)`, then `: <op> '<path>'` and ` -> '<path>'` when Deno gives them. */
const OS_ERROR = /([A-Z][^():]*?) \(os error \d+\)(?:: ([a-z_]+) '([^']*)'(?: -> '([^']*)')?)?/g;

/** Deno's operation names that Go calls differently. */
const GO_OPS: Record<string, string> = { readfile: "open", writefile: "open" };

/**
 * `text` with every Deno OS error in it written Go's way: the operation and
 * its paths first, then the lower-cased description, without the error
 * number. Other text is left as it is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { osErrorText } from "./os_error.ts";
 * assert.equal(
 *   osErrorText("cannot write x: No such file or directory (os error 2): mkdir '/proc/x/y'"),
 *   "cannot write x: mkdir /proc/x/y: no such file or directory",
 * );
 * assert.equal(
 *   osErrorText("Permission denied (os error 13): rename '/a' -> '/b'"),
 *   "rename /a /b: permission denied",
 * );
 * assert.equal(osErrorText("No space left on device (os error 28)"), "no space left on device");
 * ```
 */
export function osErrorText(text: string): string {
  return text.replace(OS_ERROR, (_, desc: string, op?: string, path?: string, to?: string) => {
    const what = desc.charAt(0).toLowerCase() + desc.slice(1);
    if (op === undefined) return what;
    return `${GO_OPS[op] ?? op} ${path}${to === undefined ? "" : ` ${to}`}: ${what}`;
  });
}
