/**
 * The prefetch flags of `create` and `convert` (`soci-cli.md` §3,
 * experimental upstream): `--prefetch-file` (repeatable) and
 * `--prefetch-files-json` (a JSON array of paths), read with upstream's
 * rules and messages.
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import { parseJson } from "../go/json_parse.ts";
import type { CommandContext, FlagSpec } from "./command.ts";

/** `--prefetch-file` (repeatable; a value is also split at `,`). */
export const prefetchFileFlag: FlagSpec = {
  name: "prefetch-file",
  type: "strings",
  usage: "file to prefetch (repeatable; experimental)",
  placeholder: "path",
};

/** `--prefetch-files-json`. */
export const prefetchFilesJsonFlag: FlagSpec = {
  name: "prefetch-files-json",
  type: "string",
  usage: "JSON file holding an array of files to prefetch (experimental)",
  placeholder: "file",
};

/** Both prefetch flags. */
export const prefetchFlags: FlagSpec[] = [prefetchFileFlag, prefetchFilesJsonFlag];

const PREFIX = "failed to parse prefetch files: failed to load prefetch files from JSON";

/** Go's `os.ReadFile` error text for common failures. */
function readError(path: string, e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return `open ${path}: no such file or directory`;
  if (e instanceof Deno.errors.PermissionDenied) return `open ${path}: permission denied`;
  if (e instanceof Deno.errors.IsADirectory) return `read ${path}: is a directory`;
  return (e as Error).message;
}

function kindOf(v: unknown): string {
  if (typeof v === "boolean") return "bool";
  if (typeof v === "string") return "string";
  if (Array.isArray(v)) return "array";
  if (v !== null && typeof v === "object" && "text" in v) return "number";
  return "object";
}

/**
 * The paths of a `--prefetch-files-json` file: a JSON array of strings
 * (Go's decoding: `null` is none, `null` elements are empty), each
 * trimmed, empty ones dropped. Errors: `failed to parse prefetch files:
 * failed to load prefetch files from JSON: failed to read JSON file: <err>`
 * or `…: failed to parse JSON: <err>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readPrefetchJson } from "./prefetch_flags.ts";
 * const f = await Deno.makeTempFile();
 * await Deno.writeTextFile(f, '[" /etc/a ", "", null, "b"]');
 * assert.deepEqual(await readPrefetchJson(f), ["/etc/a", "b"]);
 * await Deno.writeTextFile(f, '{"a":1}');
 * await assert.rejects(readPrefetchJson(f), /failed to parse JSON: json: cannot unmarshal object/);
 * await Deno.remove(f);
 * ```
 */
export async function readPrefetchJson(path: string): Promise<string[]> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new BadInputError(`${PREFIX}: failed to read JSON file: ${readError(path, e)}`);
  }
  const value = parseJson(bytes, `${PREFIX}: failed to parse JSON`);
  if (value === null) return [];
  const fail = (what: string, type: string) =>
    new BadInputError(
      `${PREFIX}: failed to parse JSON: json: cannot unmarshal ${what} into Go value of type ${type}`,
    );
  if (!Array.isArray(value)) throw fail(kindOf(value), "[]string");
  const out: string[] = [];
  for (const v of value) {
    if (v === null) continue;
    if (typeof v !== "string") throw fail(kindOf(v), "string");
    const t = v.trim();
    if (t !== "") out.push(t);
  }
  return out;
}

/**
 * The prefetch paths of a command: `--prefetch-file` values (trimmed,
 * empty ones dropped), then those of `--prefetch-files-json`.
 */
export async function prefetchPaths(ctx: CommandContext): Promise<string[]> {
  const paths = ctx.strings("prefetch-file").map((p) => p.trim()).filter((p) => p !== "");
  const json = ctx.string("prefetch-files-json");
  if (json !== "") paths.push(...await readPrefetchJson(json));
  return paths;
}
