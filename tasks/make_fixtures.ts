/**
 * Generates `fixtures/sample-image/`: a small OCI image layout (tag
 * `latest`, linux/amd64) with two gzip layers, used by the README's demo
 * (`deno task demo`). Deterministic: a seeded generator, fixed times, and
 * gzip at level 6 through `node:zlib`; run `deno task fixtures` to
 * regenerate (the bytes are the same as long as zlib's output is).
 *
 * @module
 */
import { gzipSync } from "node:zlib";
import { xorshift32 } from "../tests/helpers/bytes.ts";
import { goTar, type GoTarEntry } from "../tests/helpers/tar_go_writer.ts";
import { sha256Digest } from "../lib/oci/digest.ts";
import { encodeIndex, encodeManifest } from "../lib/oci/json_encode.ts";
import {
  ANNOTATION_REF_NAME,
  OCI_CONFIG,
  OCI_INDEX,
  OCI_LAYER_GZIP,
  OCI_MANIFEST,
} from "../lib/oci/media_types.ts";
import type { Descriptor } from "../lib/oci/descriptor.ts";

const out = new URL("../fixtures/sample-image/", import.meta.url).pathname;

const words = ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor " +
  "incididunt ut labore et dolore magna aliqua container image layer span checkpoint " +
  "snapshotter registry manifest index digest gzip deflate window tar header").split(" ");

function text(next: () => number, bytes: number): Uint8Array {
  let s = "";
  while (s.length < bytes) {
    s += words[next() % words.length] + (next() % 11 === 0 ? ".\n" : " ");
  }
  return new TextEncoder().encode(s.slice(0, bytes));
}

function noise(next: () => number, bytes: number): Uint8Array {
  const b = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) b[i] = next() & 0xff;
  return b;
}

function baseLayer(): GoTarEntry[] {
  const next = xorshift32(42);
  const e: GoTarEntry[] = [];
  const dir = (name: string) => e.push({ name, typeflag: "5", mode: 0o755 });
  const file = (name: string, data: Uint8Array, mode = 0o644) => e.push({ name, data, mode });
  dir("etc/");
  file("etc/os-release", new TextEncoder().encode('NAME="soci-deno sample"\nID=sample\n'));
  file("etc/hostname", new TextEncoder().encode("sample\n"));
  dir("usr/");
  dir("usr/bin/");
  file("usr/bin/tool", noise(next, 180_000), 0o755);
  e.push({ name: "usr/bin/tool-link", typeflag: "2", linkname: "tool", mode: 0o777 });
  dir("usr/share/");
  dir("usr/share/doc/");
  for (let i = 0; i < 40; i++) {
    file(
      `usr/share/doc/page-${String(i).padStart(2, "0")}.txt`,
      text(next, 2_000 + next() % 60_000),
    );
  }
  file("usr/share/doc/big-manual.txt", text(next, 900_000));
  e.push({
    name: "usr/share/doc/manual-hardlink.txt",
    typeflag: "1",
    linkname: "usr/share/doc/big-manual.txt",
  });
  dir("var/");
  dir("var/empty/");
  file("var/empty/.keep", new Uint8Array(0));
  return e;
}

function appLayer(): GoTarEntry[] {
  const next = xorshift32(7);
  return [
    { name: "app/", typeflag: "5", mode: 0o755 },
    { name: "app/main.js", data: text(next, 30_000), mode: 0o644 },
    { name: "app/data.bin", data: noise(next, 60_000), mode: 0o644 },
  ];
}

async function put(bytes: Uint8Array, mediaType: string): Promise<Descriptor> {
  const digest = sha256Digest(bytes);
  await Deno.writeFile(`${out}blobs/sha256/${digest.slice(7)}`, bytes);
  return { mediaType, digest, size: bytes.length };
}

await Deno.remove(out, { recursive: true }).catch(() => {});
await Deno.mkdir(`${out}blobs/sha256`, { recursive: true });
const layers: Descriptor[] = [];
const diffIds: string[] = [];
for (const entries of [baseLayer(), appLayer()]) {
  const tar = goTar(entries);
  diffIds.push(sha256Digest(tar));
  layers.push(await put(gzipSync(tar, { level: 6 }), OCI_LAYER_GZIP));
}
const config = new TextEncoder().encode(JSON.stringify({
  architecture: "amd64",
  os: "linux",
  config: { Cmd: ["/usr/bin/tool"] },
  rootfs: { type: "layers", diff_ids: diffIds },
}));
const manifest = encodeManifest({
  schemaVersion: 2,
  mediaType: OCI_MANIFEST,
  config: await put(config, OCI_CONFIG),
  layers,
});
const m = await put(manifest, OCI_MANIFEST);
await Deno.writeFile(
  `${out}index.json`,
  encodeIndex({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [{
      ...m,
      platform: { architecture: "amd64", os: "linux" },
      annotations: { [ANNOTATION_REF_NAME]: "latest" },
    }],
  }),
);
await Deno.writeTextFile(`${out}oci-layout`, '{"imageLayoutVersion":"1.0.0"}');
console.log(
  `fixtures/sample-image: manifest ${m.digest}, layers ${
    layers.map((l) => `${l.digest} (${l.size} B)`).join(", ")
  }`,
);
