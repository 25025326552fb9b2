/**
 * Byte sizes on the command line: a Go integer, or a number with a unit
 * (`4MiB`, `512KiB`, `10MB`).
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import { parseGoInt } from "../go/strconv.ts";

/** Byte multipliers of the units a size flag accepts (`KiB` = 1024, `KB` = 1000, `K` = 1024). */
const SIZE_UNITS: Record<string, bigint> = {
  b: 1n,
  k: 1n << 10n,
  kib: 1n << 10n,
  kb: 1000n,
  m: 1n << 20n,
  mib: 1n << 20n,
  mb: 1000n ** 2n,
  g: 1n << 30n,
  gib: 1n << 30n,
  gb: 1000n ** 3n,
  t: 1n << 40n,
  tib: 1n << 40n,
  tb: 1000n ** 4n,
};

/**
 * A byte size: a Go integer (`4194304`, `0x400000`), or a number with a unit
 * (`4MiB`, `512KiB`, `1.5MB`, `10M`; binary for `K`/`M`/`G`/`T` and `…iB`,
 * decimal for `KB`/`MB`/…), case-insensitive. The result must be a whole
 * number of bytes in the int64 range.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSize } from "./size.ts";
 * assert.equal(parseSize("4MiB"), 4194304n);
 * assert.equal(parseSize("1.5kb"), 1500n);
 * assert.equal(parseSize("-1"), -1n);
 * assert.throws(() => parseSize("4 parsecs"), /not a size/);
 * ```
 */
export function parseSize(text: string): bigint {
  try {
    return parseGoInt(text);
  } catch (e) {
    const m = /^\s*(\d+)(?:\.(\d+))?\s*([a-zA-Z]+)\s*$/.exec(text);
    const unit = m ? SIZE_UNITS[m[3].toLowerCase()] : undefined;
    if (!m || unit === undefined) {
      if (/^[+-]?\d[\d_]*$|^0[xXoObB]/.test(text)) throw e; // Go's own error (range)
      throw new BadInputError("not a size (give a byte count or a unit: 4MiB, 512KiB, 10MB)");
    }
    const frac = m[2] ?? "";
    const scaled = BigInt(m[1] + frac) * unit;
    const div = 10n ** BigInt(frac.length);
    if (scaled % div !== 0n) throw new BadInputError("not a whole number of bytes");
    const v = scaled / div;
    if (v > (1n << 63n) - 1n) throw new BadInputError("value out of range");
    return v;
  }
}
