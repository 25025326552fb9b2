/**
 * Test fixtures for the OCI sources: real image layouts built with umoci,
 * with Python (`tarfile`, `gzip`, `json`, `hashlib`; independent of lib/),
 * and copies made with skopeo. Everything lives in temp dirs that the
 * caller removes.
 *
 * @module
 */

/** Calls `fn`, asserts that it throws an instance of `cls`, and returns the error. */
export function catchError<E extends Error>(
  fn: () => unknown,
  cls: new (...args: never[]) => E,
): E {
  try {
    fn();
  } catch (err) {
    if (err instanceof cls) return err;
    throw new Error(`expected ${cls.name}, got ${String(err)}`);
  }
  throw new Error(`expected ${cls.name}, nothing was thrown`);
}

/** Awaits `fn()`, asserts that it rejects with an instance of `cls`, and returns the error. */
export async function rejects<E extends Error>(
  fn: () => Promise<unknown>,
  cls: new (...args: never[]) => E,
): Promise<E> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof cls) return err;
    throw new Error(`expected ${cls.name}, got ${String(err)}`);
  }
  throw new Error(`expected ${cls.name}, nothing was thrown`);
}

/** Runs a command; throws with its stderr when it fails. Returns stdout. */
export async function run(cmd: string, args: string[], stdin?: string): Promise<string> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: { DENO_NO_UPDATE_CHECK: "1" },
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed (${out.code}): ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return text;
}

/** Creates a temp dir, runs `fn`, removes the dir. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "soci-oci-test-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Builds a layout with umoci: `init`, `new`, inserts `files` (path →
 * text) as one layer, sets `config.cmd`. umoci writes manifests without
 * `mediaType` and with a trailing newline.
 */
export async function umociLayout(
  layout: string,
  tag: string,
  files: Record<string, string>,
  scratch: string,
): Promise<void> {
  try {
    await Deno.stat(layout);
  } catch {
    await run("umoci", ["init", "--layout", layout]);
  }
  await run("umoci", ["new", "--image", `${layout}:${tag}`]);
  const root = `${scratch}/umoci-root-${tag}`;
  for (const [path, text] of Object.entries(files)) {
    const full = `${root}/${path}`;
    await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(full, text);
  }
  await run("umoci", ["insert", "--image", `${layout}:${tag}`, root, "/"]);
  await run("umoci", ["config", "--image", `${layout}:${tag}`, "--config.cmd", "/bin/sh"]);
}

/** One image for {@link pythonLayout}. */
export interface PyImage {
  tag: string;
  arch: string;
  variant?: string;
  /** Files of the single layer: path → text. */
  files: Record<string, string>;
  /** Extra deterministic pseudo-random bytes in a file `big.bin` (to make big layers). */
  randomBytes?: number;
  /** Put the platform on the `index.json` entry (default false). */
  entryPlatform?: boolean;
}

/** One multi-platform index for {@link pythonLayout}. */
export interface PyIndex {
  tag: string;
  /** Tags of the images it lists, in order. */
  of: string[];
  /** Tags whose child descriptor gets no `platform` (to test the error). */
  noPlatform?: string[];
}

