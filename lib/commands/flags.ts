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
  type: "size",
  default: DEFAULT_SPAN_SIZE,
  usage: "span size in bytes (or 4MiB, 512KiB…): a checkpoint after at least this many bytes",
};

/** `--min-layer-size` (default 10 MiB). */
export const minLayerSizeFlag: FlagSpec = {
  name: "min-layer-size",
  type: "size",
  default: DEFAULT_MIN_LAYER_SIZE,
  usage: "layers smaller than this (bytes, or 10MiB…) get no zTOC",
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
  usage: "talk to the registry over plain HTTP",
};

/**
 * Upstream's registry flags that we accept but cannot honour, and what to
 * do instead (upstream declares them and ignores them).
 */
const UNHONOURED: Record<string, string> = {
  "skip-verify": "Deno cannot skip TLS verification for one request: trust the registry's CA " +
    "with --tlscacert FILE (or DENO_CERT=FILE)",
  "refresh": "tokens are refreshed as the registry asks",
  "hosts-dir": "containerd's hosts.toml is not read: use --plain-http, --tlscacert, --user",
  "snapshotter": "it has no effect on pushing SOCI indexes",
};

/** The registry flags of commands that reach registries (upstream's, C§3). */
export const registryFlags: FlagSpec[] = [
  userFlag,
  plainHttpFlag,
  {
    name: "tlscacert",
    type: "string",
    usage: "also trust this CA certificate (PEM file) for the registry",
    placeholder: "file",
  },
  {
    name: "tlscert",
    type: "string",
    usage: "client certificate (PEM file) for registries that ask for one",
    placeholder: "file",
  },
  {
    name: "tlskey",
    type: "string",
    usage: "key (PEM file) of --tlscert",
    placeholder: "file",
  },
  { name: "http-dump", type: "bool", usage: "print HTTP trace lines (stderr)", hidden: true },
  { name: "http-trace", type: "bool", usage: "print HTTP trace lines (stderr)", hidden: true },
  {
    name: "skip-verify",
    aliases: ["k"],
    type: "bool",
    usage: "not supported (see --tlscacert)",
    hidden: true,
  },
  { name: "refresh", type: "string", usage: "not supported", hidden: true },
  { name: "hosts-dir", type: "string", usage: "not supported", hidden: true },
  {
    name: "snapshotter",
    type: "string",
    env: "CONTAINERD_SNAPSHOTTER",
    usage: "not used",
    hidden: true,
  },
];

/**
 * The platforms of `--platform` (parsed containerd-style), `"all"` for
 * `--all-platforms`, or undefined for the default.
 */
export function platformFlags(ctx: CommandContext): Platform[] | "all" | undefined {
  if (ctx.flags["all-platforms"] === true) return "all";
  const list = ctx.strings("platform");
  return list.length > 0 ? list.map(parsePlatform) : undefined;
}

/**
 * Registry options from the registry flags and the global `--timeout` and
 * `--debug`. Upstream flags we cannot honour get one warning line each.
 */
export async function registryOptions(
  ctx: CommandContext,
): Promise<NonNullable<OpenImageOptions["registry"]>> {
  const timeout = ctx.flags.timeout as bigint | undefined;
  for (const [name, instead] of Object.entries(UNHONOURED)) {
    if (name in ctx.flags && ctx.isSet(name) && name !== "snapshotter") {
      ctx.out.warn(`warning: --${name} is not supported: ${instead}`);
    }
  }
  /** The PEM text of a file flag, which must hold a `-----BEGIN <label>` block. */
  const file = async (flag: string, label: RegExp, what: string) => {
    const path = ctx.flags[flag] as string | undefined;
    if (!path) return undefined;
    let text;
    try {
      text = await Deno.readTextFile(path);
    } catch (e) {
      throw new BadInputError(`--${flag} ${path}: ${(e as Error).message}`);
    }
    // (Deno would take a CA file without one and trust nothing more)
    if (!new RegExp(`^-----BEGIN ${label.source}-----\r?$`, "m").test(text)) {
      throw new BadInputError(`--${flag} ${path}: not a PEM file with ${what}`);
    }
    return text;
  };
  const ca = await file("tlscacert", /CERTIFICATE/, "a certificate");
  const cert = await file("tlscert", /CERTIFICATE/, "a certificate");
  const key = await file("tlskey", /(?:RSA |EC )?PRIVATE KEY/, "an unencrypted private key");
  if ((cert === undefined) !== (key === undefined)) {
    throw new BadInputError("--tlscert and --tlskey go together");
  }
  const trace = ctx.flags.debug === true || ctx.flags["http-dump"] === true ||
    ctx.flags["http-trace"] === true;
  return {
    user: (ctx.flags.user as string | undefined) || undefined,
    plainHttp: ctx.flags["plain-http"] === true,
    caCerts: ca ? [ca] : undefined,
    clientCert: cert && key ? { cert, key } : undefined,
    timeoutMs: timeout ? Number(timeout / 1_000_000n) : undefined,
    // Trace lines go to stderr: stdout stays what --json and -q promise.
    debug: trace ? (line: string) => ctx.out.warn(line) : undefined,
  };
}
