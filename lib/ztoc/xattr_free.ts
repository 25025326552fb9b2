/**
 * The test of the `xattr` optimization (`soci-format.md` §7.5): whether a
 * zTOC's TOC lets its index descriptor say `disable-xattrs`.
 *
 * @module
 */
import type { FileMetadata } from "./model.ts";

const XATTR_PREFIX = new TextEncoder().encode("SCHILY.xattr.");
const OPAQUE_SUFFIX = new TextEncoder().encode(".wh..wh..opq");

function startsWith(a: Uint8Array, prefix: Uint8Array): boolean {
  if (a.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (a[i] !== prefix[i]) return false;
  return true;
}

function endsWith(a: Uint8Array, suffix: Uint8Array): boolean {
  const off = a.length - suffix.length;
  if (off < 0) return false;
  for (let i = 0; i < suffix.length; i++) if (a[off + i] !== suffix[i]) return false;
  return true;
}

/**
 * True when the `xattr` optimization may mark a zTOC `disable-xattrs`: no
 * entry has a `SCHILY.xattr.*` PAX record and no entry is an opaque
 * whiteout (`…/.wh..wh..opq`) (F§7.5).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { canDisableXattrs } from "./xattr_free.ts";
 * assert.ok(canDisableXattrs([]));
 * ```
 */
export function canDisableXattrs(toc: Iterable<FileMetadata>): boolean {
  for (const m of toc) if (!entryXattrFree(m.name, m.xattrs)) return false;
  return true;
}

/**
 * {@link canDisableXattrs} for one entry: its name and PAX records (a tar
 * entry's `name` and `pax`, a TOC entry's `name` and `xattrs`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { entryXattrFree } from "./xattr_free.ts";
 * const b = (s: string) => new TextEncoder().encode(s);
 * assert.ok(entryXattrFree(b("a/b"), [[b("path"), b("a/b")]]));
 * assert.ok(!entryXattrFree(b("a/.wh..wh..opq"), []));
 * assert.ok(!entryXattrFree(b("a/b"), [[b("SCHILY.xattr.user.x"), b("1")]]));
 * ```
 */
export function entryXattrFree(
  name: Uint8Array,
  records: ReadonlyArray<readonly [Uint8Array, Uint8Array]>,
): boolean {
  if (endsWith(name, OPAQUE_SUFFIX)) return false;
  for (const [key] of records) if (startsWith(key, XATTR_PREFIX)) return false;
  return true;
}
