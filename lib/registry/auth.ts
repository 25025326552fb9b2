/**
 * Registry authentication: `WWW-Authenticate` challenge parsing, Basic
 * auth, and the distribution Bearer token flow (realm/service/scope, with
 * username/password, an OAuth2 refresh token, or anonymously). Tokens are
 * cached per scope set until they expire.
 *
 * @module
 */
import { RegistryError } from "../errors.ts";
import type { Credentials } from "./credentials.ts";
import { TransientRegistryError } from "./retry.ts";
import { StallError } from "./stall.ts";

/** One parsed challenge of a `WWW-Authenticate` header. */
export interface Challenge {
  /** Lowercase scheme: `basic`, `bearer`, … */
  scheme: string;
  /** Parameters with lowercase names (`realm`, `service`, `scope`, …). */
  params: Record<string, string>;
}

/**
 * Parses a `WWW-Authenticate` header into its challenges.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseWwwAuthenticate } from "./auth.ts";
 * const [c] = parseWwwAuthenticate(
 *   'Bearer realm="https://auth.example/token",service="reg",scope="repository:a:pull"');
 * assert.ok(c.scheme === "bearer" && c.params.service === "reg");
 * assert.ok(c.params.scope === "repository:a:pull");
 * ```
 */
export function parseWwwAuthenticate(header: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const n = header.length;
  const skipSpaces = () => {
    while (i < n && (header[i] === " " || header[i] === "\t")) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < n && /[!#$%&'*+.^_`|~0-9A-Za-z-]/.test(header[i])) i++;
    return header.slice(start, i);
  };
  let current: Challenge | undefined;
  while (i < n) {
    skipSpaces();
    if (header[i] === ",") {
      i++;
      continue;
    }
    const token = readToken();
    if (token === "") {
      i++;
      continue;
    }
    skipSpaces();
    if (header[i] === "=" && current) {
      i++;
      skipSpaces();
      let value = "";
      if (header[i] === '"') {
        i++;
        while (i < n && header[i] !== '"') {
          if (header[i] === "\\" && i + 1 < n) i++;
          value += header[i++];
        }
        i++;
      } else {
        const start = i;
        while (i < n && header[i] !== "," && header[i] !== " ") i++;
        value = header.slice(start, i);
      }
      current.params[token.toLowerCase()] = value;
    } else {
      current = { scheme: token.toLowerCase(), params: {} };
      out.push(current);
    }
  }
  return out;
}

/**
 * Merges scope strings (`repository:NAME:ACTIONS`), joining the actions of
 * the same resource, in a stable order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mergeScopes } from "./auth.ts";
 * assert.ok(mergeScopes(["repository:a:pull", "repository:a:push", "repository:b:pull"])
 *   .join(" ") === "repository:a:pull,push repository:b:pull");
 * ```
 */
export function mergeScopes(scopes: string[]): string[] {
  const byResource = new Map<string, Set<string>>();
  for (const scope of scopes) {
    for (const one of scope.split(" ")) {
      if (!one) continue;
      const last = one.lastIndexOf(":");
      if (last <= 0) {
        if (!byResource.has(one)) byResource.set(one, new Set());
        continue;
      }
      const resource = one.slice(0, last);
      const set = byResource.get(resource) ?? new Set<string>();
      for (const action of one.slice(last + 1).split(",")) if (action) set.add(action);
      byResource.set(resource, set);
    }
  }
  return [...byResource.keys()].sort().map((resource) => {
    const actions = [...byResource.get(resource)!].sort();
    return actions.length ? `${resource}:${actions.join(",")}` : resource;
  });
}

/** The scope string for a repository and actions. */
export function repositoryScope(repository: string, actions: string): string {
  return `repository:${repository}:${actions}`;
}

/** Sends an HTTP request for the authenticator (the client's transport). */
export type TokenFetch = (url: string, init: RequestInit) => Promise<Response>;

interface CachedToken {
  token: string;
  expiresAt: number;
}

/**
 * Keeps the authentication state of one registry host: which scheme the
 * registry asked for, and the bearer tokens obtained so far.
 */
export class Authenticator {
  readonly #host: string;
  readonly #creds?: Credentials;
  readonly #fetch: TokenFetch;
  #scheme?: "basic" | "bearer";
  #bearer?: { realm: string; service?: string };
  #tokens = new Map<string, CachedToken>();

  /**
   * Starts with no scheme known: the first 401 challenge decides.
   *
   * @param host registry host, for error messages.
   * @param credentials what to authenticate with (none = anonymous).
   * @param fetchFn transport used to reach the token endpoint.
   */
  constructor(host: string, credentials: Credentials | undefined, fetchFn: TokenFetch) {
    this.#host = host;
    this.#creds = credentials;
    this.#fetch = fetchFn;
  }

  /** True when some credentials were configured. */
  get hasCredentials(): boolean {
    const c = this.#creds;
    return !!c && !!(c.username || c.password || c.identityToken || c.registryToken);
  }

  /**
   * The `Authorization` header value to send for a request needing
   * `scopes`, once the registry's scheme is known; `undefined` before the
   * first challenge or when anonymous Basic. `signal` stops a token request.
   */
  async header(scopes: string[], signal?: AbortSignal): Promise<string | undefined> {
    if (this.#scheme === "basic") return this.#basicHeader();
    if (this.#scheme === "bearer") {
      return `Bearer ${await this.#token(mergeScopes(scopes), signal)}`;
    }
    return undefined;
  }

  /**
   * Learns from a 401 response's `WWW-Authenticate` header. Returns true
   * when a retry with new credentials can succeed (the scheme was new, or a
   * token for a wider scope can be asked for, or the request went out
   * before a concurrent one learnt the scheme: `sent` is the
   * `Authorization` it carried). `signal` stops a token request.
   */
  async challenge(
    header: string | null,
    scopes: string[],
    options: { signal?: AbortSignal; sent?: string } = {},
  ): Promise<boolean> {
    const signal = options.signal;
    if (!header) return false;
    const challenges = parseWwwAuthenticate(header);
    const bearer = challenges.find((c) => c.scheme === "bearer");
    if (bearer && bearer.params.realm) {
      const wanted = mergeScopes([...scopes, bearer.params.scope ?? ""]);
      // A token we already hold for these scopes was refused (expired or
      // revoked): ask for a fresh one. The client retries only once.
      this.#tokens.delete(wanted.join(" "));
      this.#scheme = "bearer";
      this.#bearer = { realm: bearer.params.realm, service: bearer.params.service };
      await this.#token(wanted, signal);
      return true;
    }
    if (challenges.some((c) => c.scheme === "basic")) {
      const basic = this.#basicHeader();
      // Refused with these very credentials: another try cannot help.
      if (basic === undefined || (this.#scheme === "basic" && options.sent === basic)) {
        return false;
      }
      this.#scheme = "basic";
      return true;
    }
    return false;
  }

  #basicHeader(): string | undefined {
    const c = this.#creds;
    if (!c || (!c.username && !c.password)) return undefined;
    const bytes = new TextEncoder().encode(`${c.username ?? ""}:${c.password ?? ""}`);
    let bin = "";
    for (const b of bytes) bin += String.fromCharCode(b);
    return `Basic ${btoa(bin)}`;
  }

  async #token(scopes: string[], signal?: AbortSignal): Promise<string> {
    const key = scopes.join(" ");
    const cached = this.#tokens.get(key);
    if (cached && cached.expiresAt > Date.now()) return cached.token;
    const c = this.#creds;
    if (c?.registryToken) return c.registryToken;
    const { realm, service } = this.#bearer!;
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new RegistryError(`${this.#host}: the registry sent an invalid token realm`);
    }
    let res: Response;
    if (c?.identityToken) {
      const form = new URLSearchParams();
      form.set("grant_type", "refresh_token");
      form.set("refresh_token", c.identityToken);
      form.set("client_id", "soci-deno");
      if (service) form.set("service", service);
      if (scopes.length) form.set("scope", scopes.join(" "));
      res = await this.#fetch(url.href, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: form.toString(),
        signal,
      });
    } else {
      if (service) url.searchParams.set("service", service);
      for (const s of scopes) url.searchParams.append("scope", s);
      const headers: Record<string, string> = {};
      const basic = this.#basicHeader();
      if (basic) headers.authorization = basic;
      res = await this.#fetch(url.href, { method: "GET", headers, signal });
    }
    if (!res.ok) {
      await res.body?.cancel();
      const hint = res.status === 401 || res.status === 403
        ? this.hasCredentials
          ? " (the credentials were refused)"
          : " (credentials are needed: --user or docker config)"
        : "";
      throw new RegistryError(
        `${this.#host}: authentication failed: token endpoint ${url.host} answered ${res.status}` +
          hint,
        { status: res.status },
      );
    }
    let body: { token?: string; access_token?: string; expires_in?: number };
    try {
      body = await res.json();
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      if (e instanceof StallError) {
        throw new TransientRegistryError(`${this.#host}: authenticate: ${e.message}`);
      }
      throw new RegistryError(`${this.#host}: authentication failed: token response is not JSON`);
    }
    const token = body.token || body.access_token;
    if (!token) {
      throw new RegistryError(`${this.#host}: authentication failed: token response has no token`);
    }
    const lifetime = typeof body.expires_in === "number" && body.expires_in > 0
      ? body.expires_in
      : 60;
    // Renew a little before the server's expiry.
    this.#tokens.set(key, { token, expiresAt: Date.now() + Math.max(1, lifetime - 10) * 1000 });
    return token;
  }
}
