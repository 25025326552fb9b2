/**
 * Test images for the `soci create` and local-store end-to-end tests, built
 * from scratch in a temp dir without any code of `lib/`: tar streams laid out
 * like Go's `archive/tar` (`tar_go_writer.ts`), gzip from the real `gzip -n`,
 * digests with `node:crypto`, manifests, configs and `index.json` written as
 * plain JSON. Writing the layout directly lets the tests choose every media
 * type (Docker types, `…layer.v1.tar`, `…tar+zstd`, `…tar+foo`, non-layer
 * types) and plant broken blobs (corrupt gzip, digest and size mismatches).
 *
 * The standard set ({@link buildE2eImages}) is one OCI layout with these tags:
 *
 * | tag | what |
 * |---|---|
 * | `app` | OCI manifest, amd64: small gzip layer, large gzip layer (>1 MB), uncompressed tar layer |
 * | `odd` | gzip layer, then `…tar+zstd`, `…tar+foo` and a prefetch-typed descriptor |
 * | `docker` | Docker schema 2 manifest and config: `…rootfs.diff.tar.gzip` and `…rootfs.diff.tar` layers |
 * | `multi` | OCI index: linux/amd64 and linux/arm64/v8 manifests sharing a layer, plus an unknown/unknown child |
 * | `sibling` | OCI manifest sharing its first layer with the manifests of `multi` |
 * | `xattr` | gzip layers: one with a `SCHILY.xattr.` PAX record, one with an opaque whiteout, one plain |
 * | `corrupt` | good gzip layer, then a gzip layer with damaged deflate data (its digest is right) |
 * | `mismatch` | gzip layer whose blob bytes differ from the descriptor digest (same size) |
 * | `short` | gzip layer whose descriptor size is one byte more than the blob |
 * | `nonlayer` | gzip layer, then descriptors of types `""`, OCI manifest, `application/octet-stream` |
 * | `badprefix` | gzip layer, then the bare prefix `application/vnd.oci.image.layer.` |
 * | `global` | gzip layer holding a PAX global header (`g`) |
 * | `noblob` | gzip layer, then a layer whose blob file is missing |
 * | `noplat` | OCI index whose first child has no `platform` |
 * | `members` | one gzip layer made of two gzip members (the tar split between entries) |
 *
 * @module
 */
import { join } from "node:path";
import { goTar, type GoTarEntry } from "./tar_go_writer.ts";
import { flatcToJson, TAR_ZINFO_FBS, ZTOC_FBS } from "./ztoc_flatc.ts";
import { randomBytes as noise, sha256 } from "./bytes.ts";

/** Media types, spelled out here (not imported from lib/) so the tests stay independent. */
export const MT = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  ociTar: "application/vnd.oci.image.layer.v1.tar",
  ociZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  ociFoo: "application/vnd.oci.image.layer.v1.tar+foo",
  ociBarePrefix: "application/vnd.oci.image.layer.",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  dockerTar: "application/vnd.docker.image.rootfs.diff.tar",
  octet: "application/octet-stream",
  prefetch: "application/vnd.amazon.soci.prefetch.v1+json",
  sociV1: "application/vnd.amazon.soci.index.v1+json",
} as const;

/** The `{}` config of every SOCI index (F§1.3). */
export const EMPTY_CONFIG = {
  digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
  size: 2,
};

/** A content descriptor as written into the test manifests. */
export interface Desc {
  mediaType: string;
  digest: string;
  size: number;
}

/** A platform as written into index children. */
export interface Plat {
  architecture: string;
  os: string;
  variant?: string;
}

/** A layer of a test image. */
export interface BuiltLayer {
  /** The descriptor written into the manifest. */
  desc: Desc;
  /** The uncompressed tar stream (absent for layers that are not tars). */
  tar?: Uint8Array;
  /** The layer's regular files: name → content. */
  files: Map<string, Uint8Array>;
  /** Path of the blob file in the layout. */
  path: string;
}

/** A test image manifest. */
export interface BuiltImage {
  /** Descriptor of the manifest (no platform). */
  manifest: Desc;
  /** The manifest bytes as written. */
  manifestBytes: Uint8Array;
  /** Descriptor of the config. */
  config: Desc;
  /** The layers, in manifest order. */
  layers: BuiltLayer[];
}

