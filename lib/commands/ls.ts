/**
 * `soci ls [flags] <image> [path]`: the merged file tree of an image (upper
 * layers win; whiteouts and opaque directories applied as the OCI image
 * spec says), read from its zTOCs: type and mode, owner, size, time, path
 * and link target; `--json` for scripts.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { FileInfo } from "../use_cases/read_files.ts";
import type { Command } from "./command.ts";
import { jsonFlag } from "./flags.ts";
import { openImageFiles, printStats, readFlags, readPermissions } from "./read_flags.ts";

const TYPE_CHAR: Record<string, string> = {
  reg: "-",
  dir: "d",
  symlink: "l",
  hardlink: "h",
  char: "c",
  block: "b",
  fifo: "p",
};

/**
 * `ls -l`-style mode text: the type letter (`h` for a hard link, as
 * `tar -tv` shows it), then `rwx` triplets with setuid, setgid and sticky.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { modeText } from "./ls.ts";
 * assert.equal(modeText("dir", 0o755), "drwxr-xr-x");
 * assert.equal(modeText("reg", 0o4755), "-rwsr-xr-x");
 * assert.equal(modeText("dir", 0o1777), "drwxrwxrwt");
 * ```
 */
export function modeText(type: string, mode: number): string {
  const bits = "rwxrwxrwx".split("").map((c, i) => (mode & (0o400 >> i)) ? c : "-");
  const special = (i: number, flag: number, on: string, off: string) => {
    if (mode & flag) bits[i] = bits[i] === "-" ? off : on;
  };
  special(2, 0o4000, "s", "S");
  special(5, 0o2000, "s", "S");
  special(8, 0o1000, "t", "T");
  return (TYPE_CHAR[type] ?? "?") + bits.join("");
}

/** One `ls` line per file, columns aligned. */
function lines(files: FileInfo[]): string[] {
  const modes = new Map<string, string>(); // few distinct type and mode pairs
  const rows = files.map((f) => {
    const key = `${f.type} ${f.mode}`;
    let mode = modes.get(key);
    if (mode === undefined) modes.set(key, mode = modeText(f.type, f.mode));
    let name = f.path;
    if (f.type === "symlink") name += ` -> ${f.linkname}`;
    else if (f.type === "hardlink") name += ` link to ${f.linkname}`;
    const size = f.type === "char" || f.type === "block"
      ? `${f.devmajor},${f.devminor}`
      : String(f.size);
    return [
      mode,
      `${f.uname || f.uid}/${f.gname || f.gid}`,
      size,
      f.modTime,
      name,
    ];
  });
  const width = [0, 1, 2, 3].map((c) => Math.max(0, ...rows.map((r) => r[c].length)));
  return rows.map((r) =>
    [r[0], r[1].padEnd(width[1]), r[2].padStart(width[2]), r[3].padEnd(width[3]), r[4]].join(" ")
  );
}

/** The `ls` command. */
export const lsCommand: Command = {
  name: "ls",
  usage: "list the files of an image (its merged tree), read from its SOCI index",
  argsUsage: "<image> [path]",
  description: "Lists the image's files as its layers make them together (upper layers win, " +
    "whiteouts and opaque directories applied), with PATH only that entry and what is under " +
    "it. The TOCs come from the zTOCs of the image's SOCI index (found as for cat); a layer " +
    "without a zTOC is read in full. Nothing is written anywhere.",
  flags: [...readFlags, { ...jsonFlag, usage: "print a JSON array of the entries" }],
  needsRoot: false,
  permissions: readPermissions(false),
  async action(ctx) {
    if (ctx.args.length < 1 || ctx.args.length > 2) {
      throw new UsageError("please provide an image (and optionally a path)");
    }
    const [image, path] = ctx.args;
    await using opened = await openImageFiles(ctx, image, "reading every layer in full");
    const list = await opened.files.list(path);
    if (ctx.bool("json")) ctx.out.json(list);
    else ctx.out.printLines(lines(list));
    if (opened.stats) printStats(ctx, opened.stats, opened.files.layers.length);
  },
};
