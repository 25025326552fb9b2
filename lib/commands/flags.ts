/**
 * Flag definitions shared by several commands, with upstream's names,
 * defaults and validation messages (`soci-cli.md` §3).
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import { DEFAULT_MIN_LAYER_SIZE, DEFAULT_SPAN_SIZE } from "../oci/media_types.ts";
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
