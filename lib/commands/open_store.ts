/**
 * Opening the artifact store of a command: `--content-store soci` (the
 * default: the local store under `--root`) or `--content-store containerd`
 * (containerd's content store at `--address`, namespace `--namespace`,
 * with the artifacts DB under `--root`); the containerd settings image
 * references use; and telling files from digests in arguments.
 *
 * **Deno permissions with `--content-store containerd`** (measured with
 * Deno 2.9.6; SOCK is containerd's socket, ROOT the soci root). Every
 * command that talks to containerd needs the socket and grpc-js's
 * environment variables:
 *
 * ```text
 * CTRD = --allow-read=SOCK --allow-write=SOCK --allow-net=unix:SOCK --allow-env=GRPC_*
 * ```
 *
 * (a narrower `--allow-env` list is in `lib/containerd/client.ts`), plus,
 * per command:
 *
 * | command | besides CTRD |
 * |---|---|
 * | `create NAME` (image in containerd) | `--allow-read=ROOT --allow-write=ROOT` |
 * | `create oci:DIR` / `docker://…` | the same, plus what the source needs (read DIR; net and credentials) |
 * | `index list`, `index info`, `ztoc list`, `ztoc info`, `ztoc get-file` | `--allow-read=ROOT` |
 * | `index rm`, `rebuild-db` | `--allow-read=ROOT --allow-write=ROOT` |
 * | `push` | `--allow-read=ROOT`, plus the registry's (`--allow-net=HOST`, credentials) |
 * | `convert … containerd:NAME` (or a bare name in containerd) | `--allow-read=ROOT --allow-write=ROOT`, plus what the source needs |
 *
 * Writing commands also read `/proc` when they may (`--allow-read=/proc`):
 * it tells the recovery that the process of a dead transaction is gone, so
 * its lease is deleted at once rather than when it expires (24 h). The
 * global flags' environment variables (`CONTAINERD_ADDRESS`,
 * `CONTAINERD_NAMESPACE`, `SOCI_ROOT`, …) are read only where
 * `--allow-env` grants them. A missing permission is one line naming the
 * flags to add (`reaching containerd at SOCK needs --allow-read=SOCK …`).
 *
 * With the default soci store, a bare image name that is not in the local
 * store is looked for in containerd when its socket exists and may be
 * read: `create` then needs CTRD too. Layers are read from containerd's
 * content folder when
 * `--allow-read=<containerd root>/io.containerd.content.v1.content` allows
 * (see {@link directReadFlag}), else through its API.
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import { parseDigest } from "../oci/digest.ts";
import type { ArtifactStore } from "../store/artifact_store.ts";
import { ContainerdStore } from "../store/containerd_store.ts";
import { LocalStore } from "../store/local_store.ts";
import { resolveRoot } from "../store/root.ts";
import type { CommandContext } from "./command.ts";
import { containerdOptions, contentStoreOf, flag } from "./store_flags.ts";

export {
  containerdOptions,
  CONTENT_STORES,
  contentStoreOf,
  directReadFlag,
} from "./store_flags.ts";

/**
 * Opens the store chosen by `--content-store` (see the module
 * documentation), with the DB of the command's root: the `root` flag as
 * the CLI resolved it (`resolveRoot()` when it is empty, for direct
 * callers). Reading commands pass `readOnly` so that nothing is created.
 * Writable, the DB file is created by the first write, so a command that
 * fails on a fresh root leaves no DB behind. Nothing is connected or read
 * yet. Close it with `using`.
 */
export function openStore(
  ctx: CommandContext,
  options: { readOnly?: boolean } = {},
): ArtifactStore & Disposable {
  const kind = contentStoreOf(ctx);
  const root = rootOf(ctx);
  if (kind === "containerd") {
    return ContainerdStore.open(root, { ...containerdOptions(ctx), readOnly: options.readOnly });
  }
  return LocalStore.open(root, { readOnly: options.readOnly });
}

/**
 * {@link openStore} for the commands that list or change what the store
 * records: with `--content-store containerd`, containerd's socket must
 * answer and the namespace exist before anything is read or locked, so
 * that a mistyped `--namespace` is an error (`containerd namespace <ns>
 * does not exist …`), never an empty listing or a change to the DB.
 */
export async function openCheckedStore(
  ctx: CommandContext,
  options: { readOnly?: boolean } = {},
): Promise<ArtifactStore & Disposable> {
  const store = openStore(ctx, options);
  if (store instanceof ContainerdStore) {
    try {
      await store.requireNamespace();
    } catch (e) {
      store[Symbol.dispose]();
      throw e;
    }
  }
  return store;
}

/**
 * The command's root, where the artifacts DB is for both stores: the
 * `root` flag as the CLI resolved it (`resolveRoot()` when it is empty, for
 * direct callers).
 */
export function rootOf(ctx: CommandContext): string {
  return flag(ctx, "root") || resolveRoot();
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
