/**
 * The flags and settings of a command that say which store and which
 * containerd to use (`--content-store`, `--address`, `--namespace`,
 * `--direct-read`): cheap to load, for the command table; the store itself
 * is opened by `./open_store.ts`, which re-exports these.
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import { DEFAULT_ADDRESS, DEFAULT_NAMESPACE } from "../containerd/client.ts";
import type { ContainerdSourceOptions } from "../image/containerd_source.ts";
import type { CommandContext, FlagSpec } from "./command.ts";

/** The `--content-store` values. */
export const CONTENT_STORES = ["soci", "containerd"] as const;

/** A flag's string value, `""` when the command does not have it (tests that build contexts). */
export function flag(ctx: CommandContext, name: string): string {
  const v = ctx.flags[name];
  return typeof v === "string" ? v : "";
}

/**
 * The `--content-store` of the command: `soci` (also when empty or not a
 * flag of the command) or `containerd`; anything else is upstream's
 * `unknown content store type: <x>; must be one of [soci containerd]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { contentStoreOf } from "./store_flags.ts";
 * import { createContext } from "./command.ts";
 * import { MemoryOutput } from "../ui/output.ts";
 * const ctx = (v: string) =>
 *   createContext({ args: [], flags: { "content-store": v }, out: new MemoryOutput() });
 * assert.equal(contentStoreOf(ctx("")), "soci");
 * assert.equal(contentStoreOf(ctx("containerd")), "containerd");
 * assert.throws(() => contentStoreOf(ctx("local")),
 *   /^BadInputError: unknown content store type: local; must be one of \[soci containerd\]$/);
 * ```
 */
export function contentStoreOf(ctx: CommandContext): "soci" | "containerd" {
  const v = flag(ctx, "content-store");
  if (v === "" || v === "soci") return "soci";
  if (v === "containerd") return "containerd";
  throw new BadInputError(
    `unknown content store type: ${v}; must be one of [${CONTENT_STORES.join(" ")}]`,
  );
}

/**
 * `--direct-read` (`create`): read the layers of an image in containerd
 * from the blob files of containerd's content store (found with
 * containerd's Introspection service) instead of streaming them through
 * its API — cheaper in CPU (see `tasks/bench_containerd.ts`). It needs
 * `--allow-read=<containerd root>/io.containerd.content.v1.content` (e.g.
 * `/var/lib/containerd/io.containerd.content.v1.content`) and the system's
 * leave to read those files; without them (checked without a prompt) the
 * layers are read through the API. On by default (every command that reads
 * layers from containerd); `--direct-read=false` always uses the API. The
 * bytes are the same either way: each layer's digest is checked as it is
 * read.
 */
export const directReadFlag: FlagSpec = {
  name: "direct-read",
  type: "bool",
  default: true,
  usage: "read containerd's layers from its content store's files when Deno may " +
    "(--allow-read on that folder), else through its API; =false: always the API",
};

/**
 * The containerd client settings of the command: `--address` (a `unix://`
 * prefix is fine), `--namespace`, `--timeout` as the deadline of each call,
 * `--debug` for grpc-js's own log lines, and direct reads of layer files
 * unless `--direct-read=false`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { containerdOptions } from "./store_flags.ts";
 * import { createContext } from "./command.ts";
 * import { MemoryOutput } from "../ui/output.ts";
 * const ctx = createContext({ args: [], flags: { namespace: "ci" }, out: new MemoryOutput() });
 * assert.deepEqual(containerdOptions(ctx), {
 *   address: "/run/containerd/containerd.sock", namespace: "ci", timeoutMs: undefined, debug: false,
 *   directRead: true,
 * });
 * ```
 */
export function containerdOptions(ctx: CommandContext): ContainerdSourceOptions {
  const timeout = ctx.flags.timeout;
  const options: ContainerdSourceOptions = {
    address: flag(ctx, "address") || DEFAULT_ADDRESS,
    namespace: flag(ctx, "namespace") || DEFAULT_NAMESPACE,
    timeoutMs: typeof timeout === "bigint" && timeout > 0n
      ? Math.max(1, Number(timeout / 1_000_000n))
      : undefined,
    debug: ctx.flags.debug === true,
  };
  options.directRead = ctx.flags[directReadFlag.name] !== false;
  return options;
}
