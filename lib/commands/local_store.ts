/**
 * Opening the local store and artifacts DB for a command, and loading
 * artifacts by digest with upstream's lookup errors (`soci-cli.md` §8.2).
 *
 * @module
 */
import { BadInputError, NotFoundError } from "../errors.ts";
import { parseDigest } from "../oci/digest.ts";
import { type ArtifactRecord, ArtifactsDb } from "../store/artifacts_db.ts";
import { ContentStore } from "../store/content_store.ts";
import { artifactsDbPath, resolveRoot } from "../store/root.ts";
import type { CommandContext } from "./command.ts";

/** The local store and DB of a command's root. */
export interface LocalStore {
  root: string;
  store: ContentStore;
  db: ArtifactsDb;
  [Symbol.dispose](): void;
}

/**
 * Opens the store and DB under `--root`. Reading commands pass
 * `readOnly` so that nothing is created.
 */
export function openLocalStore(
  ctx: CommandContext,
  options: { readOnly?: boolean } = {},
): LocalStore {
  const root = resolveRoot(ctx.string("root") || undefined);
  const store = ContentStore.open(root);
  const path = artifactsDbPath(root);
  const existed = exists(path);
  const db = ArtifactsDb.open(path, { readOnly: options.readOnly });
  const dispose = () => {
    // A command that failed on a fresh root leaves no empty DB behind.
    const empty = !existed && !options.readOnly && db.all().length === 0;
    db.close();
    if (empty) {
      for (const f of [path, `${path}-wal`, `${path}-shm`]) {
        try {
          Deno.removeSync(f);
        } catch { /* not there */ }
      }
    }
  };
  return { root, store, db, [Symbol.dispose]: dispose };
}

/**
 * The DB record of an artifact given by digest: the digest is validated
 * first (`invalid checksum digest format` …), then looked up
 * (`couldn't retrieve artifact for <digest>, not found`).
 */
export function artifactRecord(db: ArtifactsDb, digest: string): ArtifactRecord {
  parseDigest(digest);
  const rec = db.get(digest);
  if (rec === undefined) {
    throw new NotFoundError(`couldn't retrieve artifact for ${digest}, not found`);
  }
  return rec;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** True when `arg` names an existing file. */
export async function isFile(arg: string): Promise<boolean> {
  try {
    return (await Deno.stat(arg)).isFile;
  } catch {
    return false;
  }
}

/**
 * Explains an argument that is neither an existing file nor a valid digest.
 */
export function notFileNorDigest(arg: string, e: unknown): BadInputError {
  return new BadInputError(
    `${arg}: no such file, and not a digest (${e instanceof Error ? e.message : e})`,
  );
}
