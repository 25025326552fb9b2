/**
 * The prefetch artifact (`soci-format.md` §6, experimental upstream): the
 * spans of one layer that the snapshotter fetches ahead of time. This file
 * holds its JSON (Go encoding, upstream's checks when reading), the
 * normalization of requested paths, the span range of a file (§5.4), the
 * merge of ranges, and the search of the requested paths over an image's
 * zTOCs (top layer first).
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import { JsonObject, parseJson } from "../go/json_parse.ts";
import { JsonStructReader, structFields } from "../go/json_struct.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { sha256Digest } from "../oci/digest.ts";
import { ANNOTATION_LAYER_DIGEST, PREFETCH_MEDIA_TYPE } from "../oci/media_types.ts";
import type { FileMetadata, Ztoc } from "../ztoc/model.ts";
import { type Zinfo, zinfoOf } from "../ztoc/spans.ts";

/** The only prefetch artifact version upstream writes and reads. */
export const PREFETCH_VERSION = "1.0";

/** One range of spans, both ends inclusive. */
export interface SpanRange {
  /** First span. */
  start: number;
  /** Last span (≥ `start`). */
  end: number;
  /** Priority; 0 (the builder's value) is left out of the JSON. */
  priority?: number;
}

/** A decoded prefetch artifact. */
export interface PrefetchArtifact {
  /** `1.0`. */
  version: string;
  /** The span ranges, as stored. */
  spans: SpanRange[];
}

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/**
 * Go's `json.Marshal` of a prefetch artifact: `version`, then
 * `prefetch_spans` with `start_span`, `end_span` and `priority` (left out
 * when 0). An artifact without spans cannot be written (upstream refuses to
 * marshal it): `BadInputError` `prefetch artifact is empty`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodePrefetch } from "./prefetch.ts";
 * const bytes = encodePrefetch([{ start: 0, end: 2 }]);
 * assert.equal(new TextDecoder().decode(bytes),
 *   '{"version":"1.0","prefetch_spans":[{"start_span":0,"end_span":2}]}');
 * assert.throws(() => encodePrefetch([]), /prefetch artifact is empty/);
 * ```
 */
export function encodePrefetch(spans: SpanRange[], version = PREFETCH_VERSION): Uint8Array {
  if (spans.length === 0) throw new BadInputError("prefetch artifact is empty");
  const parts = spans.map((s) => {
    for (const [name, v] of [["start_span", s.start], ["end_span", s.end]] as const) {
      if (!Number.isInteger(v) || v < INT32_MIN || v > INT32_MAX) {
        throw new BadInputError(`prefetch artifact: ${name} ${v} is not a 32-bit integer`);
      }
    }
    let out = `{"start_span":${s.start},"end_span":${s.end}`;
    if (s.priority) {
      if (!Number.isSafeInteger(s.priority)) {
        throw new BadInputError(`prefetch artifact: priority ${s.priority} is not an integer`);
      }
      out += `,"priority":${s.priority}`;
    }
    return out + "}";
  });
  return new TextEncoder().encode(
    `{"version":${JSON.stringify(version)},"prefetch_spans":[${parts.join(",")}]}`,
  );
}

interface GoSpan {
  start: number;
  end: number;
  priority: number;
}

interface GoArtifact {
  version: string;
  spans: GoSpan[] | null;
}

function int32(
  r: JsonStructReader,
  v: Parameters<JsonStructReader["int"]>[0],
  p: string,
  o: number,
) {
  const n = r.int(v, p, o);
  if (n < INT32_MIN || n > INT32_MAX) r.fail(p, `${n} overflows int32`);
  return n;
}

const SPAN_FIELDS = structFields<GoSpan>({
  start_span: (r, t, v, p) => t.start = int32(r, v, p, t.start),
  end_span: (r, t, v, p) => t.end = int32(r, v, p, t.end),
  priority: (r, t, v, p) => t.priority = r.int(v, p, t.priority),
});

const ARTIFACT_FIELDS = structFields<GoArtifact>({
  version: (r, t, v, p) => t.version = r.string(v, p, t.version),
  prefetch_spans: (r, t, v, p) =>
    t.spans = r.slice(v, p, t.spans, (x, q, o) => {
      const s = o ?? { start: 0, end: 0, priority: 0 };
      r.struct(x, q, s, SPAN_FIELDS);
      return s;
    }),
});

/**
 * Reads a prefetch artifact with upstream's checks: Go's unmarshal rules
 * (members matched case-insensitively, unknown ones ignored), then the
 * version must be `1.0` (`unsupported prefetch artifact version: <v>
 * (expected 1.0)`) and there must be spans (`prefetch artifact is empty`).
 * Malformed JSON is a `BadInputError` too.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePrefetch } from "./prefetch.ts";
 * const a = decodePrefetch('{"version":"1.0","prefetch_spans":[{"start_span":3,"end_span":4,"priority":2}]}');
 * assert.deepEqual(a.spans, [{ start: 3, end: 4, priority: 2 }]);
 * assert.throws(() => decodePrefetch('{"version":"2.0","prefetch_spans":[]}'), /version: 2.0/);
 * ```
 */
