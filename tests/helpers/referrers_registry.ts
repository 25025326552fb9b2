/**
 * A small in-memory registry implementing the parts of the OCI
 * distribution spec 1.1 the client uses, for tests that the Debian
 * registry (2.8, no referrers API) cannot cover: blobs HEAD/GET (with
 * `Range`)/upload (monolithic, chunked, mount), manifests GET/HEAD/PUT/
 * DELETE by tag and digest with `OCI-Subject` on PUT of a manifest with a
 * `subject`, `GET /v2/<name>/referrers/<digest>` with `artifactType`
 * filtering (said by `OCI-Filters-Applied` or the index annotation, or not
 * done) and `Link` pagination, tags list with pagination, Basic
 * or Bearer (token endpoint) auth, and blob redirects to another origin.
 *
 * Runs in-process (`startReferrersRegistry`) or as a subprocess
 * (`deno run -A referrers_registry.ts '{"referrersApi":true}'` prints
 * `{"url":…}` and serves until SIGTERM).
 *
 * @module
 */

import { concat, sha256 } from "./bytes.ts";

/** Options of {@link startReferrersRegistry}. */
export interface ReferrersRegistryOptions {
  /** Serve the referrers API (default true); false answers its route like distribution 2.8. */
  referrersApi?: boolean;
  /** Send `OCI-Subject` on manifest PUTs with a subject (default: same as `referrersApi`). */
  ociSubjectHeader?: boolean;
  /** Require credentials: Basic, or Bearer tokens from a `/token` endpoint checking them. */
  auth?: { username: string; password: string; scheme: "basic" | "bearer" };
  /** Answer blob GETs with a 307 to a second server (another origin) with a signed-looking URL. */
  redirectBlobs?: boolean;
  /** Query string of the blob redirect target (default `X-Amz-Signature=very-secret-sig`). */
  redirectQuery?: string;
  /** Tags per page when the client does not say (default: all). */
  tagsPageSize?: number;
  /**
   * How the referrers API treats `?artifactType=`: `header` filters and
   * says so with `OCI-Filters-Applied` (default), `annotation` filters and
   * says so with the index annotation
   * `org.opencontainers.referrers.filtersApplied`, `none` ignores it
   * (every referrer is listed; the client must filter).
   */
  referrersFilter?: "header" | "annotation" | "none";
  /** Referrers per page, the next page linked with `Link: <…>; rel="next"` (default: all). */
  referrersPageSize?: number;
}

/** One request seen by the fake registry. */
export interface SeenRequest {
  method: string;
  /** Path and query. */
  path: string;
  /** The `Authorization` header as received (tests check secrets do not leak). */
  authorization: string | null;
}

/** A running fake registry. */
export interface ReferrersRegistry {
  host: string;
  url: string;
  /** Requests in arrival order (registry and blob host). */
  requests: SeenRequest[];
  /** Requests to the redirect target (blob host), when `redirectBlobs`. */
  blobHostRequests: SeenRequest[];
  /** Token requests (`/token`), when Bearer auth. */
  tokenRequests: SeenRequest[];
  /** Tag names of a repository. */
  tags(repo: string): string[];
  /** True when the repository holds the manifest. */
  hasManifest(repo: string, digest: string): boolean;
  stop(): Promise<void>;
}

interface StoredManifest {
  bytes: Uint8Array;
  mediaType: string;
  doc: Record<string, unknown>;
}

interface Repo {
  blobs: Set<string>;
  manifests: Map<string, StoredManifest>;
  tags: Map<string, string>;
}

interface Upload {
  repo: string;
  parts: Uint8Array[];
  size: number;
}

const OCI_INDEX = "application/vnd.oci.image.index.v1+json";

