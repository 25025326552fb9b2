/**
 * Listing the referrers of a manifest (`soci-format.md` §11.2): the OCI
 * 1.1 referrers API, else the index at the `<alg>-<hex>` fallback tag.
 * Whether the registry has the API is learned once and remembered.
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import type { Descriptor, ImageIndex } from "../oci/descriptor.ts";
import { digestHex, parseDigest } from "../oci/digest.ts";
import { decodeIndex } from "../oci/json_decode.ts";
import { OCI_INDEX } from "../oci/media_types.ts";
import { repositoryScope } from "./auth.ts";
import { parseErrorBody } from "./http_errors.ts";
import { baseType, digestOf, MANIFEST_ACCEPT, MAX_MANIFEST_BYTES } from "./manifests.ts";
import type { SignalOptions, Transport } from "./transport.ts";

/** Result of a referrers listing. */
export interface ReferrersListing {
  /** Referrer descriptors, filtered by artifact type when one was asked for. */
  manifests: Descriptor[];
  /** `api` = the referrers API answered; `tag` = the `sha256-<hex>` fallback tag. */
  via: "api" | "tag";
}

/** Whether the registry has the referrers API, as learned so far. */
export type ReferrersSupport = "unknown" | "supported" | "unsupported";

/** The fallback referrers index of a subject, as read from its tag. */
export interface FallbackIndex {
  /** The decoded index. */
  index: ImageIndex;
  /** Digest of `bytes`. */
  digest: string;
  /** The exact bytes served. */
  bytes: Uint8Array;
}

/**
 * The tag under which the referrers fallback index of `subject` lives.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fallbackTag } from "./referrers.ts";
 * assert.ok(fallbackTag("sha256:" + "ab".repeat(32)) === "sha256-" + "ab".repeat(32));
 * ```
 */
export function fallbackTag(subjectDigest: string): string {
  const d = parseDigest(subjectDigest);
  return `${d.slice(0, d.indexOf(":"))}-${digestHex(d)}`;
}

/**
 * The referrers of manifests in the repositories of one registry
 * (`client.referrers`).
 *
 * @example
 * ```ts ignore
 * import { RegistryClient } from "./client.ts";
 * const client = new RegistryClient("127.0.0.1:5000", { plainHttp: true });
 * const found = await client.referrers.list("app", "sha256:…",
 *   "application/vnd.amazon.soci.index.v1+json");
 * console.log(found.via, found.manifests.map((d) => d.digest), client.referrers.support);
 * client.close();
 * ```
 */
export class Referrers {
  readonly #t: Transport;
  #support: ReferrersSupport = "unknown";

  /**
   * Referrers listing over `transport` (`client.referrers` is one).
   *
   * @param transport the registry's transport.
   */
  constructor(transport: Transport) {
    this.#t = transport;
  }

  /** Whether the referrers API is known to exist on this registry. */
  get support(): ReferrersSupport {
    return this.#support;
  }

  /** Records the referrers API state (e.g. learned from an `OCI-Subject` header). */
  set support(state: ReferrersSupport) {
    this.#support = state;
  }

  /**
   * Lists the referrers of `subjectDigest` (F§11.2): the referrers API
   * first; a 404 that is not `NAME_UNKNOWN` (or a non-index answer) marks
   * the API unsupported and the `sha256-<hex>` fallback tag is read
   * instead. Filtered by `artifactType` when given (unless the server says
   * it already filtered).
   */
  async list(
    repo: string,
    subjectDigest: string,
    artifactType?: string,
  ): Promise<ReferrersListing> {
    parseDigest(subjectDigest);
    if (this.#support !== "unsupported") {
      const found = await this.#byApi(repo, subjectDigest, artifactType);
      if (found) return { manifests: found, via: "api" };
    }
    const index = await this.fallbackIndex(repo, subjectDigest);
    const manifests = (index?.index.manifests ?? []).filter((d) =>
      artifactType === undefined || d.artifactType === artifactType
    );
    return { manifests, via: "tag" };
  }

