/**
 * Writing an output file so that it either appears whole or not at all:
 * the bytes go to a temp file next to it, which is fsynced and renamed.
 *
 * @module
 */
import { dirname, join } from "node:path";

/**
 * Writes `chunks` to `path` atomically: on any failure the temp file is
 * removed and `path` is left as it was.
 *
 * @example
 * ```ts
 * import { writeFileAtomic } from "./atomic_file.ts";
 * const dir = await Deno.makeTempDir();
 * await writeFileAtomic(`${dir}/out`, [new TextEncoder().encode("hi")]);
 * console.assert(await Deno.readTextFile(`${dir}/out`) === "hi");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeFileAtomic(
  path: string,
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: { mode?: number } = {},
): Promise<void> {
  const tmp = join(
    dirname(path),
    `.${path.split("/").pop()}.${crypto.randomUUID().slice(0, 8)}.tmp`,
  );
  const file = await Deno.open(tmp, {
    write: true,
    createNew: true,
    mode: options.mode ?? 0o644,
  });
  let ok = false;
  try {
    for await (const c of chunks) {
      let off = 0;
      while (off < c.length) off += await file.write(c.subarray(off));
    }
    await file.sync();
    file.close();
    await Deno.rename(tmp, path);
    ok = true;
  } finally {
    if (!ok) {
      try {
        file.close();
      } catch { /* already closed */ }
      await Deno.remove(tmp).catch(() => {});
    }
  }
}
