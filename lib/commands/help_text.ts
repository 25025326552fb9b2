/**
 * The help screens of the CLI (urfave/cli v3's layout): usage line,
 * description, subcommands, flags with defaults and environment variables,
 * inherited (global) flags, and the command's Deno permissions.
 *
 * @module
 */
import { formatDuration } from "../go/duration.ts";
import { strconvQuote } from "../go/quote.ts";
import { type HelpFlag, type HelpTopic, renderHelp } from "../ui/help.ts";
import { appliedFlags, flagDefault, flagNames, HELP_FLAG, pathName } from "./args.ts";
import type { Command, FlagSpec } from "./command.ts";

function defaultText(spec: FlagSpec): string | undefined {
  if (spec.defaultText !== undefined) return spec.defaultText;
  const v = flagDefault(spec);
  switch (spec.type) {
    case "bool":
      return v === true ? "true" : undefined;
    case "string":
      return v === "" ? undefined : strconvQuote(v as string);
    case "int64":
    case "uint64":
    case "size":
      return spec.default === undefined ? undefined : String(v);
    case "duration":
      return spec.default === undefined ? undefined : formatDuration(v as bigint);
    case "strings":
      return (v as string[]).length ? (v as string[]).map(strconvQuote).join(", ") : undefined;
  }
}

function helpFlag(spec: FlagSpec): HelpFlag {
  return {
    names: flagNames(spec),
    placeholder: spec.type === "bool" ? undefined : (spec.placeholder ?? "value"),
    usage: spec.usage,
    defaultText: defaultText(spec),
    env: spec.env,
  };
}

const HELP_COMMAND = {
  names: ["help", "h"],
  usage: "show a list of commands or help for one command",
};

/** Options of {@link helpText}. */
export interface HelpOptions {
  /** Version shown on the root's help screen. */
  version?: string;
}

/**
 * The help screen of the last command of `path`: usage line, description,
 * subcommands, its own flags with defaults and environment variables, the
 * inherited (global) flags, and its Deno permissions.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { helpText } from "./help_text.ts";
 * const text = helpText([{ name: "soci", usage: "SOCI tool", permissions: ["--allow-read"] }]);
 * assert.ok(text.includes("PERMISSIONS:\n   --allow-read\n"));
 * ```
 */
export function helpText(path: readonly Command[], options: HelpOptions = {}): string {
  const cmd = path[path.length - 1];
  const isRoot = path.length === 1;
  const hasSubs = (cmd.subcommands ?? []).some((c) => !c.hidden);
  const own = [...(cmd.flags ?? []), HELP_FLAG].filter((f) => !f.hidden);
  const ownNames = new Set(own.flatMap(flagNames));
  const inherited = appliedFlags(path)
    .filter((f) => !f.hidden && !flagNames(f).some((n) => ownNames.has(n)));
  let usageLine = pathName(path) + (isRoot ? " [global options]" : " [options]");
  if (hasSubs) usageLine += " <command> [command options]";
  if (!hasSubs || cmd.action) usageLine += " " + (cmd.argsUsage ?? "[arguments...]");
  const topic: HelpTopic = {
    path: pathName(path),
    usage: cmd.usage,
    usageLine,
    version: isRoot ? options.version : undefined,
    description: cmd.description,
    commands: hasSubs
      ? [
        ...(cmd.subcommands ?? []).filter((c) => !c.hidden).map((c) => ({
          names: [c.name, ...(c.aliases ?? [])],
          usage: c.usage,
        })),
        HELP_COMMAND,
      ]
      : undefined,
    flags: own.map(helpFlag),
    flagsTitle: isRoot ? "GLOBAL OPTIONS" : "OPTIONS",
    globalFlags: inherited.length ? inherited.map(helpFlag) : undefined,
    permissions: cmd.permissions,
    notes: hasSubs && !cmd.action
      ? [`Run '${pathName(path)} <command> --help' for help on a command.`]
      : [`Flags may also follow the arguments; "--" ends flag parsing.`],
  };
  return renderHelp(topic);
}
