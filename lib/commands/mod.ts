/**
 * The command tree of the `soci` CLI. Each command lives in its own file in
 * this folder and is listed here; `cli.ts` dispatches to it.
 *
 * @module
 */
import type { Command } from "./command.ts";
import { ztocCommand } from "./ztoc.ts";

/** The top-level commands, in the order help lists them. */
export const commands: Command[] = [ztocCommand];
