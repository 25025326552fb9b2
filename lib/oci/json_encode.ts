/**
 * Byte-exact Go `json.Marshal` of the OCI structs (`soci-format.md` §7.1):
 * `ocispec.Manifest`, `ocispec.Index`, `ocispec.Descriptor` and
 * `ocispec.Platform`, members in Go struct order, empty `omitempty` members
 * left out, map keys sorted by UTF-8 bytes, Go's string escaping.
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import { decodeStdBase64, encodeStdBase64 } from "../go/base64.ts";
import { quoteJsonString } from "../go/json_quote.ts";
import { isNilSlice } from "../go/nil_slice.ts";
import { compareGoStrings } from "../go/utf8.ts";
import type { Descriptor, ImageIndex, ImageManifest, Platform } from "./descriptor.ts";

const UTF8 = new TextEncoder();

function encInt(n: number, name: string): string {
  if (typeof n !== "number" || !Number.isSafeInteger(n)) {
    throw new BadInputError(`cannot encode ${name}: ${String(n)} is not an integer`);
  }
  return String(n);
}

function encStringMap(m: Record<string, string>): string {
  const keys = Object.keys(m).sort(compareGoStrings);
  let out = "{";
  for (let i = 0; i < keys.length; i++) {
    if (i > 0) out += ",";
    out += quoteJsonString(keys[i]) + ":" + quoteJsonString(m[keys[i]] ?? "");
  }
  return out + "}";
}

function hasEntries(m: Record<string, string> | undefined | null): m is Record<string, string> {
  return m != null && Object.keys(m).length > 0;
}

function encStrings(list: string[]): string {
  return "[" + list.map((s) => quoteJsonString(s ?? "")).join(",") + "]";
}

/**
 * Go's `json.Marshal` of an `ocispec.Platform`: `architecture`, `os`, then
 * `os.version`, `os.features`, `variant` when not empty.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodePlatform } from "./json_encode.ts";
 * assert.equal(encodePlatform({ os: "linux", architecture: "arm64", variant: "v8" }),
 *   '{"architecture":"arm64","os":"linux","variant":"v8"}');
 * ```
 */
export function encodePlatform(p: Platform): string {
  let out = '{"architecture":' + quoteJsonString(p.architecture ?? "") + ',"os":' +
    quoteJsonString(p.os ?? "");
  if (p["os.version"]) out += ',"os.version":' + quoteJsonString(p["os.version"]);
  if (p["os.features"]?.length) out += ',"os.features":' + encStrings(p["os.features"]);
  if (p.variant) out += ',"variant":' + quoteJsonString(p.variant);
  return out + "}";
}

/**
 * Go's `json.Marshal` of an `ocispec.Descriptor`: `mediaType`, `digest`,
 * `size`, then `urls`, `annotations` (keys sorted by UTF-8 bytes), `data`
 * (canonical base64; invalid base64 is a `BadInputError`), `platform`,
 * `artifactType` when not empty.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeDescriptor } from "./json_encode.ts";
 * const text = encodeDescriptor({
 *   mediaType: "application/octet-stream",
 *   digest: "sha256:" + "a".repeat(64),
 *   size: 12,
 *   annotations: { b: "2", a: "1" },
 * });
 * assert.equal(text, '{"mediaType":"application/octet-stream","digest":"sha256:' +
 *   "a".repeat(64) + '","size":12,"annotations":{"a":"1","b":"2"}}');
 * ```
 */
export function encodeDescriptor(d: Descriptor): string {
  let out = '{"mediaType":' + quoteJsonString(d.mediaType ?? "") + ',"digest":' +
    quoteJsonString(d.digest ?? "") + ',"size":' + encInt(d.size ?? 0, "descriptor size");
  if (d.urls?.length) out += ',"urls":' + encStrings(d.urls);
  if (hasEntries(d.annotations)) out += ',"annotations":' + encStringMap(d.annotations);
  if (d.data) {
    const bytes = decodeStdBase64(d.data);
    if (bytes === undefined) {
      throw new BadInputError("cannot encode descriptor: data: illegal base64 data");
    }
    if (bytes.length > 0) out += ',"data":"' + encodeStdBase64(bytes) + '"';
  }
  if (d.platform) out += ',"platform":' + encodePlatform(d.platform);
  if (d.artifactType) out += ',"artifactType":' + quoteJsonString(d.artifactType);
  return out + "}";
}

function encDescriptorList(list: Descriptor[] | null | undefined): string {
  if (isNilSlice(list)) return "null";
  return "[" + list!.map(encodeDescriptor).join(",") + "]";
}

/**
 * Go's `json.Marshal` of an `ocispec.Manifest`, as UTF-8 bytes with no
 * trailing newline: `schemaVersion`, `mediaType`, `artifactType`, `config`,
 * `layers`, `subject`, `annotations` (empty optional members omitted).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeManifest } from "./json_encode.ts";
 * const bytes = encodeManifest({
 *   schemaVersion: 2,
 *   mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   config: { mediaType: "application/vnd.amazon.soci.index.v1+json",
 *     digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", size: 2 },
 *   layers: [],
 *   annotations: { "com.amazon.soci.build-tool-identifier": "AWS SOCI CLI v0.2" },
 * });
 * const text = new TextDecoder().decode(bytes);
 * assert.ok(text.startsWith('{"schemaVersion":2,"mediaType":'));
 * assert.ok(text.endsWith('"layers":[],"annotations":' +
 *   '{"com.amazon.soci.build-tool-identifier":"AWS SOCI CLI v0.2"}}'));
 * ```
 */
export function encodeManifest(m: ImageManifest): Uint8Array {
  let out = '{"schemaVersion":' + encInt(m.schemaVersion ?? 0, "schemaVersion");
  if (m.mediaType) out += ',"mediaType":' + quoteJsonString(m.mediaType);
  if (m.artifactType) out += ',"artifactType":' + quoteJsonString(m.artifactType);
  out += ',"config":' + encodeDescriptor(m.config ?? { mediaType: "", digest: "", size: 0 });
  out += ',"layers":' + encDescriptorList(m.layers);
  if (m.subject) out += ',"subject":' + encodeDescriptor(m.subject);
  if (hasEntries(m.annotations)) out += ',"annotations":' + encStringMap(m.annotations);
  return UTF8.encode(out + "}");
}

/**
 * Go's `json.Marshal` of an `ocispec.Index`, as UTF-8 bytes with no trailing
 * newline: `schemaVersion`, `mediaType`, `artifactType`, `manifests`,
 * `subject`, `annotations`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeIndex } from "./json_encode.ts";
 * const bytes = encodeIndex({
 *   schemaVersion: 2,
 *   mediaType: "application/vnd.oci.image.index.v1+json",
 *   manifests: [],
 * });
 * assert.equal(new TextDecoder().decode(bytes),
 *   '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}');
 * ```
 */
export function encodeIndex(i: ImageIndex): Uint8Array {
  let out = '{"schemaVersion":' + encInt(i.schemaVersion ?? 0, "schemaVersion");
  if (i.mediaType) out += ',"mediaType":' + quoteJsonString(i.mediaType);
  if (i.artifactType) out += ',"artifactType":' + quoteJsonString(i.artifactType);
  out += ',"manifests":' + encDescriptorList(i.manifests);
  if (i.subject) out += ',"subject":' + encodeDescriptor(i.subject);
  if (hasEntries(i.annotations)) out += ',"annotations":' + encStringMap(i.annotations);
  return UTF8.encode(out + "}");
}
