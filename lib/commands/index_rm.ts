/**
 * `soci index rm [--ref NAME] [<digest>…]`: removes SOCI indexes from the
 * local store: their DB rows and `index.json` entries go in one
 * transaction. Their zTOCs keep their DB rows (and so their blobs), so a
 * later `create` of an image with the same layers reuses them; neither
 * this command nor `rebuild-db` ever drops zTOC rows. Then the store is
 * garbage-collected: blobs that no `index.json` entry and no DB row
 * reaches (the index blobs, and their image manifests and configs when
 * nothing else refers to them) are deleted. That clean-up is best effort:
 * when it fails, the indexes are removed all the same, a warning is
 * printed on stderr and the command succeeds.
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import type { Command } from "./command.ts";

/** The `index rm` command. */
export const indexRmCommand: Command = {
  name: "remove",
  aliases: ["rm"],
  usage: "remove SOCI indexes from the local store",
  argsUsage: "[<digest>...]",
  flags: [{ name: "ref", type: "string", usage: "remove every index of this image" }],
  permissions: [
    "--allow-read=<root> --allow-write=<root> --allow-env=SOCI_ROOT,XDG_DATA_HOME,HOME",
  ],
  async action(ctx) {
    const [{ indexesToRemove, removeIndexes }, { openCheckedStore }] = await Promise.all([
      import("../use_cases/remove.ts"),
      import("./open_store.ts"),
    ]);
    const ref = ctx.string("ref");
    if (ref && ctx.args.length > 0) {
      throw new BadInputError("please provide either index digests or image ref, but not both");
    }
    if (!ref && ctx.args.length === 0) return;
    // (containerd: its socket answers and the namespace exists before the
    // root lock is taken; a silent socket would hold the lock for the
    // connect deadline)
    using store = await openCheckedStore(ctx);
    const digests = await indexesToRemove(store, { ref, digests: ctx.args });
    for (const w of await removeIndexes(store, digests)) {
      ctx.out.warn(`warning: indexes removed, but ${w}`);
    }
  },
};
