/**
 * Flag definitions shared by several commands, with upstream's names,
 * defaults and validation messages (`soci-cli.md` §3).
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import { DEFAULT_MIN_LAYER_SIZE, DEFAULT_SPAN_SIZE } from "../oci/media_types.ts";
import type { OpenImageOptions } from "../image/open.ts";
import type { Platform } from "../oci/descriptor.ts";
import { parsePlatform } from "../oci/platform.ts";
import type { CommandContext, FlagSpec } from "./command.ts";

/** `--span-size` (default 4 MiB). */
export const spanSizeFlag: FlagSpec = {
  name: "span-size",
  type: "int64",
  default: DEFAULT_SPAN_SIZE,
  usage: "span size in bytes: a checkpoint is placed after at least this many bytes",
};

/** `--min-layer-size` (default 10 MiB). */
export const minLayerSizeFlag: FlagSpec = {
  name: "min-layer-size",
  type: "int64",
  default: DEFAULT_MIN_LAYER_SIZE,
  usage: "layers smaller than this many bytes get no zTOC",
};

/** `--json`. */
export const jsonFlag: FlagSpec = {
  name: "json",
  type: "bool",
  usage: "print JSON for scripts",
};

/** `--quiet`/`-q`. */
export const quietFlag: FlagSpec = {
  name: "quiet",
  aliases: ["q"],
  type: "bool",
  usage: "print only digests",
};

/** `--output`/`-o`. */
export const outputFlag: FlagSpec = {
  name: "output",
  aliases: ["o"],
  type: "string",
  usage: "write to this file (- for stdout)",
  placeholder: "file",
};

/**
 * The span size and minimum layer size, validated with upstream's messages
 * (the min-layer-size error wins when both are negative).
 */
export function sizeFlags(ctx: CommandContext): { spanSize: number; minLayerSize: number } {
  const min = ctx.flags["min-layer-size"] as bigint | undefined;
  const span = ctx.int("span-size");
  if (min !== undefined && min < 0n) throw new BadInputError("min layer size must be >= 0");
  if (span < 0n) throw new BadInputError("span size must be >= 0");
  if (span > BigInt(Number.MAX_SAFE_INTEGER)) throw new BadInputError("span size is too large");
  return { spanSize: Number(span), minLayerSize: Number(min ?? 0n) };
}

/** `--platform`/`-p` (repeatable, comma-separated). */
export const platformFlag: FlagSpec = {
  name: "platform",
  aliases: ["p"],
  type: "strings",
  usage: "platform to use, os/arch[/variant] (repeatable); default the host's",
  placeholder: "platform",
};

/** `--all-platforms`. */
export const allPlatformsFlag: FlagSpec = {
  name: "all-platforms",
  type: "bool",
  usage: "every platform the image lists (wins over --platform)",
};

/** `--user`/`-u` for registries. */
export const userFlag: FlagSpec = {
  name: "user",
  aliases: ["u"],
  type: "string",
  usage: "registry credentials USER[:PASSWORD] (else the Docker config and its helpers)",
  placeholder: "user[:password]",
};

/** `--plain-http` for registries. */
export const plainHttpFlag: FlagSpec = {
  name: "plain-http",
  type: "bool",
  usage: "talk to the registry over plain HTTP (TLS CA certificates: set DENO_CERT)",
};

/** The registry flags of commands that reach registries. */
export const registryFlags: FlagSpec[] = [userFlag, plainHttpFlag];

/**
 * The platforms of `--platform` (parsed containerd-style), `"all"` for
 * `--all-platforms`, or undefined for the default.
 */
export function platformFlags(ctx: CommandContext): Platform[] | "all" | undefined {
  if (ctx.flags["all-platforms"] === true) return "all";
  const list = ctx.strings("platform");
  return list.length > 0 ? list.map(parsePlatform) : undefined;
}

/** Registry options from the registry flags and the global `--timeout`/`--debug`. */
export function registryOptions(ctx: CommandContext): OpenImageOptions["registry"] {
  const timeout = ctx.flags.timeout as bigint | undefined;
  return {
    user: (ctx.flags.user as string | undefined) || undefined,
    plainHttp: ctx.flags["plain-http"] === true,
    timeoutMs: timeout ? Number(timeout / 1_000_000n) : undefined,
    // Trace lines go to stderr: stdout stays what --json and -q promise.
    debug: ctx.flags.debug === true ? (line: string) => ctx.out.warn(line) : undefined,
  };
}
