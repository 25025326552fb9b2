/**
 * Test images for `ls`, `cat` and `verify`, made with real tools and no
 * code of `lib/`: each layer is a directory tree written to a temp folder
 * (files, directories, symlinks, hard links, and whiteout files as the
 * empty regular files `.wh.NAME` / `.wh..wh..opq` that OCI layers carry),
 * archived by GNU tar and compressed by `gzip -n`; config, manifest,
 * `index.json` and `oci-layout` written as plain JSON, digests from
 * `node:crypto`. The unpacked-image oracle is `umoci unpack`.
 *
 * @module
 */
import { join } from "node:path";
import { sha256, textBytes } from "./bytes.ts";

/** One entry of a layer tree. */
export type TreeSpec =
  | { path: string; kind: "file"; data: Uint8Array; mode?: number }
  | { path: string; kind: "dir"; mode?: number }
  | { path: string; kind: "symlink"; target: string }
  | { path: string; kind: "hardlink"; target: string };

/** A built layer. */
export interface BuiltLayer {
  mediaType: string;
  digest: string;
  size: number;
  /** The compressed (or tar) bytes. */
  bytes: Uint8Array;
  /** sha256 of the tar stream. */
  diffId: string;
  /** Size of the tar stream. */
  tarSize: number;
}

/** A built OCI layout with one image. */
export interface BuiltLayout {
  dir: string;
  tag: string;
  manifest: { mediaType: string; digest: string; size: number; bytes: Uint8Array };
  config: { mediaType: string; digest: string; size: number };
  layers: BuiltLayer[];
}

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
export const OCI_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";
export const OCI_TAR = "application/vnd.oci.image.layer.v1.tar";

async function run(cmd: string, args: string[]): Promise<Uint8Array> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return out.stdout;
}

/** Writes a tree into `dir` (parents made as needed). */
export async function writeTree(dir: string, tree: TreeSpec[]): Promise<void> {
  for (const e of tree) {
    const p = join(dir, e.path);
    await Deno.mkdir(join(p, ".."), { recursive: true });
    switch (e.kind) {
      case "file":
        await Deno.writeFile(p, e.data);
        await Deno.chmod(p, e.mode ?? 0o644);
        break;
      case "dir":
        await Deno.mkdir(p, { recursive: true });
        await Deno.chmod(p, e.mode ?? 0o755);
        break;
      case "symlink":
        await Deno.symlink(e.target, p);
        break;
      case "hardlink":
        await Deno.link(join(dir, e.target), p);
        break;
    }
  }
}

/**
 * A layer made by GNU tar (`--sort=name`, owner 0, fixed mtime) from a
 * tree, gzip-compressed with `gzip -n -6` unless `gzip` is false.
 */
export async function buildLayer(tree: TreeSpec[], gzip = true): Promise<BuiltLayer> {
  const src = await Deno.makeTempDir({ prefix: "soci-read-layer-" });
  try {
    await writeTree(src, tree);
    const tar = await run("tar", [
      "--sort=name",
      "--owner=0",
      "--group=0",
      "--numeric-owner",
      "--mtime=@1700000000",
      "-C",
      src,
      "-cf",
      "-",
      ".",
    ]);
    const bytes = gzip ? await gzipBytes(tar) : tar;
    return {
      mediaType: gzip ? OCI_GZIP : OCI_TAR,
      digest: sha256(bytes),
      size: bytes.length,
      bytes,
      diffId: sha256(tar),
      tarSize: tar.length,
    };
  } finally {
    await Deno.remove(src, { recursive: true });
  }
}

