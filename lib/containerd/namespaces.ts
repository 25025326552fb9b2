/**
 * containerd's Namespaces service: does a namespace exist, which ones do.
 * Used to tell "no such image" from "no such namespace".
 *
 * @module
 */
import type { ContainerdClient } from "./client.ts";

/**
 * What a namespace that does not exist is told with: `containerd namespace
 * <ns> does not exist (set --namespace or CONTAINERD_NAMESPACE)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { namespaceMissing } from "./namespaces.ts";
 * assert.equal(
 *   namespaceMissing("ci"),
 *   "containerd namespace ci does not exist (set --namespace or CONTAINERD_NAMESPACE)",
 * );
 * ```
 */
export function namespaceMissing(namespace: string): string {
  return `containerd namespace ${namespace} does not exist (set --namespace or CONTAINERD_NAMESPACE)`;
}

interface NamespaceMessage {
  name: string;
  labels: Record<string, string>;
}

/**
 * The namespaces of a containerd daemon.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ContainerdClient } from "./client.ts";
 * import { ContainerdNamespaces } from "./namespaces.ts";
 * const client = new ContainerdClient({ address: "/nonexistent/containerd.sock" });
 * const namespaces = new ContainerdNamespaces(client);
 * await assert.rejects(namespaces.list(), /does not exist: is containerd running/);
 * client.close();
 * ```
 */
export class ContainerdNamespaces {
  readonly #client: ContainerdClient;

  /** Namespaces seen through `client` (its own namespace does not matter here). */
  constructor(client: ContainerdClient) {
    this.#client = client;
  }

  /** The names of every namespace. */
  async list(): Promise<string[]> {
    const res = await this.#client.unary<{ namespaces: NamespaceMessage[] }>(
      "namespaces",
      "List",
      { filter: "" },
    );
    return res.namespaces.map((n) => n.name).sort();
  }

  /**
   * A namespace's labels. containerd answers this for any name, even one
   * that does not exist (then with no labels): use {@link exists} to ask.
   */
  async labels(name: string): Promise<Record<string, string>> {
    const res = await this.#client.unary<{ namespace: NamespaceMessage }>(
      "namespaces",
      "Get",
      { name },
      { what: `namespace ${name}` },
    );
    return { ...res.namespace.labels };
  }

  /** True when the namespace exists (containerd makes one on the first write into it). */
  async exists(name: string): Promise<boolean> {
    return (await this.list()).includes(name);
  }
}
