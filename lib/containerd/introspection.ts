/**
 * containerd's Introspection service: which plugins run and what they
 * export. Used to find the content store's folder on disk
 * (`io.containerd.content.v1.content`, export `root`), for a source that
 * reads blob files directly when it may.
 *
 * @module
 */
import type { ContainerdClient } from "./client.ts";

/** A plugin as containerd describes it. */
export interface PluginInfo {
  /** The plugin type, e.g. `io.containerd.content.v1`. */
  type: string;
  /** The plugin id, e.g. `content`. */
  id: string;
  /** What the plugin exports, e.g. `root` (its folder). */
  exports: Record<string, string>;
}

/**
 * The plugins matching any of `filters` (containerd filter syntax, e.g.
 * `type==io.containerd.content.v1`; none: all).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ContainerdClient } from "./client.ts";
 * import { listPlugins } from "./introspection.ts";
 * const client = new ContainerdClient({ address: "/nonexistent/containerd.sock" });
 * await assert.rejects(listPlugins(client), /is containerd running/);
 * client.close();
 * ```
 */
export async function listPlugins(
  client: ContainerdClient,
  filters: string[] = [],
): Promise<PluginInfo[]> {
  const res = await client.unary<{ plugins: PluginInfo[] }>("introspection", "Plugins", {
    filters,
  });
  return res.plugins.map((p) => ({ type: p.type, id: p.id, exports: { ...p.exports } }));
}

/**
 * The folder of containerd's content store (blobs under
 * `blobs/<alg>/<hex>`), as the content plugin exports it; `undefined` when
 * the daemon does not say.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ContainerdClient } from "./client.ts";
 * import { contentStoreRoot } from "./introspection.ts";
 * const client = new ContainerdClient({ address: "/nonexistent/containerd.sock" });
 * await assert.rejects(contentStoreRoot(client), /is containerd running/);
 * client.close();
 * ```
 */
export async function contentStoreRoot(client: ContainerdClient): Promise<string | undefined> {
  const plugins = await listPlugins(client, ["type==io.containerd.content.v1,id==content"]);
  return plugins.find((p) => p.exports.root)?.exports.root;
}
