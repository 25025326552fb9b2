/**
 * The `soci ztoc` command group.
 *
 * @module
 */
import type { Command } from "./command.ts";
import { ztocBuildCommand } from "./ztoc_build.ts";
import { ztocGetFileCommand } from "./ztoc_get_file.ts";
import { ztocInfoCommand } from "./ztoc_info.ts";
import { ztocListCommand } from "./ztoc_list.ts";

/** `soci ztoc …`. */
export const ztocCommand: Command = {
  name: "ztoc",
  usage: "build and inspect zTOCs",
  subcommands: [ztocBuildCommand, ztocInfoCommand, ztocGetFileCommand, ztocListCommand],
};
