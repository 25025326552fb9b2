/**
 * containerd's image records (name → target descriptor + labels): get,
 * list, create, update, create-or-update, label changes and delete.
 *
 * A missing image is a `NotFoundError` that says whether the image or the
 * whole namespace is missing (`image "<name>": not found in containerd
 * namespace <ns>` or `containerd namespace <ns> does not exist`).
 *
 * @module
 */
import { NotFoundError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import type { ContainerdClient } from "./client.ts";
import { ContainerdError, grpcCode, GrpcStatus } from "./client.ts";
import { ContainerdNamespaces, namespaceMissing } from "./namespaces.ts";
import {
  type DescriptorMessage,
  fromDescriptorMessage,
  labelUpdate,
  type TimestampMessage,
  toDate,
  toDescriptorMessage,
} from "./wire.ts";

/** An image record in containerd. */
export interface ImageRecord {
  /** The full name, e.g. `docker.io/library/app:1`. */
  name: string;
  /** The manifest or index the name points at. */
  target: Descriptor;
  /** The record's labels (e.g. `containerd.io/gc.ref.content.soci-index`). */
  labels: Record<string, string>;
  /** When the record was made. */
  createdAt?: Date;
  /** When it last changed. */
  updatedAt?: Date;
}

interface ImageMessage {
  name: string;
  labels: Record<string, string>;
  target: DescriptorMessage | null;
  created_at: TimestampMessage | null;
  updated_at: TimestampMessage | null;
}

function toRecord(m: ImageMessage): ImageRecord {
  const rec: ImageRecord = {
    name: m.name,
    target: m.target ? fromDescriptorMessage(m.target) : { mediaType: "", digest: "", size: 0 },
    labels: { ...m.labels },
  };
  const created = toDate(m.created_at);
  const updated = toDate(m.updated_at);
  if (created) rec.createdAt = created;
  if (updated) rec.updatedAt = updated;
  return rec;
}

function toMessage(rec: { name: string; target: Descriptor; labels?: Record<string, string> }) {
  return {
    name: rec.name,
    labels: { ...(rec.labels ?? {}) },
    target: toDescriptorMessage(rec.target),
  };
}

/**
 * The image records of the client's namespace.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ContainerdClient } from "./client.ts";
 * import { ContainerdImages } from "./images.ts";
 * const client = new ContainerdClient({ address: "/nonexistent/containerd.sock" });
 * await assert.rejects(new ContainerdImages(client).get("docker.io/library/app:1"),
 *   /containerd socket \/nonexistent\/containerd.sock does not exist/);
 * client.close();
 * ```
 */
export class ContainerdImages {
  readonly #client: ContainerdClient;

  /** Images of `client`'s namespace. */
  constructor(client: ContainerdClient) {
    this.#client = client;
  }

  /**
   * The record named exactly `name` (no normalization here). Missing: a
   * `NotFoundError` naming the image and namespace, or saying the namespace
   * does not exist.
   */
  async get(name: string): Promise<ImageRecord> {
    try {
      const res = await this.#client.unary<{ image: ImageMessage }>("images", "Get", { name });
      return toRecord(res.image);
    } catch (e) {
      if (grpcCode(e) === GrpcStatus.NOT_FOUND) throw await this.#notFound(name, e);
      throw e;
    }
  }

  async #notFound(name: string, cause: unknown): Promise<NotFoundError> {
    const ns = this.#client.namespace;
    if (!(await new ContainerdNamespaces(this.#client).exists(ns))) {
      return new NotFoundError(namespaceMissing(ns), { cause });
    }
    return new NotFoundError(`image "${name}": not found in containerd namespace ${ns}`, {
      cause,
    });
  }

  /** Records matching any of `filters` (containerd filter syntax, e.g. `name==x`; none: all). */
  async list(filters: string[] = []): Promise<ImageRecord[]> {
    const res = await this.#client.unary<{ images: ImageMessage[] }>("images", "List", {
      filters,
    });
    return res.images.map(toRecord);
  }

  /** Makes a record; an existing name is a {@link ContainerdError} with code ALREADY_EXISTS. */
  async create(
    image: { name: string; target: Descriptor; labels?: Record<string, string> },
  ): Promise<ImageRecord> {
    try {
      const res = await this.#client.unary<{ image: ImageMessage }>("images", "Create", {
        image: toMessage(image),
      });
      return toRecord(res.image);
    } catch (e) {
      if (grpcCode(e) === GrpcStatus.ALREADY_EXISTS) {
        throw new ContainerdError(
          `image "${image.name}" already exists in containerd namespace ${this.#client.namespace}`,
          GrpcStatus.ALREADY_EXISTS,
          { cause: e },
        );
      }
      throw e;
    }
  }

  /**
   * Changes a record. `fields` are containerd's update paths (`target`,
   * `labels`, `labels.<key>`); without them, every field is replaced.
   */
  async update(
    image: { name: string; target?: Descriptor; labels?: Record<string, string> },
    fields?: string[],
  ): Promise<ImageRecord> {
    const message: Record<string, unknown> = {
      name: image.name,
      labels: { ...(image.labels ?? {}) },
    };
    if (image.target) message.target = toDescriptorMessage(image.target);
    const request: Record<string, unknown> = { image: message };
    if (fields) request.update_mask = { paths: fields };
    try {
      const res = await this.#client.unary<{ image: ImageMessage }>("images", "Update", request);
      return toRecord(res.image);
    } catch (e) {
      if (grpcCode(e) === GrpcStatus.NOT_FOUND) throw await this.#notFound(image.name, e);
      throw e;
    }
  }

  /**
   * Points `name` at `target`: creates the record, or when it exists,
   * moves its target and sets `labels` (other labels are kept).
   */
  async put(
    name: string,
    target: Descriptor,
    labels: Record<string, string> = {},
  ): Promise<ImageRecord> {
    try {
      return await this.create({ name, target, labels });
    } catch (e) {
      if (grpcCode(e) !== GrpcStatus.ALREADY_EXISTS) throw e;
    }
    const fields = ["target", ...Object.keys(labels).map((k) => `labels.${k}`)];
    return await this.update({ name, target, labels }, fields);
  }

  /** Sets (string) or removes (`null`) labels of a record; other labels are kept. */
  async updateLabels(name: string, changes: Record<string, string | null>): Promise<ImageRecord> {
    const { labels, paths } = labelUpdate(changes);
    if (paths.length === 0) return await this.get(name);
    return await this.update({ name, labels }, paths);
  }

  /**
   * Deletes a record (its content is left to containerd's GC; with `sync`,
   * the GC runs before the answer).
   */
  async delete(name: string, options: { sync?: boolean } = {}): Promise<void> {
    try {
      await this.#client.unary("images", "Delete", { name, sync: options.sync ?? false });
    } catch (e) {
      if (grpcCode(e) === GrpcStatus.NOT_FOUND) throw await this.#notFound(name, e);
      throw e;
    }
  }
}
