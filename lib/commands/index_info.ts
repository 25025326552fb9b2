/**
 * `soci index info <digest>`: a stored SOCI index, indented.
 *
 * @module
 */
import { BadInputError, UsageError } from "../errors.ts";
import type { Command } from "./command.ts";

/** The `index info` command. */
export const indexInfoCommand: Command = {
  name: "info",
  usage: "print a SOCI index of the local store",
  argsUsage: "<digest>",
  needsRoot: false,
  permissions: [
    "--allow-read=<root> --allow-env=SOCI_ROOT,XDG_DATA_HOME,HOME",
  ],
  async action(ctx) {
    const [{ indentGoJson }, { artifactRecord }, { openCheckedStore }] = await Promise.all([
      import("../go/json_indent.ts"),
      import("../use_cases/lookup.ts"),
      import("./open_store.ts"),
    ]);
    if (ctx.args.length !== 1) throw new UsageError("please provide an index digest");
    using store = await openCheckedStore(ctx, { readOnly: true });
    const rec = artifactRecord(store.db, ctx.args[0]);
    if (rec.type === "soci_layer") {
      throw new BadInputError(
        'the provided digest is of ztoc not SOCI index. Use "soci ztoc info" command to get ' +
          "detailed info of ztoc",
      );
    }
    const bytes = await store.readBlob(rec.digest);
    ctx.out.line(indentGoJson(bytes).replace(/\n$/, ""));
  },
};
