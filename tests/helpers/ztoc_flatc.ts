/**
 * Test helper: Debian's `flatc` as an independent FlatBuffers reader and
 * writer. The schemas below are written from `soci-format.md` §3.2 and §5.6.
 *
 * @module
 */

/** The zTOC schema (namespace `ztoc`, root `Ztoc`), per F§3.2. */
export const ZTOC_FBS = `
namespace ztoc;
enum CompressionAlgorithm : byte { Gzip = 1, Uncompressed = 2 }
table Xattr { key: string; value: string; }
table FileMetadata {
  name: string;
  type: string;
  uncompressed_offset: long;
  uncompressed_size: long;
  linkname: string;
  mode: long;
  uid: uint;
  gid: uint;
  uname: string;
  gname: string;
  mod_time: string;
  devmajor: long;
  devminor: long;
  xattrs: [Xattr];
}
table TOC { metadata: [FileMetadata]; }
table CompressionInfo {
  compression_algorithm: CompressionAlgorithm = Gzip;
  max_span_id: int;
  span_digests: [string];
  checkpoints: [ubyte];
}
table Ztoc {
  version: string;
  build_tool_identifier: string;
  compressed_archive_size: long;
  uncompressed_archive_size: long;
  toc: TOC;
  compression_info: CompressionInfo;
}
root_type Ztoc;
`;

/** The TarZinfo schema (namespace `zinfo`), per F§5.6. */
export const TAR_ZINFO_FBS = `
namespace zinfo;
table TarZinfo { version: int; span_size: long; size: long; }
root_type TarZinfo;
`;

async function flatc(args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command("flatc", { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`flatc ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/**
 * Decodes a binary with `flatc --json --raw-binary --strict-json` (and
 * `--defaults-json` unless `defaults` is false) and returns the parsed JSON.
 */
export async function flatcToJson(
  schema: string,
  bytes: Uint8Array,
  defaults = true,
): Promise<Record<string, unknown>> {
  const dir = await Deno.makeTempDir({ prefix: "ztoc_flatc_" });
  try {
    await Deno.writeTextFile(`${dir}/s.fbs`, schema);
    await Deno.writeFile(`${dir}/data.bin`, bytes);
    const args = ["--json", "--raw-binary", "--strict-json"];
    if (defaults) args.push("--defaults-json");
    await flatc([...args, "-o", "out", "s.fbs", "--", "data.bin"], dir);
    return JSON.parse(await Deno.readTextFile(`${dir}/out/data.json`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Builds a binary from JSON with `flatc --binary` (flatc's own C++ builder layout). */
export async function flatcFromJson(schema: string, json: unknown): Promise<Uint8Array> {
  const dir = await Deno.makeTempDir({ prefix: "ztoc_flatc_" });
  try {
    await Deno.writeTextFile(`${dir}/s.fbs`, schema);
    await Deno.writeTextFile(`${dir}/data.json`, JSON.stringify(json));
    await flatc(["--binary", "-o", "out", "s.fbs", "data.json"], dir);
    return await Deno.readFile(`${dir}/out/data.bin`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
