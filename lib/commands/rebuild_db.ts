/**
 * `soci rebuild-db`: recreates the artifacts DB from the blobs of the local
 * store (`soci-cli.md` §7). A damaged DB (not SQLite, cut short, a page
 * malformed) is moved aside to `artifacts.sqlite.corrupt-<UTC time>` and a
 * fresh one built; one warning line names both paths.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { Command } from "./command.ts";

/** The `rebuild-db` command. */
export const rebuildDbCommand: Command = {
  name: "rebuild-db",
  usage: "recreate the artifacts DB from the blobs of the local store",
  description: "Drops records whose blob is gone and adds the v1 indexes found among the blobs, " +
    "with their zTOCs. A damaged DB file is renamed to artifacts.sqlite.corrupt-<time> and a " +
    "new one built (it is moved back if that fails). Prints nothing else on success.",
  permissions: [
    "--allow-read=<root> --allow-write=<root> --allow-env=SOCI_ROOT,XDG_DATA_HOME,HOME",
  ],
  async action(ctx) {
    const [{ rebuildDamagedDb, rebuildDb }, { openCheckedStore, rootOf }] = await Promise.all([
      import("../use_cases/rebuild.ts"),
      import("./open_store.ts"),
    ]);
    if (ctx.args.length > 0) throw new UsageError(`unexpected argument ${ctx.args[0]}`);
    const moved = await rebuildDamagedDb(rootOf(ctx), async () => {
      // (containerd: a mistyped --namespace would list no blobs and drop
      // every row)
      using store = await openCheckedStore(ctx);
      await rebuildDb(store);
    });
    if (moved) {
      ctx.out.warn(
        `warning: artifacts DB ${moved.path} is damaged (${moved.cause}): moved it to ` +
          `${moved.aside} and rebuilt it from the content store`,
      );
    }
  },
};