export function decodePrefetch(bytes: Uint8Array | string): PrefetchArtifact {
  const what = "invalid prefetch artifact";
  const doc = parseJson(bytes, what);
  if (!(doc instanceof JsonObject)) {
    throw new BadInputError(`${what}: expected a JSON object`);
  }
  const t: GoArtifact = { version: "", spans: null };
  new JsonStructReader(what).struct(doc, "", t, ARTIFACT_FIELDS);
  if (t.version !== PREFETCH_VERSION) {
    throw new BadInputError(
      `unsupported prefetch artifact version: ${t.version} (expected ${PREFETCH_VERSION})`,
    );
  }
  if (!t.spans || t.spans.length === 0) throw new BadInputError("prefetch artifact is empty");
  return {
    version: t.version,
    spans: t.spans.map((s) => s.priority ? { ...s } : { start: s.start, end: s.end }),
  };
}

/**
 * Total spans a prefetch artifact covers: Σ (end − start + 1), as
 * `soci prefetch list` counts them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { countSpans } from "./prefetch.ts";
 * assert.equal(countSpans([{ start: 0, end: 2 }, { start: 5, end: 5 }]), 4);
 * ```
 */
export function countSpans(spans: SpanRange[]): number {
  return spans.reduce((n, s) => n + (s.end - s.start + 1), 0);
}

/** Go's `path.Clean`. */
function cleanPath(p: string): string {
  if (p === "") return ".";
  const rooted = p.startsWith("/");
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!rooted) out.push("..");
      continue;
    }
    out.push(part);
  }
  const joined = out.join("/");
  if (rooted) return "/" + joined;
  return joined === "" ? "." : joined;
}

/**
 * A requested prefetch path as upstream matches it against TOC names:
 * `/` prepended, cleaned (`.`, `..`, repeated slashes), the leading `/`
 * removed — so `/etc/x`, `etc/x` and `./etc/x` all become `etc/x`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { normalizePrefetchPath } from "./prefetch.ts";
 * assert.equal(normalizePrefetchPath("./etc//x/../alpine-release"), "etc/alpine-release");
 * assert.equal(normalizePrefetchPath("/../etc/x"), "etc/x");
 * ```
 */
export function normalizePrefetchPath(path: string): string {
  return cleanPath("/" + path).slice(1);
}

/**
 * Sorts ranges by (start, end) and merges those that overlap or touch
 * (`next.start ≤ current.end + 1`), as upstream does per layer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mergeRanges } from "./prefetch.ts";
 * assert.deepEqual(mergeRanges([{ start: 20, end: 30 }, { start: 0, end: 10 }, { start: 5, end: 25 }]),
 *   [{ start: 0, end: 30 }]);
 * assert.deepEqual(mergeRanges([{ start: 0, end: 10 }, { start: 11, end: 20 }]), [{ start: 0, end: 20 }]);
 * assert.deepEqual(mergeRanges([{ start: 0, end: 1 }, { start: 3, end: 4 }]),
 *   [{ start: 0, end: 1 }, { start: 3, end: 4 }]);
 * ```
 */
export function mergeRanges(ranges: readonly SpanRange[]): SpanRange[] {
  const sorted = ranges.map((r) => ({ start: r.start, end: r.end }))
    .sort((a, b) => a.start - b.start || a.end - b.end);
  const out: SpanRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.start <= last.end + 1) last.end = Math.max(last.end, r.end);
    else out.push(r);
  }
  return out;
}

/**
 * The spans a TOC entry's data touches (F§5.4): from the span of its first
 * byte to the span of its exclusive end (so a file ending on a span start
 * also takes that span), the end never before the start.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileSpanRange } from "./prefetch.ts";
 * import { encodeTarZinfo } from "../gzip/tar_zinfo.ts";
 * const z = { checkpoints: encodeTarZinfo(1024, 5000), compressionAlgorithm: "uncompressed" };
 * const file = { uncompressedOffset: 1536, uncompressedSize: 512 };
 * // bytes [1536, 2048) are in span 1; the exclusive end 2048 is span 2
 * assert.deepEqual(fileSpanRange(z as never, file as never), { start: 1, end: 2 });
 * ```
 */
export function fileSpanRange(
  z: Pick<Ztoc, "checkpoints" | "compressionAlgorithm"> | Zinfo,
  entry: Pick<FileMetadata, "uncompressedOffset" | "uncompressedSize">,
): SpanRange {
  const zi = "spanOf" in z ? z : zinfoOf(z as Ztoc);
  const start = zi.spanOf(entry.uncompressedOffset);
  const end = Math.max(start, zi.spanOf(entry.uncompressedOffset + entry.uncompressedSize));
  return { start, end };
}

/** The descriptor and bytes of one layer's prefetch artifact. */
export interface PrefetchBlob {
  /** The artifact JSON. */
  bytes: Uint8Array;
  /** Its descriptor in the SOCI index (prefetch media type, layer annotation). */
  descriptor: Descriptor;
  /** The layer it is for. */
  layerDigest: string;
  /** The merged ranges. */
  spans: SpanRange[];
}