const ENC = new TextEncoder();

/** `n` incompressible pseudo-random bytes: the kit's `randomBytes`. */
export { randomBytes as noise, sha256 } from "./bytes.ts";

/** `n` bytes of compressible text (numbered lines). */
export function text(n: number, seed: number): Uint8Array {
  let s = "";
  for (let i = 0; s.length < n; i++) s += `line ${i} of file ${seed}: ${"soci ".repeat(i % 7)}\n`;
  return ENC.encode(s.slice(0, n));
}

/** Compresses with the real `gzip -n -c` (no name, no time stamp). */
export async function gzipN(data: Uint8Array): Promise<Uint8Array> {
  const child = new Deno.Command("gzip", {
    args: ["-n", "-c"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writing = (async () => {
    const w = child.stdin.getWriter();
    await w.write(data);
    await w.close();
  })();
  const [out] = await Promise.all([child.output(), writing]);
  if (!out.success) throw new Error(`gzip failed: ${new TextDecoder().decode(out.stderr)}`);
  return out.stdout;
}

/** A regular-file tar entry. */
export function file(
  name: string,
  data: Uint8Array | string,
  extra: Partial<GoTarEntry> = {},
): GoTarEntry & { name: string; data: Uint8Array } {
  return { ...extra, name, data: typeof data === "string" ? ENC.encode(data) : data };
}

/** A directory tar entry. */
export function dirEntry(name: string): GoTarEntry {
  return { name, typeflag: "5", mode: 0o755 };
}

/** Writes an OCI image layout (blobs, then `index.json` and `oci-layout` on {@link save}). */
export class LayoutBuilder {
  /** The layout directory. */
  readonly dir: string;
  #entries: Array<Record<string, unknown>> = [];

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Creates `dir/blobs/sha256`. */
  static async create(dir: string): Promise<LayoutBuilder> {
    await Deno.mkdir(join(dir, "blobs", "sha256"), { recursive: true });
    return new LayoutBuilder(dir);
  }

  /** Path of a blob file in the layout. */
  blobPath(digest: string): string {
    return join(this.dir, "blobs", "sha256", digest.slice("sha256:".length));
  }

  /** Writes a blob under its own digest. */
  async blob(bytes: Uint8Array, mediaType: string): Promise<Desc> {
    const digest = sha256(bytes);
    await Deno.writeFile(this.blobPath(digest), bytes);
    return { mediaType, digest, size: bytes.length };
  }

  /** A tar layer (entries laid out by Go's rules), gzip-compressed when `gzip` is true. */
  async tarLayer(entries: GoTarEntry[], mediaType: string, gzip: boolean): Promise<BuiltLayer> {
    const tar = goTar(entries);
    const bytes = gzip ? await gzipN(tar) : tar;
    const desc = await this.blob(bytes, mediaType);
    const files = new Map<string, Uint8Array>();
    for (const e of entries) {
      if ((e.typeflag ?? "0") === "0" && typeof e.name === "string") {
        files.set(e.name, e.data ?? new Uint8Array(0));
      }
    }
    return { desc, tar, files, path: this.blobPath(desc.digest) };
  }

  /** A layer that is not a tar (any bytes, any media type). */
  async rawLayer(bytes: Uint8Array, mediaType: string): Promise<BuiltLayer> {
    const desc = await this.blob(bytes, mediaType);
    return { desc, files: new Map(), path: this.blobPath(desc.digest) };
  }

  /**
   * An image manifest and its config. With `docker`, Docker schema 2 media
   * types for the manifest and config.
   */
  async image(
    layers: BuiltLayer[],
    opts: { arch?: string; variant?: string; os?: string; docker?: boolean } = {},
  ): Promise<BuiltImage> {
    const cfg: Record<string, unknown> = {
      architecture: opts.arch ?? "amd64",
      os: opts.os ?? "linux",
    };
    if (opts.variant) cfg.variant = opts.variant;
    cfg.config = { Cmd: ["/bin/sh"] };
    cfg.rootfs = {
      type: "layers",
      diff_ids: layers.map((l) => l.tar ? sha256(l.tar) : l.desc.digest),
    };
    const config = await this.blob(
      ENC.encode(JSON.stringify(cfg)),
      opts.docker ? MT.dockerConfig : MT.ociConfig,
    );
    const mediaType = opts.docker ? MT.dockerManifest : MT.ociManifest;
    const doc = { schemaVersion: 2, mediaType, config, layers: layers.map((l) => l.desc) };
    const manifestBytes = ENC.encode(JSON.stringify(doc));
    const manifest = await this.blob(manifestBytes, mediaType);
    return { manifest, manifestBytes, config, layers };
  }

  /** An OCI image index over `children` (each with its platform, unless left out). */
  async index(children: Array<{ manifest: Desc; platform?: Plat }>): Promise<Desc> {
    const doc = {
      schemaVersion: 2,
      mediaType: MT.ociIndex,
      manifests: children.map((c) =>
        c.platform ? { ...c.manifest, platform: c.platform } : c.manifest
      ),
    };
    return await this.blob(ENC.encode(JSON.stringify(doc)), MT.ociIndex);
  }

  /** Lists `desc` in `index.json` under the tag `name`. */
  tag(name: string, desc: Desc): void {
    this.#entries.push({
      ...desc,
      annotations: { "org.opencontainers.image.ref.name": name },
    });
  }

  /** Writes `index.json` and `oci-layout`. */
  async save(): Promise<void> {
    await Deno.writeTextFile(
      join(this.dir, "index.json"),
      JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: this.#entries }),
    );
    await Deno.writeTextFile(join(this.dir, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
  }
}

/** The standard set of test images (see the module documentation). */
export interface E2eImages {
  /** The OCI layout holding every image. */
  layout: string;
  /** Blob path of a digest in the layout. */
  blobPath(digest: string): string;
  app: BuiltImage;
  odd: BuiltImage;
  docker: BuiltImage;
  multi: {
    index: Desc;
    amd64: BuiltImage;
    arm64: BuiltImage;
    unknown: BuiltImage;
  };
  sibling: BuiltImage;
  xattr: BuiltImage;
  corrupt: BuiltImage;
  mismatch: BuiltImage & { actualDigest: string };
  short: BuiltImage & { actualSize: number };
  nonlayer: BuiltImage;
  badprefix: BuiltImage;
  global: BuiltImage;
  noblob: BuiltImage;
  members: BuiltImage;
}

/** Files of the large layer of `app`: several incompressible files (≈ 1.2 MB in all). */
function bigFiles(): Array<[string, Uint8Array]> {
  const out: Array<[string, Uint8Array]> = [["app/main.js", text(5000, 1)]];
  for (let i = 0; i < 6; i++) out.push([`app/data/part${i}.bin`, noise(200_000 + 777 * i, 10 + i)]);
  return out;
}

/** Builds the standard images into `<dir>/layout`. */
export async function buildE2eImages(dir: string): Promise<E2eImages> {
  const b = await LayoutBuilder.create(join(dir, "layout"));
  const gz = (entries: GoTarEntry[], mt: string = MT.ociGzip) => b.tarLayer(entries, mt, true);

  // app: small gzip, large gzip, uncompressed tar.
  const appSmall = await gz([dirEntry("etc/"), file("etc/hello.txt", "hello soci\n")]);
  const appBig = await gz([
    dirEntry("app/"),
    ...bigFiles().map(([n, d]) => file(n, d)),
    { name: "app/link", typeflag: "2", linkname: "main.js", mode: 0o777 },
  ]);
  const appTar = await b.tarLayer(
    [
      dirEntry("usr/"),
      file("usr/share/doc/readme.txt", text(3000, 2)),
      file("usr/share/doc/big.txt", text(150_000, 3)),
    ],
    MT.ociTar,
    false,
  );
  const app = await b.image([appSmall, appBig, appTar]);
  b.tag("app", app.manifest);

  // odd: one gzip layer, then layers that get no zTOC.
  const oddGzip = await gz([file("odd/a.txt", "odd one\n")]);
  const oddZstd = await b.rawLayer(noise(300, 5), MT.ociZstd);
  const oddFoo = await b.rawLayer(noise(200, 6), MT.ociFoo);
  const oddPrefetch = await b.rawLayer(ENC.encode('{"version":"1.0"}'), MT.prefetch);
  const odd = await b.image([oddGzip, oddZstd, oddFoo, oddPrefetch]);
  b.tag("odd", odd.manifest);

  // docker: Docker media types throughout.
  const dGzip = await gz([file("srv/index.html", "<h1>docker</h1>\n")], MT.dockerGzip);
  const dTar = await b.tarLayer([file("srv/plain.txt", text(2000, 4))], MT.dockerTar, false);
  const docker = await b.image([dGzip, dTar], { docker: true });
  b.tag("docker", docker.manifest);

  // multi: an OCI index with two platforms sharing a layer, plus an attestation-like child.
  const shared = await gz([file("base/os-release", "ID=soci-test\n")]);
  const onlyAmd = await gz([file("bin/tool", "amd64 tool\n")]);
  const onlyArm = await gz([file("bin/tool", "arm64 tool!\n")]);
  const amd64 = await b.image([shared, onlyAmd], { arch: "amd64" });
  const arm64 = await b.image([shared, onlyArm], { arch: "arm64", variant: "v8" });
  const unknown = await b.image([await gz([file("att.json", "{}")])], {
    arch: "unknown",
    os: "unknown",
  });
  const multiIndex = await b.index([
    { manifest: amd64.manifest, platform: { architecture: "amd64", os: "linux" } },
    { manifest: arm64.manifest, platform: { architecture: "arm64", os: "linux", variant: "v8" } },
    { manifest: unknown.manifest, platform: { architecture: "unknown", os: "unknown" } },
  ]);
  b.tag("multi", multiIndex);

  // sibling: shares the first layer of `multi`.
  const sibling = await b.image([shared, await gz([file("sib/own.txt", "sibling\n")])]);
  b.tag("sibling", sibling.manifest);

  // xattr: an xattr record, an opaque whiteout, nothing special.
  const withXattr = await gz([
    file("x/cap.bin", "x", { pax: [["SCHILY.xattr.user.any", "value"]] }),
  ]);
  const withOpaque = await gz([dirEntry("dir/"), file("dir/.wh..wh..opq", "")]);
  const plain = await gz([file("p/plain.txt", "plain\n")]);
  const xattr = await b.image([withXattr, withOpaque, plain]);
  b.tag("xattr", xattr.manifest);

  // corrupt: the second layer's deflate data is damaged (its digest matches the damaged bytes).
  const good = await gz([file("good.txt", "good\n")]);
  const damagedSrc = await gzipN(goTar([file("bad/data.txt", text(60_000, 7))]));
  const damaged = damagedSrc.slice();
  for (let i = 200; i < 260; i++) damaged[i] ^= 0x5a;
  const corrupt = await b.image([good, await b.rawLayer(damaged, MT.ociGzip)]);
  b.tag("corrupt", corrupt.manifest);

  // mismatch: same size, different bytes (the gzip header's MTIME field changed).
  const mm = await gz([file("mm.txt", text(3000, 8))]);
  const mmBytes = await Deno.readFile(mm.path);
  mmBytes[4] ^= 0x01;
  await Deno.writeFile(mm.path, mmBytes);
  const mismatch = { ...await b.image([mm]), actualDigest: sha256(mmBytes) };
  b.tag("mismatch", mismatch.manifest);

  // short: the descriptor says one byte more than the blob has.
  const sh = await gz([file("short.txt", text(3000, 9))]);
  const shLayer = { ...sh, desc: { ...sh.desc, size: sh.desc.size + 1 } };
  const short = { ...await b.image([shLayer]), actualSize: sh.desc.size };
  b.tag("short", short.manifest);

  // nonlayer / badprefix: a descriptor that is not a layer / has no known compression.
  const nl = await gz([file("nl.txt", "nl\n")]);
  const nonlayer = await b.image([
    nl,
    await b.rawLayer(noise(100, 13), ""),
    await b.rawLayer(noise(100, 14), MT.ociManifest),
    await b.rawLayer(noise(100, 11), MT.octet),
  ]);
  b.tag("nonlayer", nonlayer.manifest);
  const bp = await gz([file("bp.txt", "bp\n")]);
  const badprefix = await b.image([bp, await b.rawLayer(noise(100, 12), MT.ociBarePrefix)]);
  b.tag("badprefix", badprefix.manifest);

  // global: a PAX global header, which zTOCs cannot describe.
  const glob = await gz([
    { name: "pax_global_header", typeflag: "g", pax: [["comment", "hi"]] },
    file("g.txt", "g\n"),
  ]);
  const global = await b.image([glob]);
  b.tag("global", global.manifest);

  // noblob: the second layer's blob file is missing.
  const nb = await gz([file("nb.txt", "nb\n")]);
  const gone = await gz([file("gone.txt", "gone\n")]);
  await Deno.remove(gone.path);
  const noblob = await b.image([nb, gone]);
  b.tag("noblob", noblob.manifest);

  // noplat: an index whose first child has no platform.
  const noplat = await b.index([
    { manifest: arm64.manifest },
    { manifest: amd64.manifest, platform: { architecture: "amd64", os: "linux" } },
  ]);
  b.tag("noplat", noplat);

  // members: one layer made of two gzip members (the tar split at a header), like eStargz.
  const memberEntries = [
    file("m/one.txt", text(40_000, 20)),
    file("m/two.txt", text(50_000, 21)),
    file("m/three.txt", "three\n"),
  ];
  const memberTar = goTar(memberEntries);
  const cut = 512 + Math.ceil(40_000 / 512) * 512; // the header of m/two.txt
  const membersBytes = new Uint8Array([
    ...await gzipN(memberTar.subarray(0, cut)),
    ...await gzipN(memberTar.subarray(cut)),
  ]);
  const membersLayer = await b.rawLayer(membersBytes, MT.ociGzip);
  membersLayer.tar = memberTar;
  for (const e of memberEntries) membersLayer.files.set(e.name, e.data);
  const members = await b.image([membersLayer]);
  b.tag("members", members.manifest);

  await b.save();
  return {
    layout: b.dir,
    blobPath: (d) => b.blobPath(d),
    app,
    odd,
    docker,
    multi: { index: multiIndex, amd64, arm64, unknown },
    sibling,
    xattr,
    corrupt,
    mismatch,
    short,
    nonlayer,
    badprefix,
    global,
    noblob,
    members,
  };
}

/** Exit code, stdout bytes and text, stderr text of a CLI run. */
export interface CliResult {
  code: number;
  stdoutBytes: Uint8Array;
  stdout: string;
  stderr: string;
}

const REPO = new URL("../../", import.meta.url).pathname;

/**
 * Runs `deno run -A cli.ts --root ROOT ARGS` as a real process from the
 * repository root (`cwd` optional) and collects its output.
 */
export async function soci(root: string, args: string[], cwd = REPO): Promise<CliResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", join(REPO, "cli.ts"), "--root", root, ...args],
    cwd,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdoutBytes: out.stdout,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

/** Like {@link soci}, but throws with the output when the command fails. */
export async function sociOk(root: string, args: string[], cwd?: string): Promise<CliResult> {
  const r = await soci(root, args, cwd);
  if (r.code !== 0) {
    throw new Error(`soci ${args.join(" ")} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  }
  return r;
}

/** Runs a tool; returns exit code, stdout bytes and stderr text. */
export async function tool(
  cmd: string,
  args: string[],
  stdin?: Uint8Array,
): Promise<{ code: number; stdout: Uint8Array; stderr: string }> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writing = stdin
    ? (async () => {
      const w = child.stdin.getWriter();
      await w.write(stdin);
      await w.close();
    })()
    : Promise.resolve();
  const [out] = await Promise.all([child.output(), writing]);
  return { code: out.code, stdout: out.stdout, stderr: new TextDecoder().decode(out.stderr) };
}

/** Runs a tool and returns its stdout as text; throws when it fails. */
export async function toolOk(cmd: string, args: string[], stdin?: Uint8Array): Promise<string> {
  const r = await tool(cmd, args, stdin);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return new TextDecoder().decode(r.stdout);
}

/** `sha256:<hex>` of a file by coreutils `sha256sum`. */
export async function sha256sum(path: string): Promise<string> {
  return "sha256:" + (await toolOk("sha256sum", [path])).split(" ")[0];
}

/** A fresh temp dir (the caller removes it). */
export function tempDir(prefix = "soci-create-e2e-"): Promise<string> {
  return Deno.makeTempDir({ prefix });
}

/**
 * The host platform `create` defaults to (F§7.6): `linux/<GOARCH>`, plus the
 * CPU variant on ARM (`linux/arm64/v8`).
 */
export function hostPlatform(): string {
  if (Deno.build.arch === "x86_64") return "linux/amd64";
  if (Deno.build.arch === "aarch64") return "linux/arm64/v8";
  return `linux/${Deno.build.arch}`;
}

/**
 * Python (`json`, `sqlite3`, `tarfile`, `gzip`) as an independent reader:
 * runs `script` with `args` and parses its stdout as JSON.
 */
export async function python(script: string, ...args: string[]): Promise<unknown> {
  return JSON.parse(await toolOk("python3", ["-c", script, ...args]));
}

/**
 * The artifacts DB rows read with Python's `sqlite3` (sorted by digest), or
 * `[]` when absent. Reading leaves no file behind (a read-only connection to
 * a WAL database would leave `-wal`/`-shm`): the DB is opened `immutable`
 * when no `-wal` file exists (no writer has it open), else writable with
 * writes forbidden, so closing removes what it made.
 */
export async function dbRows(root: string): Promise<Array<Record<string, unknown>>> {
  return await python(
    String.raw`
import json, os, sqlite3, sys, urllib.parse
p = os.path.join(sys.argv[1], "artifacts.sqlite")
if not os.path.exists(p):
    print("[]"); sys.exit(0)
if os.path.exists(p + "-wal"):
    c = sqlite3.connect(p)
    c.execute("PRAGMA query_only = 1")
else:
    c = sqlite3.connect("file:" + urllib.parse.quote(p) + "?mode=ro&immutable=1", uri=True)
c.row_factory = sqlite3.Row
rows = [dict(r) for r in c.execute("SELECT * FROM artifacts ORDER BY digest")]
print(json.dumps(rows))
`,
    root,
  ) as Array<Record<string, unknown>>;
}

/**
 * A recursive listing of `dir` (sorted): `path type mode [size sha256]` per
 * entry, hashes by `sha256sum`; `skip` leaves matching names out.
 */
export async function treeListing(dir: string, skip?: RegExp): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string) => {
    let list: Deno.DirEntry[];
    try {
      list = await Array.fromAsync(Deno.readDir(join(dir, rel)));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound && rel === "") return;
      throw e;
    }
    for (const e of list) {
      if (skip?.test(e.name)) continue;
      const p = rel ? `${rel}/${e.name}` : e.name;
      const info = await Deno.lstat(join(dir, p));
      const mode = (info.mode! & 0o7777).toString(8);
      if (info.isDirectory) {
        out.push(`${p} dir ${mode}`);
        await walk(p);
      } else if (info.isFile) {
        out.push(`${p} file ${mode} ${info.size} ${await sha256sum(join(dir, p))}`);
      } else {
        out.push(`${p} other ${mode}`);
      }
    }
  };
  await walk("");
  return out.sort();
}

/**
 * The members of a tar stream as Python's `tarfile` reads them: name,
 * `offset_data`, size and type (`reg`, `dir`, `symlink`, `hardlink`, …).
 */
export async function pyTarMembers(
  tar: Uint8Array,
): Promise<Array<{ name: string; offset: number; size: number; type: string }>> {
  const f = await Deno.makeTempFile({ suffix: ".tar" });
  try {
    await Deno.writeFile(f, tar);
    return await python(
      String.raw`
import json, sys, tarfile
kinds = {tarfile.REGTYPE: "reg", tarfile.AREGTYPE: "reg", tarfile.DIRTYPE: "dir",
         tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink", tarfile.CHRTYPE: "char",
         tarfile.BLKTYPE: "block", tarfile.FIFOTYPE: "fifo"}
out = []
with tarfile.open(sys.argv[1], "r:") as tf:
    for m in tf:
        name = m.name + ("/" if m.isdir() and not m.name.endswith("/") else "")
        out.append({"name": name, "offset": m.offset_data,
                    "size": m.size if m.isreg() else 0, "type": kinds[m.type]})
print(json.dumps(out))
`,
      f,
    ) as Array<{ name: string; offset: number; size: number; type: string }>;
  } finally {
    await Deno.remove(f);
  }
}

let shared: Promise<E2eImages> | undefined;

/**
 * The standard images, built once per test module in a temp dir that is
 * removed when the module unloads.
 */
export function e2eImages(): Promise<E2eImages> {
  shared ??= (async () => {
    const dir = await tempDir("soci-e2e-images-");
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch {
        // already gone
      }
    });
    return await buildE2eImages(dir);
  })();
  return shared;
}

/** Runs `fn` with a fresh root path (not created) inside a temp dir that is removed afterwards. */
export async function withRoot<T>(fn: (root: string, scratch: string) => Promise<T>): Promise<T> {
  const scratch = await tempDir();
  try {
    return await fn(join(scratch, "root"), scratch);
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
}

/** Path of a blob in the local store of `root`. */
export function storeBlob(root: string, digest: string): string {
  return join(root, "content", "blobs", "sha256", digest.slice("sha256:".length));
}

/** A zTOC as `flatc` decodes it (the members the tests use). */
export interface FlatZtoc {
  version: string;
  build_tool_identifier: string;
  compressed_archive_size: number;
  uncompressed_archive_size: number;
  toc: {
    metadata: Array<{
      name: string;
      type: string;
      uncompressed_offset: number;
      uncompressed_size: number;
    }>;
  };
  compression_info: {
    compression_algorithm: string;
    max_span_id: number;
    checkpoints: number[];
  };
}

/** A zTOC blob found in a store: digest and size by `sha256sum`/`stat`, content by `flatc`. */
export interface StoredZtoc {
  digest: string;
  size: number;
  ztoc: FlatZtoc;
  /** Span size read from the zinfo (gzip header field, or TarZinfo `span_size`). */
  spanSize: number;
}

/**
 * Every zTOC blob of a root's store: blobs that are not JSON documents,
 * decoded with `flatc` (schema of F§3.2).
 */
export async function storedZtocs(root: string): Promise<StoredZtoc[]> {
  const dir = join(root, "content", "blobs", "sha256");
  const out: StoredZtoc[] = [];
  for await (const e of Deno.readDir(dir)) {
    const path = join(dir, e.name);
    const bytes = await Deno.readFile(path);
    if (bytes[0] === 0x7b) continue; // a JSON document
    const ztoc = await flatcToJson(ZTOC_FBS, bytes) as unknown as FlatZtoc;
    const cps = Uint8Array.from(ztoc.compression_info.checkpoints);
    let spanSize: number;
    if (ztoc.compression_info.compression_algorithm === "Uncompressed") {
      spanSize = Number((await flatcToJson(TAR_ZINFO_FBS, cps)).span_size);
    } else {
      spanSize = Number(new DataView(cps.buffer).getBigInt64(4, true));
    }
    out.push({ digest: await sha256sum(path), size: bytes.length, ztoc, spanSize });
  }
  return out;
}

/**
 * The stored zTOC of `layer` built with `spanSize`: the one whose
 * `compressed_archive_size` is the layer's size and whose TOC names are the
 * layer's tar members as Python's `tarfile` lists them. Throws when there is
 * not exactly one.
 */
export async function ztocOf(
  zs: StoredZtoc[],
  layer: BuiltLayer,
  spanSize: number,
): Promise<StoredZtoc> {
  const names = (await pyTarMembers(layer.tar!)).map((m) => m.name);
  const found = zs.filter((z) =>
    z.spanSize === spanSize && z.ztoc.compressed_archive_size === layer.desc.size &&
    JSON.stringify(z.ztoc.toc.metadata.map((m) => m.name)) === JSON.stringify(names)
  );
  if (found.length !== 1) {
    throw new Error(`${found.length} stored zTOCs for layer ${layer.desc.digest} (${spanSize})`);
  }
  return found[0];
}

/** One zTOC descriptor of an expected SOCI index. */
export interface ExpectedZtoc {
  ztoc: { digest: string; size: number };
  layer: Desc;
  spanSize: number;
  disableXattrs?: boolean;
}

/**
 * The exact bytes of a v1 SOCI index written out by hand from F§7.1/§7.2
 * (member order, sorted annotation keys, compact, no trailing newline).
 */
export function expectedIndexJson(subject: Desc, ztocs: ExpectedZtoc[]): string {
  const layers = ztocs.map((z) =>
    `{"mediaType":"application/octet-stream","digest":"${z.ztoc.digest}","size":${z.ztoc.size},` +
    `"annotations":{` +
    (z.disableXattrs ? `"com.amazon.soci.disable-xattrs":"true",` : "") +
    `"com.amazon.soci.image-layer-digest":"${z.layer.digest}",` +
    `"com.amazon.soci.image-layer-mediaType":"${z.layer.mediaType}",` +
    `"com.amazon.soci.span-size":"${z.spanSize}"}}`
  );
  return `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
    `"config":{"mediaType":"application/vnd.amazon.soci.index.v1+json",` +
    `"digest":"${EMPTY_CONFIG.digest}","size":2},` +
    `"layers":[${layers.join(",")}],` +
    `"subject":{"mediaType":"${subject.mediaType}","digest":"${subject.digest}",` +
    `"size":${subject.size}},` +
    `"annotations":{"com.amazon.soci.build-tool-identifier":"AWS SOCI CLI v0.2"}}`;
}

/**
 * A table as Go's tabwriter prints it with upstream's settings when every
 * line has the same number of tab-terminated cells: each cell padded with
 * spaces to max(8, widest cell of its column + 4).
 */
export function goTable(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(8, ...rows.map((r) => [...r[c]].length + 4)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c], " ")).join("") + "\n").join(
    "",
  );
}

/** Parses `--json` output. */
export function parseJson<T = unknown>(text: string): T {
  return JSON.parse(text) as T;
}

/** stderr lines (without the final empty string). */
export function lines(text: string): string[] {
  const l = text.split("\n");
  if (l[l.length - 1] === "") l.pop();
  return l;
}

/** `sha256:<hex>` of bytes or text by coreutils `sha256sum` (fed on stdin). */
export async function sha256sumOf(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === "string" ? ENC.encode(data) : data;
  return "sha256:" + (await toolOk("sha256sum", ["-"], bytes)).split(" ")[0];
}

/** Digest (`sha256sum`) and size (`stat`) of a file, as a descriptor with `mediaType`. */
export async function describeFile(path: string, mediaType: string): Promise<Desc> {
  return { mediaType, digest: await sha256sum(path), size: (await Deno.stat(path)).size };
}

/**
 * A layer of a layout written by another tool (skopeo), as a
 * {@link BuiltLayer}: its tar stream is the blob, through `gzip -dc` for
 * gzip media types.
 */
export async function layerFromLayout(layout: string, desc: Desc): Promise<BuiltLayer> {
  const path = join(layout, "blobs", "sha256", desc.digest.slice("sha256:".length));
  const bytes = await Deno.readFile(path);
  const tar = /gzip$/.test(desc.mediaType) ? (await tool("gzip", ["-dc"], bytes)).stdout : bytes;
  return { desc, tar, files: new Map(), path };
}

/** The image a layout written by another tool tags `tag`: manifest descriptor and document. */
export async function taggedManifest(
  layout: string,
  tag: string,
): Promise<{ desc: Desc; doc: { mediaType?: string; layers: Desc[]; config: Desc } }> {
  const index = JSON.parse(await Deno.readTextFile(join(layout, "index.json")));
  const entry = index.manifests.find((m: { annotations?: Record<string, string> }) =>
    m.annotations?.["org.opencontainers.image.ref.name"] === tag
  );
  if (!entry) throw new Error(`no ${tag} in ${layout}`);
  const desc = { mediaType: entry.mediaType, digest: entry.digest, size: entry.size };
  const path = join(layout, "blobs", "sha256", desc.digest.slice("sha256:".length));
  return { desc, doc: JSON.parse(await Deno.readTextFile(path)) };
}
