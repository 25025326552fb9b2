/**
 * The `soci index` command group.
 *
 * @module
 */
import type { Command } from "./command.ts";
import { indexInfoCommand } from "./index_info.ts";
import { indexListCommand } from "./index_list.ts";
import { indexRmCommand } from "./index_rm.ts";

/** `soci index …`. */
export const indexCommand: Command = {
  name: "index",
  usage: "list, inspect and remove SOCI indexes in the local store",
  subcommands: [indexListCommand, indexInfoCommand, indexRmCommand],
};
