/**
 * Help screens in urfave/cli style (`NAME:`, `USAGE:`, `COMMANDS:`,
 * `OPTIONS:` …), built from a plain description so this file does not depend
 * on the command framework.
 *
 * @module
 */
import { TabWriter } from "./table.ts";

/** One flag line of a help screen. */
export interface HelpFlag {
  /** Names without dashes, the main one first (`["quiet", "q"]`). */
  names: string[];
  /** Placeholder after each name for flags that take a value (`value`). */
  placeholder?: string;
  /** One-line description. */
  usage: string;
  /** Default shown as `(default: <text>)`, when given. */
  defaultText?: string;
  /** Environment variable read when the flag is not given. */
  env?: string;
}

/** One command line of a help screen. */
export interface HelpCommand {
  /** Name and aliases (`["list", "ls"]`). */
  names: string[];
  /** One-line description. */
  usage: string;
}

/** Everything a help screen shows. */
export interface HelpTopic {
  /** Full command path (`soci index list`). */
  path: string;
  /** One-line description. */
  usage?: string;
  /** The usage line (`soci index list [options] [arguments...]`). */
  usageLine: string;
  /** Shown in a `VERSION:` section (root only). */
  version?: string;
  /** Longer text, may span lines. */
  description?: string;
  /** Subcommands. */
  commands?: HelpCommand[];
  /** The command's own flags. */
  flags?: HelpFlag[];
  /** Title of the `flags` section (default `OPTIONS`; the root uses `GLOBAL OPTIONS`). */
  flagsTitle?: string;
  /** Flags inherited from parent commands (`GLOBAL OPTIONS:`). */
  globalFlags?: HelpFlag[];
  /** The least Deno permissions of the command, one line per case. */
  permissions?: string[];
  /** Closing paragraphs. */
  notes?: string[];
}

/** `--name value, -n value` as urfave/cli prints flag names. */
function flagNames(f: HelpFlag): string {
  return f.names
    .map((n) => (n.length === 1 ? "-" : "--") + n + (f.placeholder ? " " + f.placeholder : ""))
    .join(", ");
}

function flagLine(f: HelpFlag): string {
  let text = f.usage;
  if (f.defaultText !== undefined) text += ` (default: ${f.defaultText})`;
  if (f.env) text += ` [$${f.env}]`;
  return `   ${flagNames(f)}\t${text}\n`;
}

function indent(text: string): string {
  return text.split("\n").map((l) => (l === "" ? "" : "   " + l)).join("\n");
}

/**
 * Renders a help screen; flag and command columns are aligned with a
 * tabwriter (min width 1, padding 3), each section on its own.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderHelp } from "./help.ts";
 * const text = renderHelp({
 *   path: "soci ztoc info",
 *   usage: "show a zTOC",
 *   usageLine: "soci ztoc info [options] <digest>",
 *   flags: [{ names: ["json"], usage: "print JSON" }],
 * });
 * assert.ok(text.startsWith("NAME:\n   soci ztoc info - show a zTOC\n"));
 * assert.ok(text.includes("OPTIONS:\n   --json   print JSON\n"));
 * ```
 */
export function renderHelp(topic: HelpTopic): string {
  const w = new TabWriter({ minWidth: 1, tabWidth: 8, padding: 3 });
  w.write(`NAME:\n   ${topic.path}${topic.usage ? " - " + topic.usage : ""}\n\n`);
  w.write(`USAGE:\n   ${topic.usageLine}\n`);
  if (topic.version) w.write(`\nVERSION:\n   ${topic.version}\n`);
  if (topic.description) w.write(`\nDESCRIPTION:\n${indent(topic.description)}\n`);
  if (topic.commands?.length) {
    w.write("\nCOMMANDS:\n");
    for (const c of topic.commands) w.write(`   ${c.names.join(", ")}\t${c.usage}\n`);
  }
  if (topic.flags?.length) {
    w.write(`\n${topic.flagsTitle ?? "OPTIONS"}:\n`);
    for (const f of topic.flags) w.write(flagLine(f));
  }
  if (topic.globalFlags?.length) {
    w.write("\nGLOBAL OPTIONS:\n");
    for (const f of topic.globalFlags) w.write(flagLine(f));
  }
  if (topic.permissions?.length) {
    w.write(`\nPERMISSIONS:\n${topic.permissions.map(indent).join("\n")}\n`);
  }
  for (const note of topic.notes ?? []) w.write(`\n${note}\n`);
  return w.flush();
}