  /**
   * Asks the referrers API only (no fallback tag): the referrers of
   * `subjectDigest` filtered by `artifactType`, or `undefined` when the
   * registry has no referrers API (which {@link Referrers.support} then
   * records). Once the API is known to be missing, nothing is sent.
   * `opts.signal` stops the requests.
   */
  async api(
    repo: string,
    subjectDigest: string,
    artifactType?: string,
    opts: SignalOptions = {},
  ): Promise<Descriptor[] | undefined> {
    parseDigest(subjectDigest);
    if (this.#support === "unsupported") return undefined;
    return await this.#byApi(repo, subjectDigest, artifactType, opts.signal);
  }

  /**
   * Reads the fallback referrers index at tag `sha256-<hex>` of the
   * subject: `undefined` when the tag does not exist. A missing repository
   * is an error (`NAME_UNKNOWN`). `opts.signal` stops the request.
   */
  async fallbackIndex(
    repo: string,
    subjectDigest: string,
    opts: SignalOptions = {},
  ): Promise<FallbackIndex | undefined> {
    const t = this.#t;
    const tag = fallbackTag(subjectDigest);
    const action = `get manifest ${repo}:${tag}`;
    const accept = [OCI_INDEX, ...MANIFEST_ACCEPT.filter((x) => x !== OCI_INDEX)].join(", ");
    const { res, bytes } = await t.retry(action, async () => {
      const res = await t.send({
        action,
        method: "GET",
        url: t.url(repo, `manifests/${tag}`),
        headers: { accept },
        scopes: [repositoryScope(repo, "pull")],
        allowNotFound: true,
        signal: opts.signal,
      });
      return { res, bytes: await t.readBody(res, action, MAX_MANIFEST_BYTES) };
    }, opts.signal);
    if (res.status === 404) {
      const text = new TextDecoder().decode(bytes);
      if (parseErrorBody(text).code === "NAME_UNKNOWN") throw t.statusError(action, res, text);
      return undefined;
    }
    let index: ImageIndex;
    try {
      index = decodeIndex(bytes);
    } catch (e) {
      throw new BadInputError(
        `${t.registry}: ${repo}:${tag} is not a referrers index: ${(e as Error).message}`,
      );
    }
    return { index, digest: digestOf(bytes), bytes };
  }

  async #byApi(
    repo: string,
    subject: string,
    artifactType: string | undefined,
    signal?: AbortSignal,
  ): Promise<Descriptor[] | undefined> {
    const t = this.#t;
    const action = `list referrers of ${repo}@${subject}`;
    const first = new URL(t.url(repo, `referrers/${subject}`));
    if (artifactType) first.searchParams.set("artifactType", artifactType);
    const out: Descriptor[] = [];
    const req = {
      action,
      headers: { accept: OCI_INDEX },
      scopes: [repositoryScope(repo, "pull")],
      allowNotFound: true,
      signal,
    };
    for await (const { res, bytes } of t.pages(req, first.href, MAX_MANIFEST_BYTES)) {
      if (res.status === 404) {
        const text = new TextDecoder().decode(bytes);
        if (parseErrorBody(text).code === "NAME_UNKNOWN") throw t.statusError(action, res, text);
        this.#support = "unsupported";
        return undefined;
      }
      if (baseType(res.headers.get("content-type")) !== OCI_INDEX) {
        this.#support = "unsupported";
        return undefined;
      }
      this.#support = "supported";
      let index: ImageIndex;
      try {
        index = decodeIndex(bytes);
      } catch (e) {
        throw new BadInputError(`${t.registry}: ${action}: ${(e as Error).message}`);
      }
      const applied = (res.headers.get("oci-filters-applied") ?? "").split(",").map((s) =>
        s.trim()
      );
      const annotated = index.annotations?.["org.opencontainers.referrers.filtersApplied"] ?? "";
      const filtered = applied.includes("artifactType") ||
        annotated.split(",").map((s) => s.trim()).includes("artifactType");
      for (const d of index.manifests ?? []) {
        if (!artifactType || filtered || d.artifactType === artifactType) out.push(d);
      }
    }
    return out;
  }
}
