/**
 * Staging of blobs for a local-store transaction: each transaction writes
 * its blobs, fsynced, into its own folder `<content>/ingest/<id>/`, named
 * `<time>-<pid>-<random>` so that the folders of processes that died can be
 * told from those of live ones and removed.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { SociError } from "../errors.ts";
import { processGone } from "../util/process.ts";

/** Staging folders of processes we cannot check are removed after this long. */
const STALE_INGEST_MS = 60 * 60 * 1000;

/** A staged blob file. */
export interface StagedBlob {
  /** Path of the staged file. */
  path: string;
  /** Its size. */
  size: number;
}

/**
 * The staging folder of one transaction, created on first use.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Staging } from "./ingest.ts";
 * const content = await Deno.makeTempDir();
 * const staging = new Staging(content);
 * const s = await staging.write("sha256:" + "a".repeat(64), new TextEncoder().encode("hi"));
 * assert.equal(await Deno.readTextFile(s.path), "hi");
 * await staging.remove();
 * assert.deepEqual([...Deno.readDirSync(content)], []); // nothing left behind
 * await Deno.remove(content);
 * ```
 */
export class Staging {
  /** The content directory (`<root>/content`). */
  readonly contentDir: string;
  #dir?: Promise<string>;
  #createdContentDir = false;

  /** A staging area under `contentDir` (nothing is created yet). */
  constructor(contentDir: string) {
    this.contentDir = contentDir;
  }

  /** Writes `bytes` as the staged file of `digest` (fsynced). */
  async write(digest: string, bytes: Uint8Array): Promise<StagedBlob> {
    const dir = await this.#folder();
    const path = join(dir, digest.slice(digest.indexOf(":") + 1));
    try {
      const f = await Deno.open(path, { write: true, createNew: true, mode: 0o644 });
      try {
        let off = 0;
        while (off < bytes.length) off += await f.write(bytes.subarray(off));
        await f.sync();
      } finally {
        f.close();
      }
    } catch (e) {
      // Deno's write errors name no file (`No space left on device (os error 28)`).
      throw new SociError(
        `cannot write to the local store ${this.contentDir}: ${(e as Error).message}`,
        { cause: e },
      );
    }
    return { path, size: bytes.length };
  }

  /**
   * Removes the staging folder and what it holds, and the empty folders it
   * made (`ingest/`, and `content/` when it did not exist before).
   */
  async remove(): Promise<void> {
    if (!this.#dir) return;
    let dir: string;
    try {
      dir = await this.#dir;
    } catch {
      return; // it was never created
    } finally {
      this.#dir = undefined;
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    // Leave no empty dirs behind (fails harmlessly if not empty).
    await Deno.remove(dirname(dir)).catch(() => {});
    if (this.#createdContentDir) await Deno.remove(this.contentDir).catch(() => {});
  }

  #folder(): Promise<string> {
    this.#dir ??= this.#make().catch((e) => {
      this.#dir = undefined; // let a later write try again
      throw e;
    });
    return this.#dir;
  }

  async #make(): Promise<string> {
    const contentExisted = await exists(this.contentDir);
    const id = `${Date.now().toString(36)}-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
    const dir = join(this.contentDir, "ingest", id);
    // Retry: a concurrent transaction may remove an empty ingest/ between our mkdirs.
    for (let attempt = 0;; attempt++) {
      try {
        await Deno.mkdir(dirname(dir), { recursive: true, mode: 0o755 });
        await Deno.mkdir(dir, { mode: 0o700 });
        break;
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound) || attempt >= 5) {
          throw new SociError(
            `cannot write to the local store ${this.contentDir}: ${(e as Error).message}`,
            { cause: e },
          );
        }
      }
    }
    this.#createdContentDir = !contentExisted;
    return dir;
  }
}

/**
 * Removes the staging folders `<content>/ingest/<time>-<pid>-<random>` of
 * other processes that are gone: `/proc/<pid>` does not exist, or, when
 * `/proc` cannot tell (not Linux, no permission), the folder is older than
 * an hour. Folders of this process are left alone (a transaction of ours
 * may be open), and so are names we did not make. Best effort: errors are
 * ignored. Called holding the store lock.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { removeStaleIngest } from "./ingest.ts";
 * const content = await Deno.makeTempDir();
 * // pid 2^22 + 1 is above Linux's pid_max: that process cannot exist.
 * await Deno.mkdir(`${content}/ingest/${Date.now().toString(36)}-4194305-0a1b2c3d`, {
 *   recursive: true,
 * });
 * await removeStaleIngest(content);
 * assert.deepEqual([...Deno.readDirSync(content)], []);
 * await Deno.remove(content);
 * ```
 */
export async function removeStaleIngest(contentDir: string): Promise<void> {
  const ingest = join(contentDir, "ingest");
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(ingest)) names.push(e.name);
  } catch {
    return;
  }
  const now = Date.now();
  let removed = false;
  for (const name of names) {
    const m = /^([0-9a-z]+)-([0-9]+)-[0-9a-f]+$/.exec(name);
    if (!m) continue;
    const pid = Number(m[2]);
    if (pid === Deno.pid || !ownerGone(pid, parseInt(m[1], 36), now)) continue;
    try {
      await Deno.remove(join(ingest, name), { recursive: true });
      removed = true;
    } catch {
      // someone else removed it, or we may not: leave it
    }
  }
  if (removed) await Deno.remove(ingest).catch(() => {}); // only when now empty
}

/** Whether the process `pid` that made a staging folder at `created` (ms) is gone. */
function ownerGone(pid: number, created: number, now: number): boolean {
  return processGone(pid) ?? (Number.isFinite(created) && now - created > STALE_INGEST_MS);
}

/** True when something is at `path`. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}
