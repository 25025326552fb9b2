/**
 * containerd leases: while a lease exists, the content (and ingests) made
 * under it are kept from garbage collection. Every lease made here carries
 * `containerd.io/gc.expire`, so a process killed before it deletes its lease
 * (SIGKILL) leaves nothing that containerd's GC does not collect once the
 * lease has expired. {@link withLease} runs a function inside a lease that is
 * always deleted afterwards, also on error.
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import type { ContainerdClient } from "./client.ts";
import { type TimestampMessage, toDate } from "./wire.ts";

/** The lease label that makes containerd's GC drop the lease after this RFC 3339 time. */
export const GC_EXPIRE_LABEL = "containerd.io/gc.expire";
/** How long a lease lives when nobody deletes it (upstream's client uses 24 h too). */
export const DEFAULT_LEASE_EXPIRY_MS = 24 * 60 * 60 * 1000;

/** A lease as containerd reports it. */
export interface LeaseInfo {
  /** The lease id (the `containerd-lease` metadata value). */
  id: string;
  /** Its labels, `containerd.io/gc.expire` among them. */
  labels: Record<string, string>;
  /** When it was made. */
  createdAt?: Date;
}

/** A resource held by a lease: `content` (id = digest), `ingests`, `snapshots/<name>`. */
export interface LeaseResource {
  /** The resource id: a digest for content, an ingest ref, a snapshot key. */
  id: string;
  /** The resource type, e.g. `content`. */
  type: string;
}

/** Options of {@link ContainerdLeases.create} and {@link withLease}. */
export interface CreateLeaseOptions {
  /** The lease id (default: a fresh unique id). */
  id?: string;
  /** Milliseconds until containerd may drop the lease (default {@link DEFAULT_LEASE_EXPIRY_MS}). */
  expireAfterMs?: number;
  /** More labels. */
  labels?: Record<string, string>;
}

interface LeaseMessage {
  id: string;
  created_at: TimestampMessage | null;
  labels: Record<string, string>;
}

function toLease(m: LeaseMessage): LeaseInfo {
  const lease: LeaseInfo = { id: m.id, labels: { ...m.labels } };
  const created = toDate(m.created_at);
  if (created) lease.createdAt = created;
  return lease;
}

/**
 * A fresh lease id: `soci-deno-<time>-<random>` (containerd's identifier
 * rules: letters, digits, `.`, `_`, `-`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { newLeaseId } from "./leases.ts";
 * assert.match(newLeaseId(), /^soci-deno-[a-z0-9]+-[0-9a-f]{8}$/);
 * assert.notEqual(newLeaseId(), newLeaseId());
 * ```
 */
export function newLeaseId(): string {
  const rnd = crypto.getRandomValues(new Uint32Array(1))[0].toString(16).padStart(8, "0");
  return `soci-deno-${Date.now().toString(36)}-${rnd}`;
}

/**
 * The `containerd.io/gc.expire` value for a lease that expires `ms` from
 * `now` (RFC 3339, UTC, whole seconds).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { expiryLabel } from "./leases.ts";
 * assert.equal(expiryLabel(1500, new Date(0)), "1970-01-01T00:00:01Z");
 * ```
 */
export function expiryLabel(ms: number, now: Date = new Date()): string {
  return new Date(Math.floor((now.getTime() + ms) / 1000) * 1000).toISOString()
    .replace(".000Z", "Z");
}

/**
 * The Leases service of the client's namespace.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ContainerdClient } from "./client.ts";
 * import { ContainerdLeases } from "./leases.ts";
 * const client = new ContainerdClient({ address: "/nonexistent/containerd.sock" });
 * await assert.rejects(new ContainerdLeases(client).list(), /is containerd running/);
 * client.close();
 * ```
 */
export class ContainerdLeases {
  readonly #client: ContainerdClient;

  /** Leases of `client`'s namespace. */
  constructor(client: ContainerdClient) {
    this.#client = client;
  }

  /** Makes a lease that expires after `expireAfterMs` (default 24 h). */
  async create(options: CreateLeaseOptions = {}): Promise<LeaseInfo> {
    const ms = options.expireAfterMs ?? DEFAULT_LEASE_EXPIRY_MS;
    if (!(ms > 0)) throw new BadInputError(`lease expiry must be positive, got ${ms} ms`);
    const labels = { ...(options.labels ?? {}), [GC_EXPIRE_LABEL]: expiryLabel(ms) };
    const res = await this.#client.unary<{ lease: LeaseMessage }>("leases", "Create", {
      id: options.id ?? newLeaseId(),
      labels,
    });
    return toLease(res.lease);
  }

  /**
   * Deletes a lease. With `sync`, containerd collects garbage before
   * answering (what the lease held and nothing else references is gone
   * then). A missing lease is a `NotFoundError`.
   */
  async delete(id: string, options: { sync?: boolean } = {}): Promise<void> {
    await this.#client.unary(
      "leases",
      "Delete",
      { id, sync: options.sync ?? false },
      { what: `lease ${id}` },
    );
  }

  /** Leases matching any of `filters` (containerd filter syntax; none: all). */
  async list(filters: string[] = []): Promise<LeaseInfo[]> {
    const res = await this.#client.unary<{ leases: LeaseMessage[] }>("leases", "List", {
      filters,
    });
    return res.leases.map(toLease);
  }

  /** Adds a resource (e.g. an existing blob: `{ id: digest, type: "content" }`) to a lease. */
  async addResource(id: string, resource: LeaseResource): Promise<void> {
    await this.#client.unary("leases", "AddResource", { id, resource }, { what: `lease ${id}` });
  }

  /** Removes a resource from a lease. */
  async deleteResource(id: string, resource: LeaseResource): Promise<void> {
    await this.#client.unary("leases", "DeleteResource", { id, resource }, {
      what: `lease ${id}`,
    });
  }

  /** The resources a lease holds. */
  async listResources(id: string): Promise<LeaseResource[]> {
    const res = await this.#client.unary<{ resources: LeaseResource[] }>(
      "leases",
      "ListResources",
      { id },
      { what: `lease ${id}` },
    );
    return res.resources.map((r) => ({ id: r.id, type: r.type }));
  }
}

/**
 * Runs `fn` inside a fresh lease and deletes the lease afterwards, whether
 * `fn` succeeds or throws (a failure to delete it is ignored: the lease
 * expires anyway). `fn` gets a view of `client` whose writes are made in the
 * lease. Content written in the lease must be referenced (labels, an image
 * record) before `fn` returns, or containerd's GC collects it once the lease
 * is gone.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ContainerdClient } from "./client.ts";
 * import { withLease } from "./leases.ts";
 * const client = new ContainerdClient({ address: "/nonexistent/containerd.sock" });
 * let ran = false;
 * await assert.rejects(withLease(client, async () => { ran = true; }), /is containerd running/);
 * assert.equal(ran, false);
 * client.close();
 * ```
 */
export async function withLease<T>(
  client: ContainerdClient,
  fn: (leased: ContainerdClient, lease: LeaseInfo) => Promise<T>,
  options: CreateLeaseOptions & { sync?: boolean } = {},
): Promise<T> {
  const leases = new ContainerdLeases(client);
  const lease = await leases.create(options);
  try {
    return await fn(client.withLease(lease.id), lease);
  } finally {
    await leases.delete(lease.id, { sync: options.sync }).catch(() => {});
  }
}