/**
 * The prefetch blob of one layer: the artifact JSON of its merged ranges
 * and the descriptor that the index lists (F§6 step 4); `undefined` when
 * the layer has no ranges.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { prefetchBlob } from "./prefetch.ts";
 * const layer = "sha256:" + "a".repeat(64);
 * const blob = prefetchBlob(layer, [{ start: 5, end: 15 }, { start: 0, end: 10 }])!;
 * assert.deepEqual(blob.spans, [{ start: 0, end: 15 }]);
 * assert.equal(blob.descriptor.mediaType, "application/vnd.amazon.soci.prefetch.v1+json");
 * assert.equal(blob.descriptor.annotations?.["com.amazon.soci.image-layer-digest"], layer);
 * assert.equal(prefetchBlob(layer, []), undefined);
 * ```
 */
export function prefetchBlob(layerDigest: string, ranges: SpanRange[]): PrefetchBlob | undefined {
  const spans = mergeRanges(ranges);
  if (spans.length === 0) return undefined;
  const bytes = encodePrefetch(spans);
  return {
    bytes,
    descriptor: {
      mediaType: PREFETCH_MEDIA_TYPE,
      digest: sha256Digest(bytes),
      size: bytes.length,
      annotations: { [ANNOTATION_LAYER_DIGEST]: layerDigest },
    },
    layerDigest,
    spans,
  };
}

/**
 * Finds requested paths in an image's layers the way upstream does (F§6
 * steps 1–3): feed every layer that has a zTOC, bottom to top; for each
 * (normalized) path the topmost layer whose TOC has an entry of exactly
 * that raw name wins. Memory stays small: only the matches are kept.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PrefetchSearch } from "./prefetch.ts";
 * import { encodeTarZinfo } from "../gzip/tar_zinfo.ts";
 * const entry = (name: string, off: number) => ({ name: new TextEncoder().encode(name),
 *   uncompressedOffset: off, uncompressedSize: 10 });
 * const z = (names: [string, number][]) => ({ checkpoints: encodeTarZinfo(100, 1000),
 *   compressionAlgorithm: "uncompressed", toc: names.map(([n, o]) => entry(n, o)) });
 * const search = new PrefetchSearch(["/etc/x", "etc/y", "missing"]);
 * search.addLayer(0, "sha256:a", z([["etc/x", 0], ["etc/y", 250]]) as never);
 * search.addLayer(1, "sha256:b", z([["etc/x", 520]]) as never);
 * const blobs = search.blobs();
 * assert.deepEqual(blobs.map((b) => [b.layerDigest, b.spans]), [
 *   ["sha256:a", [{ start: 2, end: 2 }]],
 *   ["sha256:b", [{ start: 5, end: 5 }]],
 * ]);
 * assert.deepEqual(search.missing(), ["missing"]);
 * ```
 */
export class PrefetchSearch {
  readonly #paths: string[];
  readonly #names: Map<string, string>;
  readonly #found = new Map<string, { layer: number; digest: string; range: SpanRange }>();

  /** A search for `paths` (each normalized; duplicates count once). */
  constructor(paths: readonly string[]) {
    this.#paths = [...new Set(paths.map(normalizePrefetchPath))];
    // Raw TOC names are matched byte for byte against the UTF-8 of the path.
    this.#names = new Map(this.#paths.map((p) => [latin1(new TextEncoder().encode(p)), p]));
  }

  /** The normalized paths searched for. */
  get paths(): readonly string[] {
    return this.#paths;
  }

  /**
   * Looks at the TOC of layer number `index` (layers must come in
   * increasing order): a later layer that has a path replaces an earlier one.
   */
  addLayer(
    index: number,
    layerDigest: string,
    z: Pick<Ztoc, "toc" | "checkpoints" | "compressionAlgorithm">,
  ): void {
    if (this.#paths.length === 0) return;
    let zi: Zinfo | undefined;
    for (const entry of z.toc) {
      const path = this.#names.get(latin1(entry.name));
      if (path === undefined) continue;
      const prev = this.#found.get(path);
      // Within one layer the first entry of that name counts (upstream's lookup).
      if (prev && prev.layer === index) continue;
      zi ??= zinfoOf(z as Ztoc);
      this.#found.set(path, { layer: index, digest: layerDigest, range: fileSpanRange(zi, entry) });
    }
  }

  /** The paths no layer has (upstream logs a warning for each). */
  missing(): string[] {
    return this.#paths.filter((p) => !this.#found.has(p));
  }

  /** One prefetch blob per layer that got ranges, in layer order. */
  blobs(): PrefetchBlob[] {
    const byLayer = new Map<number, { digest: string; ranges: SpanRange[] }>();
    for (const f of this.#found.values()) {
      const e = byLayer.get(f.layer) ?? { digest: f.digest, ranges: [] };
      e.ranges.push(f.range);
      byLayer.set(f.layer, e);
    }
    return [...byLayer.entries()].sort((a, b) => a[0] - b[0])
      .map(([, e]) => prefetchBlob(e.digest, e.ranges)!)
      .filter((b) => b !== undefined);
  }
}

/** Bytes as a string of char codes 0–255 (a map key that keeps every byte). */
function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return s;
}