/** `gzip -n -6` of some bytes. */
export async function gzipBytes(data: Uint8Array): Promise<Uint8Array> {
  const child = new Deno.Command("gzip", {
    args: ["-n", "-6", "-c"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  const writing = w.write(data).then(() => w.close());
  const out = await child.output();
  await writing;
  if (!out.success) throw new Error("gzip failed");
  return out.stdout;
}

function json(v: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(v));
}

/** Writes blobs, config, manifest, `index.json` and `oci-layout` of a one-image layout. */
export async function writeLayout(
  dir: string,
  tag: string,
  layers: BuiltLayer[],
  extra: { annotations?: Record<string, string> } = {},
): Promise<BuiltLayout> {
  await Deno.mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  const put = async (bytes: Uint8Array) => {
    const d = sha256(bytes);
    await Deno.writeFile(join(dir, "blobs", "sha256", d.slice(7)), bytes);
    return d;
  };
  for (const l of layers) await put(l.bytes);
  const configBytes = json({
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    config: {},
  });
  const config = {
    mediaType: OCI_CONFIG,
    digest: await put(configBytes),
    size: configBytes.length,
  };
  const manifestDoc: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config,
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  };
  if (extra.annotations) manifestDoc.annotations = extra.annotations;
  const manifestBytes = json(manifestDoc);
  const manifest = {
    mediaType: OCI_MANIFEST,
    digest: await put(manifestBytes),
    size: manifestBytes.length,
    bytes: manifestBytes,
  };
  await Deno.writeTextFile(join(dir, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
  await Deno.writeFile(
    join(dir, "index.json"),
    json({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{
        mediaType: OCI_MANIFEST,
        digest: manifest.digest,
        size: manifest.size,
        annotations: { "org.opencontainers.image.ref.name": tag },
      }],
    }),
  );
  return { dir, tag, manifest, config, layers };
}

/** One file of an unpacked tree. */
export interface UnpackedEntry {
  path: string;
  type: "reg" | "dir" | "symlink";
  mode: number;
  size: number;
  /** sha256 of a regular file's bytes. */
  digest?: string;
  /** Symlink target. */
  target?: string;
}

/**
 * Unpacks the image with `umoci unpack` (whiteouts and opaque directories
 * applied by umoci) and lists the rootfs: every path, sorted, with type,
 * permission bits, size, content digest and link target.
 */
export async function umociTree(layout: string, tag: string): Promise<Map<string, UnpackedEntry>> {
  const bundle = await Deno.makeTempDir({ prefix: "soci-read-umoci-" });
  try {
    await run("umoci", ["unpack", "--image", `${layout}:${tag}`, join(bundle, "b")]);
    const rootfs = join(bundle, "b", "rootfs");
    const out = new Map<string, UnpackedEntry>();
    const walk = async (rel: string) => {
      for await (const e of Deno.readDir(join(rootfs, rel))) {
        const path = rel ? `${rel}/${e.name}` : e.name;
        const full = join(rootfs, path);
        const st = await Deno.lstat(full);
        const mode = (st.mode ?? 0) & 0o7777;
        if (st.isSymlink) {
          out.set(path, {
            path,
            type: "symlink",
            mode,
            size: 0,
            target: await Deno.readLink(full),
          });
        } else if (st.isDirectory) {
          out.set(path, { path, type: "dir", mode, size: 0 });
          await walk(path);
        } else {
          const data = await Deno.readFile(full);
          out.set(path, { path, type: "reg", mode, size: data.length, digest: sha256(data) });
        }
      }
    };
    await walk("");
    return out;
  } finally {
    await Deno.remove(bundle, { recursive: true });
  }
}

/** Deterministic compressible text of `n` bytes. */
export function text(n: number, seed: number): Uint8Array {
  return textBytes(n, seed);
}

/**
 * The three layers of the standard read-test image:
 *
 * 0. a large lower layer (~`baseSize` bytes of text over many files: a
 *    first and a last file, a middle of many `data/mid-NN.txt`), with
 *    directories to whiteout, to make opaque, to replace by a file, a file
 *    to replace by a directory, a symlink and a hard link;
 * 1. an upper layer: whiteouts (`.wh.gone`, `.wh.to-delete.txt`), an
 *    opaque marker in `opq/`, replacements both ways, symlinks of every
 *    kind (absolute, relative, to a directory, chained, escaping the root,
 *    dangling, looping), a hard link, a larger file;
 * 2. a small top layer (meant to stay without a zTOC): a new file, a
 *    whiteout of a lower file, a replaced lower file.
 */
export function standardTrees(baseSize = 6 << 20): TreeSpec[][] {
  const mids = 24;
  const midSize = Math.floor((baseSize - 400_000) / mids);
  const base: TreeSpec[] = [
    { path: "aaa-first.txt", kind: "file", data: text(100_000, 1) },
    { path: "bin/tool", kind: "file", data: text(150_000, 2), mode: 0o755 },
    { path: "etc/os-release", kind: "file", data: new TextEncoder().encode("ID=test\n") },
    { path: "etc/passwd", kind: "file", data: new TextEncoder().encode("root:x:0:0::/root:\n") },
    { path: "gone/a.txt", kind: "file", data: text(3000, 3) },
    { path: "gone/sub/b.txt", kind: "file", data: text(3000, 4) },
    { path: "opq/a.txt", kind: "file", data: text(2000, 5) },
    { path: "opq/b.txt", kind: "file", data: text(2000, 6) },
    { path: "replaced.txt", kind: "file", data: text(5000, 7) },
    { path: "dir-to-file/child.txt", kind: "file", data: text(1000, 8) },
    { path: "file-to-dir", kind: "file", data: text(1000, 9) },
    { path: "to-delete.txt", kind: "file", data: text(1000, 10) },
    { path: "hard-orig.txt", kind: "file", data: text(20_000, 11) },
    { path: "hard-link.txt", kind: "hardlink", target: "hard-orig.txt" },
    { path: "lib/libfoo.so.1", kind: "file", data: text(40_000, 12), mode: 0o755 },
    { path: "lib/libfoo.so", kind: "symlink", target: "libfoo.so.1" },
    { path: "tmp", kind: "dir", mode: 0o1777 },
    { path: "zzz-last.txt", kind: "file", data: text(100_000, 13) },
  ];
  for (let i = 0; i < mids; i++) {
    const name = `data/mid-${String(i).padStart(2, "0")}.txt`;
    base.push({ path: name, kind: "file", data: text(midSize, 100 + i) });
  }
  const upper: TreeSpec[] = [
    { path: ".wh.gone", kind: "file", data: new Uint8Array(0) },
    { path: ".wh.to-delete.txt", kind: "file", data: new Uint8Array(0) },
    { path: "opq/.wh..wh..opq", kind: "file", data: new Uint8Array(0) },
    { path: "opq/c.txt", kind: "file", data: text(2000, 20) },
    { path: "replaced.txt", kind: "file", data: text(7000, 21) },
    { path: "dir-to-file", kind: "file", data: text(1500, 22) },
    { path: "file-to-dir/inner.txt", kind: "file", data: text(1500, 23) },
    { path: "links/abs", kind: "symlink", target: "/data/mid-10.txt" },
    { path: "links/rel", kind: "symlink", target: "../etc/os-release" },
    { path: "links/dir", kind: "symlink", target: "/data" },
    { path: "links/chain", kind: "symlink", target: "abs" },
    { path: "links/up", kind: "symlink", target: "../../../../etc/os-release" },
    { path: "links/dangling", kind: "symlink", target: "/nope" },
    { path: "links/loop1", kind: "symlink", target: "loop2" },
    { path: "links/loop2", kind: "symlink", target: "loop1" },
    { path: "links/lib", kind: "symlink", target: "../lib/libfoo.so" },
    { path: "upper-big.txt", kind: "file", data: text(800_000, 24) },
    { path: "up-hard.txt", kind: "file", data: text(9000, 25) },
    { path: "up-hard-link.txt", kind: "hardlink", target: "up-hard.txt" },
  ];
  const top: TreeSpec[] = [
    { path: "small/new.txt", kind: "file", data: text(3000, 30) },
    { path: "etc/.wh.passwd", kind: "file", data: new Uint8Array(0) },
    { path: "data/mid-03.txt", kind: "file", data: text(4000, 31) },
  ];
  return [base, upper, top];
}

/**
 * Pushes an OCI layout's image index (and everything in the layout) to a
 * plain-HTTP registry with bare `fetch` calls: every blob file is
 * uploaded (POST then PUT), the index's child manifests are PUT by digest,
 * then the index under `tag`. For images skopeo will not copy as they are
 * (an index listing a SOCI v2 index).
 */
export async function pushIndexRaw(
  registryUrl: string,
  repo: string,
  tag: string,
  layoutDir: string,
  index: { digest: string },
): Promise<void> {
  const blobDir = join(layoutDir, "blobs", "sha256");
  const read = (digest: string): Promise<Uint8Array<ArrayBuffer>> =>
    Deno.readFile(join(blobDir, digest.slice(7)));
  const indexBytes = await read(index.digest);
  const doc = JSON.parse(new TextDecoder().decode(indexBytes));
  const manifests = new Set<string>([index.digest]);
  for (const m of doc.manifests) manifests.add(m.digest);
  for await (const e of Deno.readDir(blobDir)) {
    const digest = `sha256:${e.name}`;
    if (manifests.has(digest)) continue;
    const start = await fetch(`${registryUrl}/v2/${repo}/blobs/uploads/`, { method: "POST" });
    await start.body?.cancel();
    if (start.status !== 202) throw new Error(`upload start: ${start.status}`);
    const loc = new URL(start.headers.get("location")!, registryUrl);
    loc.searchParams.set("digest", digest);
    const put = await fetch(loc, { method: "PUT", body: await read(digest) });
    await put.body?.cancel();
    if (put.status !== 201) throw new Error(`upload ${digest}: ${put.status}`);
  }
  const putManifest = async (ref: string, mediaType: string, bytes: Uint8Array<ArrayBuffer>) => {
    const res = await fetch(`${registryUrl}/v2/${repo}/manifests/${ref}`, {
      method: "PUT",
      headers: { "content-type": mediaType },
      body: bytes,
    });
    const body = await res.text();
    if (res.status !== 201) throw new Error(`put manifest ${ref}: ${res.status} ${body}`);
  };
  for (const m of doc.manifests) await putManifest(m.digest, m.mediaType, await read(m.digest));
  await putManifest(tag, OCI_INDEX, indexBytes);
}
