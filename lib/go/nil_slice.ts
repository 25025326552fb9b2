/**
 * Go tells a nil slice from an empty one: `json.Marshal` writes `null` for
 * the first and `[]` for the second. A decoded nil slice is returned as an
 * empty array carrying a hidden mark, so that re-encoding it gives `null`
 * again while callers still see an ordinary (empty) array.
 *
 * @module
 */

const GO_NIL: unique symbol = Symbol("goNil");

/**
 * Marks an empty array as a Go nil slice (returns the same array).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isNilSlice, markNilSlice } from "./nil_slice.ts";
 * const layers = markNilSlice([]);
 * assert.deepEqual(layers, []);
 * assert.ok(isNilSlice(layers) && !isNilSlice([]));
 * ```
 */
export function markNilSlice<T>(arr: T[]): T[] {
  Object.defineProperty(arr, GO_NIL, { value: true, enumerable: false });
  return arr;
}

/**
 * True for `null`/`undefined` and for an empty array marked by
 * {@link markNilSlice} (an array that gained elements is no longer nil).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isNilSlice, markNilSlice } from "./nil_slice.ts";
 * const list = markNilSlice<number>([]);
 * list.push(1);
 * assert.ok(!isNilSlice(list) && isNilSlice(undefined));
 * ```
 */
export function isNilSlice(arr: readonly unknown[] | null | undefined): boolean {
  return arr == null || (arr.length === 0 && (arr as { [GO_NIL]?: boolean })[GO_NIL] === true);
}