const PY_BUILDER = String.raw`
import sys, os, io, json, hashlib, tarfile, gzip, random
spec = json.load(sys.stdin)
out = spec["dir"]
os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)
def blob(data):
    h = hashlib.sha256(data).hexdigest()
    with open(os.path.join(out, "blobs", "sha256", h), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + h, "size": len(data)}
def compact(o):
    return json.dumps(o, separators=(",", ":")).encode()
entries = []
found = {}
for img in spec["images"]:
    raw = io.BytesIO()
    tf = tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT)
    files = dict(img["files"])
    items = sorted(files.items())
    for name, text in items:
        data = text.encode()
        ti = tarfile.TarInfo(name); ti.size = len(data); ti.mode = 0o644; ti.mtime = 0
        tf.addfile(ti, io.BytesIO(data))
    n = img.get("randomBytes", 0)
    if n:
        data = random.Random(n).randbytes(n)
        ti = tarfile.TarInfo("big.bin"); ti.size = n; ti.mode = 0o644; ti.mtime = 0
        tf.addfile(ti, io.BytesIO(data))
    tf.close()
    layer_tar = raw.getvalue()
    gz = gzip.compress(layer_tar, compresslevel=6, mtime=0)
    layer = dict(mediaType="application/vnd.oci.image.layer.v1.tar+gzip", **blob(gz))
    cfg = {"architecture": img["arch"], "os": "linux",
           "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer_tar).hexdigest()]}}
    if img.get("variant"):
        cfg["variant"] = img["variant"]
    config = dict(mediaType="application/vnd.oci.image.config.v1+json", **blob(compact(cfg)))
    man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": config, "layers": [layer]}
    mdesc = dict(mediaType="application/vnd.oci.image.manifest.v1+json", **blob(compact(man)))
    plat = {"architecture": img["arch"], "os": "linux"}
    if img.get("variant"):
        plat["variant"] = img["variant"]
    found[img["tag"]] = (mdesc, plat)
    entry = dict(mdesc)
    if img.get("entryPlatform"):
        entry["platform"] = plat
    entry["annotations"] = {"org.opencontainers.image.ref.name": img["tag"]}
    entries.append(entry)
for ix in spec.get("indexes", []):
    children = []
    for t in ix["of"]:
        mdesc, plat = found[t]
        child = dict(mdesc)
        if t not in ix.get("noPlatform", []):
            child["platform"] = plat
        children.append(child)
    doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
           "manifests": children}
    idesc = dict(mediaType="application/vnd.oci.image.index.v1+json",
                 **blob(json.dumps(doc, indent=2).encode()))
    idesc["annotations"] = {"org.opencontainers.image.ref.name": ix["tag"]}
    entries.append(idesc)
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "manifests": entries}, f)
with open(os.path.join(out, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
`;

/** Builds an OCI layout in `dir` with Python: one gzip layer per image, optional indexes. */
export async function pythonLayout(
  dir: string,
  images: PyImage[],
  indexes: PyIndex[] = [],
): Promise<void> {
  await run("python3", ["-c", PY_BUILDER], JSON.stringify({ dir, images, indexes }));
}

/**
 * Writes a tar of a layout with Python's `tarfile`, in a chosen format and
 * with a chosen member-name spelling, to exercise the archive reader:
 * `pax-path` (PAX `path` records that override a wrong header name),
 * `gnu-long` (`././…` names longer than 100 bytes → GNU `L` entries),
 * `ustar-prefix` (long `././…` names split into prefix + name).
 */
export async function pythonTar(
  layout: string,
  tarPath: string,
  style: "pax-path" | "gnu-long" | "ustar-prefix",
): Promise<void> {
  const script = String.raw`
import sys, os, tarfile
layout, out, style = sys.argv[1], sys.argv[2], sys.argv[3]
fmt = {"pax-path": tarfile.PAX_FORMAT, "gnu-long": tarfile.GNU_FORMAT,
       "ustar-prefix": tarfile.USTAR_FORMAT}[style]
with tarfile.open(out, "w", format=fmt) as tf:
    for root, dirs, files in os.walk(layout):
        dirs.sort()
        for fn in sorted(files):
            p = os.path.join(root, fn)
            rel = os.path.relpath(p, layout)
            ti = tf.gettarinfo(p, rel)
            if style == "pax-path":
                ti.pax_headers = {"path": rel}
                ti.name = "wrong/" + fn[:20]
            else:
                ti.name = "./" * 20 + rel
            with open(p, "rb") as f:
                tf.addfile(ti, f)
`;
  await run("python3", ["-c", script, layout, tarPath, style]);
}

/** Lists the members of a tar with Python's `tarfile` (name → size), the names as `tarfile` reports them. */
export async function pythonTarMembers(tarPath: string): Promise<Record<string, number>> {
  const script = String.raw`
import sys, json, tarfile
with tarfile.open(sys.argv[1]) as tf:
    print(json.dumps({m.name: m.size for m in tf.getmembers() if m.isfile()}))
`;
  return JSON.parse(await run("python3", ["-c", script, tarPath]));
}

/** Reads a JSON file of a layout. */
export async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(path));
}
