/**
 * Cleaning the tar names of TOC entries before comparing them (the merged tree of an image,
 * finding a file in a zTOC).
 *
 * @module
 */

/** Names that need the full cleaning: `.`/`..`/empty parts after the first, or `//`. */
const SLOW_PATH = /\/\/|\/\.\.?(\/|$)|^\.\.?$|^\.\.\/|^\/\.|^\.\/\.|^\.\/\/|^\/\//;

/**
 * A tar name cleaned for comparing names: no leading `/` or `./`, no
 * trailing `/`, `.` and empty parts dropped, `..` applied (never above the
 * root); `""` is the root.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cleanPath } from "./clean_path.ts";
 * assert.equal(cleanPath("./usr//bin/../lib/"), "usr/lib");
 * assert.equal(cleanPath("/../etc"), "etc");
 * assert.equal(cleanPath("./"), "");
 * ```
 */
export function cleanPath(path: string): string {
  // Most tar names are `./a/b` or `a/b/`: no `.`, `..` or empty parts inside.
  if (!SLOW_PATH.test(path)) {
    let a = path.startsWith("./") ? 2 : path.startsWith("/") ? 1 : 0;
    if (path === ".") a = 1;
    const b = path.endsWith("/") ? path.length - 1 : path.length;
    return a >= b ? "" : path.slice(a, b);
  }
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return out.join("/");
}
