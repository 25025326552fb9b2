/**
 * `pipe()`: chains stages left to right.
 *
 * @module
 */

/**
 * Chains stages: `pipe(image, f, g, h)` is `h(g(f(image)))`. Every stage
 * called with its options only (`layers(opts)`, `spans(opts)`, `ztoc()`,
 * `index(opts)`) returns the function `pipe` needs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pipe } from "./pipe.ts";
 * import { index } from "./index.ts";
 * import { layers } from "./layers.ts";
 * import { spans } from "./spans.ts";
 * import { ztoc } from "./ztoc.ts";
 * import { OciLayoutSource } from "../image/oci_layout.ts";
 * const image = OciLayoutSource.fromReference("oci:./fixtures/sample-image:latest");
 * const soci = await pipe(
 *   image,
 *   layers({ minLayerSize: 0 }),
 *   spans({ spanSize: 1 << 18 }),
 *   ztoc(),
 *   index(),
 * );
 * assert.equal(soci.manifest.layers.length, 2);
 * assert.equal(soci.manifest.layers[0].annotations?.["com.amazon.soci.span-size"], "262144");
 * ```
 */
export function pipe<A, B>(a: A, f: (a: A) => B): B;
/** `pipe(a, f, g)` is `g(f(a))`. */
export function pipe<A, B, C>(a: A, f: (a: A) => B, g: (b: B) => C): C;
/** `pipe(a, f, g, h)` is `h(g(f(a)))`. */
export function pipe<A, B, C, D>(a: A, f: (a: A) => B, g: (b: B) => C, h: (c: C) => D): D;
/** `pipe(a, f, g, h, i)` is `i(h(g(f(a))))`. */
export function pipe<A, B, C, D, E>(
  a: A,
  f: (a: A) => B,
  g: (b: B) => C,
  h: (c: C) => D,
  i: (d: D) => E,
): E;
/** `pipe(a, f, g, h, i, j)` is `j(i(h(g(f(a)))))`. */
export function pipe<A, B, C, D, E, F>(
  a: A,
  f: (a: A) => B,
  g: (b: B) => C,
  h: (c: C) => D,
  i: (d: D) => E,
  j: (e: E) => F,
): F;
/** `pipe(a, f, g, h, i, j, k)`: seven stages. */
export function pipe<A, B, C, D, E, F, G>(
  a: A,
  f: (a: A) => B,
  g: (b: B) => C,
  h: (c: C) => D,
  i: (d: D) => E,
  j: (e: E) => F,
  k: (f: F) => G,
): G;
export function pipe(a: unknown, ...fns: Array<(x: unknown) => unknown>): unknown {
  return fns.reduce((x, f) => f(x), a);
}
