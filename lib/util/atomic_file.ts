/**
 * Writing a file so that it either appears whole or not at all: the bytes
 * go to a temp file next to it, which is fsynced and renamed over the
 * target, and the directory is fsynced so that the rename survives a crash.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { errorMessage, SociError } from "../errors.ts";

/**
 * Writes `chunks` to `path` atomically (mode `options.mode`, default 0644,
 * before the umask). On any failure the temp file is removed and `path` is
 * left as it was. A failure of the file system is a `SociError` `cannot
 * write <path>: <cause>` (the cause never names the temp file); an error
 * thrown by `chunks` itself is rethrown as it is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeFileAtomic } from "./atomic_file.ts";
 * const dir = await Deno.makeTempDir();
 * await writeFileAtomic(`${dir}/out`, [new TextEncoder().encode("hi")]);
 * assert.equal(await Deno.readTextFile(`${dir}/out`), "hi");
 * await assert.rejects(
 *   () => writeFileAtomic(`${dir}/missing/out`, []),
 *   { message: `cannot write ${dir}/missing/out: No such file or directory (os error 2)` },
 * );
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeFileAtomic(
  path: string,
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: { mode?: number } = {},
): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`);
  const failed = (e: unknown) =>
    new SociError(`cannot write ${path}: ${causeText(e, tmp)}`, { cause: e });
  let file: Deno.FsFile | undefined;
  try {
    try {
      file = await Deno.open(tmp, { write: true, createNew: true, mode: options.mode ?? 0o644 });
    } catch (e) {
      throw failed(e);
    }
    for await (const c of chunks) {
      try {
        let off = 0;
        while (off < c.length) off += await file.write(c.subarray(off));
      } catch (e) {
        throw failed(e);
      }
    }
    try {
      await file.sync();
      file.close();
      file = undefined;
      await Deno.rename(tmp, path);
    } catch (e) {
      throw failed(e);
    }
  } catch (e) {
    if (file !== undefined) {
      try {
        file.close();
      } catch { /* already closed */ }
    }
    await Deno.remove(tmp).catch(() => {}); // gone already when the rename happened
    throw e;
  }
  await syncDir(dir);
}

/**
 * Fsyncs a directory, so that entries just created or renamed in it are
 * durable. Best effort: some file systems cannot fsync directories.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { syncDir } from "./atomic_file.ts";
 * const dir = await Deno.makeTempDir();
 * await assert.doesNotReject(syncDir(dir));
 * // best effort: a directory that cannot be opened is not an error
 * await assert.doesNotReject(syncDir(`${dir}/missing`));
 * await Deno.remove(dir);
 * ```
 */
export async function syncDir(dir: string): Promise<void> {
  let d: Deno.FsFile | undefined;
  try {
    d = await Deno.open(dir, { read: true });
    await d.sync();
  } catch {
    // not supported here: nothing more we can do
  } finally {
    d?.close();
  }
}

/**
 * The error's text without the temp file: Deno ends OS errors with `: <op>
 * '<path>'` (`: rename '<tmp>' -> '<path>'`), which is dropped.
 */
function causeText(e: unknown, tmp: string): string {
  const msg = errorMessage(e);
  const i = msg.indexOf(tmp);
  if (i < 0) return msg;
  const op = /: [a-z_]+ '$/.exec(msg.slice(0, i));
  return op ? msg.slice(0, op.index) : msg.replaceAll(tmp, "<temp file>");
}
