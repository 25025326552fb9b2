/**
 * The decoded shapes of the containerd messages shared by several services
 * (timestamps, descriptors) and their conversion to soci-deno's own types.
 * Decoded messages use containerd's snake_case field names, int64 values as
 * numbers and `bytes` as `Uint8Array` views.
 *
 * @module
 */
import type { Descriptor } from "../oci/descriptor.ts";

/** `google.protobuf.Timestamp` as decoded. */
export interface TimestampMessage {
  /** Seconds since the Unix epoch. */
  seconds: number;
  /** Nanoseconds within the second. */
  nanos: number;
}

/** `containerd.types.Descriptor` as decoded or to encode. */
export interface DescriptorMessage {
  /** The media type. */
  media_type: string;
  /** The digest, `sha256:<hex>`. */
  digest: string;
  /** The size in bytes. */
  size: number;
  /** Annotations (empty when none). */
  annotations?: Record<string, string>;
}

/**
 * A decoded timestamp as a `Date` (millisecond precision); `undefined` for
 * an absent one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toDate } from "./wire.ts";
 * assert.equal(toDate({ seconds: 1, nanos: 500_000_000 })?.getTime(), 1500);
 * assert.equal(toDate(null), undefined);
 * ```
 */
export function toDate(t: TimestampMessage | null | undefined): Date | undefined {
  if (!t) return undefined;
  return new Date(Number(t.seconds) * 1000 + Math.floor(Number(t.nanos) / 1e6));
}

/**
 * A decoded containerd descriptor as an OCI {@link Descriptor}
 * (annotations only when there are some).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fromDescriptorMessage } from "./wire.ts";
 * const d = fromDescriptorMessage({ media_type: "m", digest: "sha256:ab", size: 3, annotations: {} });
 * assert.deepEqual(d, { mediaType: "m", digest: "sha256:ab", size: 3 });
 * ```
 */
export function fromDescriptorMessage(m: DescriptorMessage): Descriptor {
  const d: Descriptor = { mediaType: m.media_type, digest: m.digest, size: Number(m.size) };
  if (m.annotations && Object.keys(m.annotations).length > 0) d.annotations = { ...m.annotations };
  return d;
}

/**
 * An OCI descriptor as a containerd descriptor message (platform, URLs,
 * data and artifact type have no place in it and are dropped).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toDescriptorMessage } from "./wire.ts";
 * const m = toDescriptorMessage({ mediaType: "m", digest: "sha256:ab", size: 3 });
 * assert.deepEqual(m, { media_type: "m", digest: "sha256:ab", size: 3, annotations: {} });
 * ```
 */
export function toDescriptorMessage(d: Descriptor): DescriptorMessage {
  return {
    media_type: d.mediaType,
    digest: d.digest,
    size: d.size,
    annotations: { ...(d.annotations ?? {}) },
  };
}

/**
 * The update-mask paths and label map of a label change: a string sets a
 * label, `null` removes it (containerd removes a label that is named in the
 * mask and absent from the map).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { labelUpdate } from "./wire.ts";
 * const u = labelUpdate({ a: "1", b: null });
 * assert.deepEqual(u, { labels: { a: "1" }, paths: ["labels.a", "labels.b"] });
 * ```
 */
export function labelUpdate(
  changes: Record<string, string | null>,
): { labels: Record<string, string>; paths: string[] } {
  const labels: Record<string, string> = {};
  const paths: string[] = [];
  for (const [key, value] of Object.entries(changes)) {
    paths.push(`labels.${key}`);
    if (value !== null) labels[key] = value;
  }
  return { labels, paths };
}