function ociError(status: number, code: string, message: string, headers: HeadersInit = {}) {
  return new Response(JSON.stringify({ errors: [{ code, message }] }), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/**
 * Starts the fake registry on a free loopback port.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { startReferrersRegistry } from "./referrers_registry.ts";
 * const reg = await startReferrersRegistry();
 * const res = await fetch(`${reg.url}/v2/`);
 * assert.ok(res.status === 200);
 * await res.body?.cancel();
 * await reg.stop();
 * ```
 */
export function startReferrersRegistry(
  opts: ReferrersRegistryOptions = {},
): Promise<ReferrersRegistry> {
  const referrersApi = opts.referrersApi ?? true;
  const ociSubject = opts.ociSubjectHeader ?? referrersApi;
  const blobs = new Map<string, Uint8Array>();
  const repos = new Map<string, Repo>();
  const uploads = new Map<string, Upload>();
  const tokens = new Map<string, Set<string>>(); // token -> granted "repo:action"
  const requests: SeenRequest[] = [];
  const blobHostRequests: SeenRequest[] = [];
  const tokenRequests: SeenRequest[] = [];
  let counter = 0;
  let url = "";
  let blobHostUrl = "";

  const repoOf = (name: string, create: boolean): Repo | undefined => {
    let r = repos.get(name);
    if (!r && create) {
      r = { blobs: new Set(), manifests: new Map(), tags: new Map() };
      repos.set(name, r);
    }
    return r;
  };

  const basicOk = (header: string | null): boolean => {
    if (!opts.auth || !header?.startsWith("Basic ")) return false;
    return atob(header.slice(6)) === `${opts.auth.username}:${opts.auth.password}`;
  };

  /** Null when allowed, else the 401 response. */
  const authorize = (req: Request, repo: string | undefined, action: "pull" | "push") => {
    if (!opts.auth) return null;
    const header = req.headers.get("authorization");
    if (opts.auth.scheme === "basic") {
      if (basicOk(header)) return null;
      return ociError(401, "UNAUTHORIZED", "authentication required", {
        "www-authenticate": 'Basic realm="fake-registry"',
      });
    }
    if (header?.startsWith("Bearer ")) {
      const granted = tokens.get(header.slice(7));
      if (granted && (repo === undefined || granted.has(`${repo}:${action}`))) return null;
    }
    const scope = repo
      ? `,scope="repository:${repo}:${action === "push" ? "pull,push" : "pull"}"`
      : "";
    return ociError(401, "UNAUTHORIZED", "authentication required", {
      "www-authenticate": `Bearer realm="${url}/token",service="fake-registry"${scope}`,
    });
  };

  const tokenEndpoint = async (req: Request, u: URL): Promise<Response> => {
    tokenRequests.push({
      method: req.method,
      path: u.pathname + u.search,
      authorization: req.headers.get("authorization"),
    });
    let scopes = u.searchParams.getAll("scope");
    if (req.method === "POST") {
      // OAuth2 refresh-token grant: the configured password acts as the refresh token.
      const form = new URLSearchParams(await req.text());
      if (
        form.get("grant_type") !== "refresh_token" ||
        form.get("refresh_token") !== opts.auth?.password
      ) {
        return ociError(401, "UNAUTHORIZED", "bad refresh token");
      }
      scopes = (form.get("scope") ?? "").split(" ");
    } else if (!basicOk(req.headers.get("authorization"))) {
      return ociError(401, "UNAUTHORIZED", "bad credentials");
    }
    const granted = new Set<string>();
    for (const scope of scopes) {
      for (const one of scope.split(" ")) {
        const m = /^repository:(.+):([a-z,*]+)$/.exec(one);
        if (!m) continue;
        for (const a of m[2].split(",")) granted.add(`${m[1]}:${a}`);
      }
    }
    const token = `tok-${++counter}-${crypto.randomUUID()}`;
    tokens.set(token, granted);
    return Response.json({ token, expires_in: 300 });
  };

  const serveBlob = (req: Request, digest: string, head: boolean): Response => {
    const data = blobs.get(digest)!;
    const range = req.headers.get("range");
    const m = range ? /^bytes=(\d+)-(\d*)$/.exec(range) : null;
    if (m) {
      const start = Number(m[1]);
      const end = m[2] ? Math.min(Number(m[2]), data.length - 1) : data.length - 1;
      if (start >= data.length || end < start) {
        return new Response(null, {
          status: 416,
          headers: { "content-range": `bytes */${data.length}` },
        });
      }
      const part = data.subarray(start, end + 1);
      return new Response(head ? null : part as BodyInit, {
        status: 206,
        headers: {
          "content-range": `bytes ${start}-${end}/${data.length}`,
          "content-length": String(part.length),
          "content-type": "application/octet-stream",
          "docker-content-digest": digest,
        },
      });
    }
    return new Response(head ? null : data as BodyInit, {
      status: 200,
      headers: {
        "content-length": String(data.length),
        "content-type": "application/octet-stream",
        "docker-content-digest": digest,
      },
    });
  };

  const manifestRefs = (doc: Record<string, unknown>): { blobs: string[]; manifests: string[] } => {
    const digests = (list: unknown) =>
      Array.isArray(list) ? list.map((d) => (d as { digest: string }).digest) : [];
    if (Array.isArray(doc.manifests)) return { blobs: [], manifests: digests(doc.manifests) };
    const config = (doc.config as { digest?: string } | undefined)?.digest;
    return { blobs: [...(config ? [config] : []), ...digests(doc.layers)], manifests: [] };
  };

  const handle = async (req: Request): Promise<Response> => {
    const u = new URL(req.url);
    requests.push({
      method: req.method,
      path: u.pathname + u.search,
      authorization: req.headers.get("authorization"),
    });
    if (u.pathname === "/token") return await tokenEndpoint(req, u);
    if (u.pathname === "/v2/" || u.pathname === "/v2") {
      return authorize(req, undefined, "pull") ?? Response.json({});
    }
    const m = /^\/v2\/(.+?)\/(blobs\/uploads|blobs|manifests|tags|referrers)\/(.*)$/.exec(
      u.pathname,
    );
    if (!m) return new Response("404 page not found\n", { status: 404 });
    const [, name, kind, rest] = m;
    const write = !(req.method === "GET" || req.method === "HEAD");
    const denied = authorize(req, name, write ? "push" : "pull");
    if (denied) return denied;

    if (kind === "referrers") {
      if (!referrersApi) {
        return new Response("404 page not found\n", {
          status: 404,
          headers: { "content-type": "text/plain; charset=utf-8" },
        });
      }
      const repo = repoOf(name, false);
      if (!repo) return ociError(404, "NAME_UNKNOWN", "repository name not known to registry");
      const filterMode = opts.referrersFilter ?? "header";
      const want = filterMode === "none" ? null : u.searchParams.get("artifactType");
      let list: Record<string, unknown>[] = [];
      for (const [digest, stored] of repo.manifests) {
        const subject = stored.doc.subject as { digest?: string } | undefined;
        if (subject?.digest !== rest) continue;
        const artifactType = (stored.doc.artifactType as string | undefined) ??
          (stored.doc.config as { mediaType?: string } | undefined)?.mediaType;
        if (want && artifactType !== want) continue;
        const d: Record<string, unknown> = {
          mediaType: stored.mediaType,
          digest,
          size: stored.bytes.length,
        };
        if (stored.doc.annotations) d.annotations = stored.doc.annotations;
        if (artifactType) d.artifactType = artifactType;
        list.push(d);
      }
      const headers: Record<string, string> = { "content-type": OCI_INDEX };
      const index: Record<string, unknown> = { schemaVersion: 2, mediaType: OCI_INDEX };
      if (want && filterMode === "header") headers["oci-filters-applied"] = "artifactType";
      if (want && filterMode === "annotation") {
        index.annotations = { "org.opencontainers.referrers.filtersApplied": "artifactType" };
      }
      const per = opts.referrersPageSize ?? 0;
      if (per > 0) {
        const page = Number(u.searchParams.get("page") ?? 0);
        if (list.length > (page + 1) * per) {
          const next = new URLSearchParams(u.searchParams);
          next.set("page", String(page + 1));
          headers.link = `</v2/${name}/referrers/${rest}?${next}>; rel="next"`;
        }
        list = list.slice(page * per, (page + 1) * per);
      }
      index.manifests = list;
      return new Response(JSON.stringify(index), { headers });
    }

    if (kind === "tags") {
      const repo = repoOf(name, false);
      if (!repo) return ociError(404, "NAME_UNKNOWN", "repository name not known to registry");
      let all = [...repo.tags.keys()].sort();
      const last = u.searchParams.get("last");
      if (last) all = all.filter((t) => t > last);
      const n = Number(u.searchParams.get("n") ?? opts.tagsPageSize ?? 0);
      const headers: Record<string, string> = {};
      if (n > 0 && all.length > n) {
        all = all.slice(0, n);
        headers.link = `</v2/${name}/tags/list?n=${n}&last=${all[all.length - 1]}>; rel="next"`;
      }
      return Response.json({ name, tags: all }, { headers });
    }

    if (kind === "blobs/uploads") {
      const repo = repoOf(name, true)!;
      if (req.method === "POST" && rest === "") {
        const mount = u.searchParams.get("mount");
        const from = u.searchParams.get("from");
        if (mount && from && repoOf(from, false)?.blobs.has(mount)) {
          repo.blobs.add(mount);
          return new Response(null, {
            status: 201,
            headers: { location: `/v2/${name}/blobs/${mount}`, "docker-content-digest": mount },
          });
        }
        const single = u.searchParams.get("digest");
        if (single && !mount) {
          const body = new Uint8Array(await req.arrayBuffer());
          if (sha256(body) !== single) return ociError(400, "DIGEST_INVALID", "digest mismatch");
          blobs.set(single, body);
          repo.blobs.add(single);
          return new Response(null, {
            status: 201,
            headers: { location: `/v2/${name}/blobs/${single}`, "docker-content-digest": single },
          });
        }
        await req.body?.cancel();
        const id = crypto.randomUUID();
        uploads.set(id, { repo: name, parts: [], size: 0 });
        return new Response(null, {
          status: 202,
          headers: { location: `/v2/${name}/blobs/uploads/${id}`, range: "0-0" },
        });
      }
      const up = uploads.get(rest);
      if (!up || up.repo !== name) return ociError(404, "BLOB_UPLOAD_UNKNOWN", "upload unknown");
      const location = `/v2/${name}/blobs/uploads/${rest}`;
      if (req.method === "GET") {
        return new Response(null, {
          status: 204,
          headers: { location, range: `0-${Math.max(0, up.size - 1)}` },
        });
      }
      if (req.method === "DELETE") {
        uploads.delete(rest);
        return new Response(null, { status: 204 });
      }
      if (req.method === "PATCH") {
        const cr = req.headers.get("content-range");
        const body = new Uint8Array(await req.arrayBuffer());
        if (cr) {
          const r = /^(\d+)-(\d+)$/.exec(cr);
          if (!r || Number(r[1]) !== up.size || Number(r[2]) !== up.size + body.length - 1) {
            return ociError(416, "BLOB_UPLOAD_INVALID", `bad content-range ${cr}`);
          }
        }
        up.parts.push(body);
        up.size += body.length;
        return new Response(null, {
          status: 202,
          headers: { location, range: `0-${up.size - 1}` },
        });
      }
      if (req.method === "PUT") {
        const body = new Uint8Array(await req.arrayBuffer());
        if (body.length) {
          up.parts.push(body);
          up.size += body.length;
        }
        const digest = u.searchParams.get("digest") ?? "";
        const data = concat(up.parts);
        if (sha256(data) !== digest) return ociError(400, "DIGEST_INVALID", "digest mismatch");
        uploads.delete(rest);
        blobs.set(digest, data);
        repo.blobs.add(digest);
        return new Response(null, {
          status: 201,
          headers: { location: `/v2/${name}/blobs/${digest}`, "docker-content-digest": digest },
        });
      }
      return ociError(405, "UNSUPPORTED", "method not allowed");
    }

    if (kind === "blobs") {
      const repo = repoOf(name, false);
      if (!repo?.blobs.has(rest) || !blobs.has(rest)) {
        await req.body?.cancel();
        return ociError(404, "BLOB_UNKNOWN", "blob unknown to registry");
      }
      if (req.method === "DELETE") {
        repo.blobs.delete(rest);
        return new Response(null, { status: 202 });
      }
      if (req.method === "GET" && opts.redirectBlobs) {
        return new Response(null, {
          status: 307,
          headers: {
            location: `${blobHostUrl}/store/${rest}?${
              opts.redirectQuery ?? "X-Amz-Signature=very-secret-sig"
            }`,
          },
        });
      }
      return serveBlob(req, rest, req.method === "HEAD");
    }

    // manifests
    if (req.method === "PUT") {
      const repo = repoOf(name, true)!;
      const bytes = new Uint8Array(await req.arrayBuffer());
      const digest = sha256(bytes);
      if (rest.includes(":") && rest !== digest) {
        return ociError(400, "DIGEST_INVALID", "manifest digest does not match");
      }
      let doc: Record<string, unknown>;
      try {
        doc = JSON.parse(new TextDecoder().decode(bytes));
      } catch {
        return ociError(400, "MANIFEST_INVALID", "manifest invalid");
      }
      const refs = manifestRefs(doc);
      for (const b of refs.blobs) {
        if (!repo.blobs.has(b)) return ociError(400, "MANIFEST_BLOB_UNKNOWN", `blob unknown ${b}`);
      }
      for (const d of refs.manifests) {
        if (!repo.manifests.has(d)) {
          return ociError(400, "MANIFEST_BLOB_UNKNOWN", `manifest unknown ${d}`);
        }
      }
      const mediaType = (req.headers.get("content-type") ?? "").split(";")[0].trim() ||
        String(doc.mediaType ?? "");
      repo.manifests.set(digest, { bytes, mediaType, doc });
      if (!rest.includes(":")) repo.tags.set(rest, digest);
      const headers: Record<string, string> = {
        location: `/v2/${name}/manifests/${digest}`,
        "docker-content-digest": digest,
      };
      const subject = doc.subject as { digest?: string } | undefined;
      if (subject?.digest && ociSubject) headers["oci-subject"] = subject.digest;
      return new Response(null, { status: 201, headers });
    }
    const repo = repoOf(name, false);
    if (!repo) return ociError(404, "NAME_UNKNOWN", "repository name not known to registry");
    const digest = rest.includes(":") ? rest : repo.tags.get(rest);
    const stored = digest ? repo.manifests.get(digest) : undefined;
    if (!digest || !stored) return ociError(404, "MANIFEST_UNKNOWN", "manifest unknown");
    if (req.method === "DELETE") {
      repo.manifests.delete(digest);
      for (const [tag, d] of [...repo.tags]) if (d === digest) repo.tags.delete(tag);
      return new Response(null, { status: 202 });
    }
    return new Response(req.method === "HEAD" ? null : stored.bytes as BodyInit, {
      status: 200,
      headers: {
        "content-type": stored.mediaType,
        "content-length": String(stored.bytes.length),
        "docker-content-digest": digest,
      },
    });
  };

  return new Promise((resolve) => {
    const blobHost = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
      const u = new URL(req.url);
      blobHostRequests.push({
        method: req.method,
        path: u.pathname + u.search,
        authorization: req.headers.get("authorization"),
      });
      const digest = u.pathname.replace(/^\/store\//, "");
      if (!blobs.has(digest)) return new Response("no such blob", { status: 404 });
      return serveBlob(req, digest, req.method === "HEAD");
    });
    blobHostUrl = `http://127.0.0.1:${blobHost.addr.port}`;
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen(addr) {
        url = `http://127.0.0.1:${addr.port}`;
        resolve({
          host: `127.0.0.1:${addr.port}`,
          url,
          requests,
          blobHostRequests,
          tokenRequests,
          tags: (repo: string) => [...(repos.get(repo)?.tags.keys() ?? [])].sort(),
          hasManifest: (repo: string, digest: string) =>
            repos.get(repo)?.manifests.has(digest) ?? false,
          async stop() {
            await server.shutdown();
            await blobHost.shutdown();
          },
        });
      },
    }, handle);
  });
}

if (import.meta.main) {
  const reg = await startReferrersRegistry(JSON.parse(Deno.args[0] ?? "{}"));
  console.log(JSON.stringify({ url: reg.url, host: reg.host }));
  Deno.addSignalListener("SIGTERM", async () => {
    await reg.stop();
    Deno.exit(0);
  });
}
