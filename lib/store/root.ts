/**
 * The soci root directory: where the content store (`<root>/content`) and
 * the artifacts DB (`<root>/artifacts.sqlite`) live (design §5).
 *
 * @module
 */
import { join } from "node:path";
import { BadInputError } from "../errors.ts";

/**
 * Resolves the root directory: the `--root` flag when given (non-empty),
 * else `$SOCI_ROOT`, else `$XDG_DATA_HOME/soci` (only when that variable is
 * an absolute path, as the XDG spec asks), else `$HOME/.local/share/soci`.
 * Reads the environment (`--allow-env=SOCI_ROOT,XDG_DATA_HOME,HOME`); does
 * not touch the file system. Throws `BadInputError` when nothing gives a
 * root (no flag, no `SOCI_ROOT`, no `XDG_DATA_HOME`, no `HOME`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveRoot } from "./root.ts";
 * assert.equal(resolveRoot("/srv/soci"), "/srv/soci");
 * ```
 */
export function resolveRoot(
  flag?: string,
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): string {
  if (flag) return flag;
  const fromEnv = env("SOCI_ROOT");
  if (fromEnv) return fromEnv;
  const xdg = env("XDG_DATA_HOME");
  if (xdg && xdg.startsWith("/")) return join(xdg, "soci");
  const home = env("HOME");
  if (home) return join(home, ".local", "share", "soci");
  throw new BadInputError(
    "cannot choose a soci root directory: give --root or set SOCI_ROOT, XDG_DATA_HOME or HOME",
  );
}

/**
 * Path of the content store (OCI image layout) under a root.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { contentDir } from "./root.ts";
 * assert.equal(contentDir("/r"), "/r/content");
 * ```
 */
export function contentDir(root: string): string {
  return join(root, "content");
}

/**
 * Path of the artifacts DB under a root.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { artifactsDbPath } from "./root.ts";
 * assert.equal(artifactsDbPath("/r"), "/r/artifacts.sqlite");
 * ```
 */
export function artifactsDbPath(root: string): string {
  return join(root, "artifacts.sqlite");
}

/**
 * Makes sure the root directory exists and is a writable directory. A
 * missing root is created with mode 0700, parents included (upstream makes
 * only the last component); an existing one is left as it is. Throws
 * `BadInputError` naming the path and the cause when the root cannot be
 * created, is not a directory, or cannot be written.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ensureRoot } from "./root.ts";
 * const tmp = await Deno.makeTempDir();
 * await ensureRoot(tmp + "/a/b/soci");
 * assert.equal((await Deno.stat(tmp + "/a/b/soci")).isDirectory, true);
 * await Deno.remove(tmp, { recursive: true });
 * ```
 */
export async function ensureRoot(root: string): Promise<void> {
  let info: Deno.FileInfo | undefined;
  try {
    info = await Deno.stat(root);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw rootError(root, "cannot access it", e);
  }
  if (info === undefined) {
    try {
      await Deno.mkdir(root, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw rootError(root, "cannot create it", e);
    }
    return;
  }
  if (!info.isDirectory) throw rootError(root, "it is not a directory");
  // An existing root: probe that we can create files in it.
  let probe: string | undefined;
  try {
    probe = await Deno.makeTempFile({ dir: root, prefix: ".soci-probe-" });
  } catch (e) {
    throw rootError(root, "it is not writable", e);
  } finally {
    if (probe !== undefined) await Deno.remove(probe).catch(() => {});
  }
}

function rootError(root: string, what: string, cause?: unknown): BadInputError {
  const reason = cause instanceof Error ? `: ${cause.message}` : "";
  return new BadInputError(`soci root ${root}: ${what}${reason}`, { cause });
}
