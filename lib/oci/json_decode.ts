/**
 * Decoders that behave like Go's `json.Unmarshal` into the OCI structs
 * (`ocispec.Manifest`, `ocispec.Index`, `ocispec.Descriptor`,
 * `ocispec.Platform`): one field table per struct over the Go unmarshal
 * rules of `lib/go/json_struct.ts`, one decoder for manifests and indexes.
 * The results re-encode (`json_encode.ts`) to what Go's decode + encode
 * writes.
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import { encodeStdBase64 } from "../go/base64.ts";
import { JsonObject, type JsonValue, parseJson } from "../go/json_parse.ts";
import { describeJsonKind, JsonStructReader, structFields } from "../go/json_struct.ts";
import { markNilSlice } from "../go/nil_slice.ts";
import type { Descriptor, ImageIndex, ImageManifest, Platform } from "./descriptor.ts";

/** `ocispec.Platform` as Go holds it. */
interface GoPlatform {
  architecture: string;
  os: string;
  osVersion: string;
  osFeatures: string[] | null;
  variant: string;
}

/** `ocispec.Descriptor` as Go holds it. */
interface GoDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls: string[] | null;
  annotations: Map<string, string> | null;
  data: Uint8Array | null;
  platform: GoPlatform | null;
  artifactType: string;
}

/** The members of `ocispec.Manifest` and `ocispec.Index` together. */
interface GoDocument {
  schemaVersion: number;
  mediaType: string;
  artifactType: string;
  config: GoDescriptor;
  layers: GoDescriptor[] | null;
  manifests: GoDescriptor[] | null;
  subject: GoDescriptor | null;
  annotations: Map<string, string> | null;
}

function zeroPlatform(): GoPlatform {
  return { architecture: "", os: "", osVersion: "", osFeatures: null, variant: "" };
}

function zeroDescriptor(): GoDescriptor {
  return {
    mediaType: "",
    digest: "",
    size: 0,
    urls: null,
    annotations: null,
    data: null,
    platform: null,
    artifactType: "",
  };
}

const PLATFORM_FIELDS = structFields<GoPlatform>({
  architecture: (r, t, v, p) => t.architecture = r.string(v, p, t.architecture),
  os: (r, t, v, p) => t.os = r.string(v, p, t.os),
  "os.version": (r, t, v, p) => t.osVersion = r.string(v, p, t.osVersion),
  "os.features": (r, t, v, p) => t.osFeatures = r.stringSlice(v, p, t.osFeatures),
  variant: (r, t, v, p) => t.variant = r.string(v, p, t.variant),
});

const DESCRIPTOR_FIELDS = structFields<GoDescriptor>({
  mediaType: (r, t, v, p) => t.mediaType = r.string(v, p, t.mediaType),
  digest: (r, t, v, p) => t.digest = r.string(v, p, t.digest),
  size: (r, t, v, p) => t.size = r.int(v, p, t.size),
  urls: (r, t, v, p) => t.urls = r.stringSlice(v, p, t.urls),
  annotations: (r, t, v, p) => t.annotations = r.stringMap(v, p, t.annotations),
  data: (r, t, v, p) => t.data = r.bytes(v, p, t.data),
  platform: (r, t, v, p) => t.platform = r.pointer(v, p, t.platform, zeroPlatform, PLATFORM_FIELDS),
  artifactType: (r, t, v, p) => t.artifactType = r.string(v, p, t.artifactType),
});

/** A Go `[]Descriptor`. */
function descriptors(
  r: JsonStructReader,
  v: JsonValue,
  path: string,
  old: GoDescriptor[] | null,
): GoDescriptor[] | null {
  return r.slice(v, path, old, (x, p, o) => {
    const d = o ?? zeroDescriptor();
    r.struct(x, p, d, DESCRIPTOR_FIELDS);
    return d;
  });
}

const COMMON_FIELDS = {
  schemaVersion: (r: JsonStructReader, t: GoDocument, v: JsonValue, p: string) =>
    t.schemaVersion = r.int(v, p, t.schemaVersion),
  mediaType: (r: JsonStructReader, t: GoDocument, v: JsonValue, p: string) =>
    t.mediaType = r.string(v, p, t.mediaType),
  artifactType: (r: JsonStructReader, t: GoDocument, v: JsonValue, p: string) =>
    t.artifactType = r.string(v, p, t.artifactType),
  subject: (r: JsonStructReader, t: GoDocument, v: JsonValue, p: string) =>
    t.subject = r.pointer(v, p, t.subject, zeroDescriptor, DESCRIPTOR_FIELDS),
  annotations: (r: JsonStructReader, t: GoDocument, v: JsonValue, p: string) =>
    t.annotations = r.stringMap(v, p, t.annotations),
};

const MANIFEST_FIELDS = structFields<GoDocument>({
  ...COMMON_FIELDS,
  config: (r, t, v, p) => r.struct(v, p, t.config, DESCRIPTOR_FIELDS),
  layers: (r, t, v, p) => t.layers = descriptors(r, v, p, t.layers),
});

const INDEX_FIELDS = structFields<GoDocument>({
  ...COMMON_FIELDS,
  manifests: (r, t, v, p) => t.manifests = descriptors(r, v, p, t.manifests),
});

