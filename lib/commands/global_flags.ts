/**
 * The flags every `soci` command accepts (`--root`, `--timeout`, …), in
 * one module of their own: `cli.ts` parses them, and `early_start.ts`
 * reads them before the rest of the CLI is evaluated.
 *
 * @module
 */
import type { FlagSpec } from "./command.ts";

/**
 * Flags accepted before the command name and, except `--version`, after
 * any subcommand name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { globalFlags } from "./global_flags.ts";
 * assert.ok(globalFlags.some((f) => f.name === "root" && f.type === "string"));
 * ```
 */
export const globalFlags: FlagSpec[] = [
  {
    name: "root",
    type: "string",
    env: "SOCI_ROOT",
    usage: "directory of the local store and artifacts DB",
    defaultText: "$XDG_DATA_HOME/soci, else ~/.local/share/soci",
    placeholder: "dir",
  },
  {
    name: "content-store",
    type: "string",
    default: "soci",
    usage: "where artifacts are kept: soci (the local store under --root) or containerd",
    placeholder: "soci|containerd",
  },
  {
    name: "address",
    aliases: ["a"],
    type: "string",
    env: "CONTAINERD_ADDRESS",
    default: "/run/containerd/containerd.sock",
    usage: "containerd's socket (images named without a transport, --content-store containerd)",
    placeholder: "socket",
  },
  {
    name: "namespace",
    aliases: ["n"],
    type: "string",
    env: "CONTAINERD_NAMESPACE",
    default: "default",
    usage: "containerd namespace",
    placeholder: "name",
  },
  {
    name: "debug",
    type: "bool",
    usage: "print stack traces with errors, and HTTP trace lines (stderr)",
  },
  {
    name: "timeout",
    type: "duration",
    usage: 'abort the command after this long ("30s", "1m30s"); 0 means no limit',
    placeholder: "duration",
  },
  {
    name: "version",
    aliases: ["v"],
    type: "bool",
    local: true,
    usage: "print the version",
  },
];
