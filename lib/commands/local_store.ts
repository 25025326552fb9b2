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
  /** The root directory. */
  root: string;
  /** Its content store. */
  store: ContentStore;
  /** Its artifacts DB. */
  db: ArtifactsDb;
  /** Closes the DB. */
  [Symbol.dispose](): void;
}

/**
 * Opens the store and DB of the command's root: the `root` flag as the CLI
 * resolved it (`resolveRoot()` when it is empty, for direct callers).
 * Reading commands pass `readOnly` so that nothing is created. Writable,
 * the DB file is created by the first write (`create: "lazy"`), so a
 * command that fails on a fresh root leaves no DB behind, and nothing is
 * ever deleted that another process may be using.
 */
export function openLocalStore(
  ctx: CommandContext,
  options: { readOnly?: boolean } = {},
): LocalStore {
  const root = ctx.string("root") || resolveRoot();
  const store = ContentStore.open(root);
  const db = ArtifactsDb.open(artifactsDbPath(root), {
    readOnly: options.readOnly,
    create: "lazy",
  });
  return { root, store, db, [Symbol.dispose]: () => db.close() };
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

/**
 * True when `arg` names an existing file; false when nothing (or no file)
 * is there. When the path cannot be looked at (no permission from the
 * system or from Deno), an `arg` that is a valid digest is not a file
 * (false), and any other is a `BadInputError` `cannot read <arg>: <cause>`
 * rather than a digest to look up.
 */
export async function isFile(arg: string): Promise<boolean> {
  try {
    return (await Deno.stat(arg)).isFile;
  } catch (e) {
    if (e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable) {
      try {
        parseDigest(arg);
        return false;
      } catch {
        throw new BadInputError(`cannot read ${arg}: ${e.message}`, { cause: e });
      }
    }
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
