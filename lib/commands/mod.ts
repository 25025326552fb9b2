/**
 * The command tree of the `soci` CLI. Each command lives in its own file in
 * this folder and is listed here; `cli.ts` dispatches to it.
 *
 * Loading this table is cheap: a command file statically imports only what
 * its name, flags and help need; its action loads the rest (use cases,
 * stores, formats, `node:` modules, npm packages) with string-literal
 * `await import(…)`, which keeps them in the module graph (`deno install`,
 * `deno publish`) while `soci --version` or `soci index list` do not pay
 * for `create`'s modules.
 *
 * @module
 */
import type { Command } from "./command.ts";
import { convertCommand } from "./convert.ts";
import { createCommand } from "./create.ts";
import { indexCommand } from "./index_group.ts";
import { prefetchCommand } from "./prefetch_group.ts";
import { pushCommand } from "./push.ts";
import { rebuildDbCommand } from "./rebuild_db.ts";
import { ztocCommand } from "./ztoc.ts";
import { catCommand } from "./cat.ts";
import { lsCommand } from "./ls.ts";
import { verifyCommand } from "./verify.ts";

/** The top-level commands, in the order help lists them. */
export const commands: Command[] = [
  createCommand,
  convertCommand,
  pushCommand,
  indexCommand,
  ztocCommand,
  prefetchCommand,
  rebuildDbCommand,
  lsCommand,
  catCommand,
  verifyCommand,
];