/** A record with own data properties only (`__proto__` stays a plain key). */
function mapToRecord(m: Map<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of m) {
    Object.defineProperty(out, k, {
      value: v,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

function platformOut(p: GoPlatform): Platform {
  const out: Platform = { architecture: p.architecture, os: p.os };
  if (p.osVersion) out["os.version"] = p.osVersion;
  if (p.osFeatures?.length) out["os.features"] = p.osFeatures;
  if (p.variant) out.variant = p.variant;
  return out;
}

function descriptorOut(d: GoDescriptor): Descriptor {
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.urls?.length) out.urls = d.urls;
  if (d.annotations?.size) out.annotations = mapToRecord(d.annotations);
  if (d.data?.length) out.data = encodeStdBase64(d.data);
  if (d.platform) out.platform = platformOut(d.platform);
  if (d.artifactType) out.artifactType = d.artifactType;
  return out;
}

function descriptorsOut(list: GoDescriptor[] | null): Descriptor[] {
  return list === null ? markNilSlice([]) : list.map(descriptorOut);
}

/** Parses `bytes` and checks that the document is a JSON object. */
function topObject(bytes: Uint8Array | string, what: string): JsonObject {
  const value = parseJson(bytes, what);
  if (!(value instanceof JsonObject)) {
    throw new BadInputError(`${what}: expected a JSON object, got ${describeJsonKind(value)}`);
  }
  return value;
}

/** The one decoder behind {@link decodeManifest} and {@link decodeIndex}. */
function decodeDocument(bytes: Uint8Array | string, kind: "manifest" | "index"): GoDocument {
  const what = kind === "manifest" ? "invalid image manifest" : "invalid image index";
  const doc: GoDocument = {
    schemaVersion: 0,
    mediaType: "",
    artifactType: "",
    config: zeroDescriptor(),
    layers: null,
    manifests: null,
    subject: null,
    annotations: null,
  };
  const fields = kind === "manifest" ? MANIFEST_FIELDS : INDEX_FIELDS;
  new JsonStructReader(what).struct(topObject(bytes, what), "", doc, fields);
  return doc;
}

/** The members both documents share, in Go struct order up to `list`. */
function documentHead(doc: GoDocument): ImageManifest & ImageIndex {
  const out = { schemaVersion: doc.schemaVersion } as ImageManifest & ImageIndex;
  if (doc.mediaType) out.mediaType = doc.mediaType;
  if (doc.artifactType) out.artifactType = doc.artifactType;
  return out;
}

function documentTail(doc: GoDocument, out: ImageManifest | ImageIndex): void {
  if (doc.subject) out.subject = descriptorOut(doc.subject);
  if (doc.annotations?.size) out.annotations = mapToRecord(doc.annotations);
}

/**
 * Decodes an image manifest the way Go's `json.Unmarshal` fills an
 * `ocispec.Manifest`: only the known members are kept (matched
 * case-insensitively, later duplicates win; objects merge), invalid UTF-8
 * and lone surrogate escapes become U+FFFD, `data` is canonical base64.
 * Empty optional members are left out of the result. A missing or `null`
 * `layers` decodes to an empty array that re-encodes as `null`, as in Go.
 * Malformed JSON, a document that is not an object, or a member of the
 * wrong type is a `BadInputError`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeManifest } from "./json_decode.ts";
 * import { encodeManifest } from "./json_encode.ts";
 * const m = decodeManifest(new TextEncoder().encode(
 *   '{"SchemaVersion":2,"config":{"mediaType":"a","digest":"d","size":1},"layers":[],"x":1}',
 * ));
 * assert.ok(m.schemaVersion === 2 && m.config.size === 1);
 * assert.equal(new TextDecoder().decode(encodeManifest(m)),
 *   '{"schemaVersion":2,"config":{"mediaType":"a","digest":"d","size":1},"layers":[]}');
 * ```
 */
export function decodeManifest(bytes: Uint8Array | string): ImageManifest {
  const doc = decodeDocument(bytes, "manifest");
  const out: ImageManifest = documentHead(doc);
  out.config = descriptorOut(doc.config);
  out.layers = descriptorsOut(doc.layers);
  documentTail(doc, out);
  return out;
}

/**
 * Decodes an image index (or Docker manifest list) the way Go's
 * `json.Unmarshal` fills an `ocispec.Index` (same rules as
 * {@link decodeManifest}; a missing `manifests` re-encodes as `null`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeIndex } from "./json_decode.ts";
 * const i = decodeIndex(new TextEncoder().encode(
 *   '{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"d","size":3,' +
 *   '"platform":{"os":"linux","architecture":"amd64","features":["x"]}}]}',
 * ));
 * assert.equal(i.manifests[0].platform?.architecture, "amd64");
 * ```
 */
export function decodeIndex(bytes: Uint8Array | string): ImageIndex {
  const doc = decodeDocument(bytes, "index");
  const out: ImageIndex = documentHead(doc);
  out.manifests = descriptorsOut(doc.manifests);
  documentTail(doc, out);
  return out;
}

/**
 * Decodes one descriptor the way Go's `json.Unmarshal` fills an
 * `ocispec.Descriptor` (rules of {@link decodeManifest}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeDescriptor } from "./json_decode.ts";
 * const d = decodeDescriptor('{"MEDIATYPE":"x","digest":"sha256:1","size":5,"data":""}');
 * assert.ok(d.mediaType === "x" && d.size === 5 && d.data === undefined);
 * ```
 */
export function decodeDescriptor(bytes: Uint8Array | string): Descriptor {
  const what = "invalid descriptor";
  const d = zeroDescriptor();
  new JsonStructReader(what).struct(topObject(bytes, what), "", d, DESCRIPTOR_FIELDS);
  return descriptorOut(d);
}
