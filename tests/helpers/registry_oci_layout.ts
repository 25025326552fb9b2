/**
 * Builds a small OCI image layout for registry tests: each layer is a real
 * gzip tar made by GNU tar and gzip from files written to a temp folder;
 * config, manifest, `index.json` and `oci-layout` are written by hand and
 * their digests computed with `node:crypto` (independent of lib/).
 *
 * @module
 */

import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { sha256 } from "./bytes.ts";

/** One blob of the built image. */
export interface LayoutBlob {
  mediaType: string;
  digest: string;
  size: number;
  bytes: Uint8Array;
}

/** What {@link makeOciLayout} built. */
export interface LayoutImage {
  dir: string;
  tag: string;
  manifest: LayoutBlob;
  config: LayoutBlob;
  layers: LayoutBlob[];
}

/** Deterministic pseudo-random bytes (the kit's `randomBytes`). */
export { randomBytes as pseudoRandomBytes } from "./bytes.ts";

async function tarGz(files: Record<string, Uint8Array>): Promise<Uint8Array> {
  const src = await Deno.makeTempDir({ prefix: "soci-test-layer-" });
  try {
    for (const [name, data] of Object.entries(files)) {
      const path = join(src, name);
      await Deno.mkdir(join(path, ".."), { recursive: true });
      await Deno.writeFile(path, data);
    }
    const out = await new Deno.Command("sh", {
      args: [
        "-c",
        'tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$1" -cf - . | gzip -n -6',
        "sh",
        src,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (out.code !== 0) throw new Error("tar|gzip failed: " + new TextDecoder().decode(out.stderr));
    return out.stdout;
  } finally {
    await Deno.remove(src, { recursive: true });
  }
}

/**
 * Writes an OCI layout at `dir` holding one image tagged `tag` whose layers
 * contain the given files.
 *
 * @example
 * ```ts ignore
 * import { makeOciLayout } from "./registry_oci_layout.ts";
 * const img = await makeOciLayout("/tmp/x", "v1", [{ "etc/hello": new Uint8Array([104, 105]) }]);
 * console.log(img.manifest.digest);
 * ```
 */
export async function makeOciLayout(
  dir: string,
  tag: string,
  layerFiles: Record<string, Uint8Array>[],
): Promise<LayoutImage> {
  const blobsDir = join(dir, "blobs", "sha256");
  await Deno.mkdir(blobsDir, { recursive: true });
  const put = async (mediaType: string, bytes: Uint8Array): Promise<LayoutBlob> => {
    const digest = sha256(bytes);
    await Deno.writeFile(join(blobsDir, digest.slice(7)), bytes);
    return { mediaType, digest, size: bytes.length, bytes };
  };
  const layers: LayoutBlob[] = [];
  for (const files of layerFiles) {
    layers.push(await put("application/vnd.oci.image.layer.v1.tar+gzip", await tarGz(files)));
  }
  const config = await put(
    "application/vnd.oci.image.config.v1+json",
    new TextEncoder().encode(JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config: { Cmd: ["/bin/sh"] },
      rootfs: { type: "layers", diff_ids: layers.map((l) => sha256(gunzipSync(l.bytes))) },
    })),
  );
  const strip = ({ mediaType, digest, size }: LayoutBlob) => ({ mediaType, digest, size });
  const manifest = await put(
    "application/vnd.oci.image.manifest.v1+json",
    new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: strip(config),
      layers: layers.map(strip),
    })),
  );
  await Deno.writeTextFile(
    join(dir, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [{
        ...strip(manifest),
        platform: { architecture: "amd64", os: "linux" },
        annotations: { "org.opencontainers.image.ref.name": tag },
      }],
    }),
  );
  await Deno.writeTextFile(join(dir, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
  return { dir, tag, manifest, config, layers };
}
