/**
 * Opening the artifact store of a command (`--root`, later
 * `--content-store`), and telling files from digests in arguments.
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import { parseDigest } from "../oci/digest.ts";
import { LocalStore } from "../store/local_store.ts";
import { resolveRoot } from "../store/root.ts";
import type { CommandContext } from "./command.ts";

/**
 * Opens the store and DB of the command's root: the `root` flag as the CLI
 * resolved it (`resolveRoot()` when it is empty, for direct callers).
 * Reading commands pass `readOnly` so that nothing is created. Writable,
 * the DB file is created by the first write, so a command that fails on a
 * fresh root leaves no DB behind. Close it with `using`.
 */
export function openStore(
  ctx: CommandContext,
  options: { readOnly?: boolean } = {},
): LocalStore {
  const kind = (ctx.flags["content-store"] as string | undefined) || "soci";
  if (kind !== "soci" && kind !== "containerd") {
    throw new BadInputError(
      `unknown content store type: ${kind}; must be one of [soci containerd]`,
    );
  }
  if (kind === "containerd") {
    throw new BadInputError("--content-store containerd is not available in this build");
  }
  const root = ctx.string("root") || resolveRoot();
  return LocalStore.open(root, { readOnly: options.readOnly });
}

/**
 * True when `arg` names an existing file; false when nothing (or no file)
 * is there. When the path cannot be looked at (no permission from the
 * system or from Deno), an `arg` that is a digest or a digest prefix is not
 * a file (false), and any other is a `BadInputError` `cannot read <arg>:
 * <cause>` rather than a digest to look up.
 */
export async function isFile(arg: string): Promise<boolean> {
  try {
    return (await Deno.stat(arg)).isFile;
  } catch (e) {
    if (e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable) {
      // A digest or a digest prefix is not meant as a file.
      if (/^(sha256:)?[0-9a-f]{4,64}$/.test(arg)) return false;
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

/** Explains an argument that is neither an existing file nor a valid digest. */
export function notFileNorDigest(arg: string, e: unknown): BadInputError {
  return new BadInputError(
    `${arg}: no such file, and not a digest (${e instanceof Error ? e.message : e})`,
  );
}
