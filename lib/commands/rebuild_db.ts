/**
 * `soci rebuild-db`: recreates the artifacts DB from the blobs of the local
 * store (`soci-cli.md` §7).
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { ContainerdStore } from "../store/containerd_store.ts";
import type { Command } from "./command.ts";

/** The `rebuild-db` command. */
export const rebuildDbCommand: Command = {
  name: "rebuild-db",
  usage: "recreate the artifacts DB from the blobs of the local store",
  description: "Drops records whose blob is gone and adds the v1 indexes found among the blobs, " +
    "with their zTOCs. Prints nothing on success.",
  permissions: [
    "--allow-read=<root> --allow-write=<root> --allow-env=SOCI_ROOT,XDG_DATA_HOME,HOME",
  ],
  async action(ctx) {
    const [{ rebuildDb }, { openStore }] = await Promise.all([
      import("../use_cases/rebuild.ts"),
      import("./open_store.ts"),
    ]);
    if (ctx.args.length > 0) throw new UsageError(`unexpected argument ${ctx.args[0]}`);
    using store = openStore(ctx);
    // containerd: its socket answers and the namespace exists, or nothing is
    // done (a mistyped --namespace would list no blobs and drop every row),
    // checked before the root lock is taken.
    if (store.kind === "containerd") await (store as ContainerdStore).requireNamespace();
    await rebuildDb(store);
  },
};
