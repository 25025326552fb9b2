/**
 * The `soci prefetch` command group (experimental upstream, `soci-cli.md`
 * §10): the prefetch artifacts in the local store.
 *
 * @module
 */
import type { Command } from "./command.ts";
import { prefetchInfoCommand } from "./prefetch_info.ts";
import { prefetchListCommand } from "./prefetch_list.ts";

/** `soci prefetch …`. */
export const prefetchCommand: Command = {
  name: "prefetch",
  usage: "list and inspect prefetch artifacts in the local store (experimental)",
  subcommands: [prefetchListCommand, prefetchInfoCommand],
};
