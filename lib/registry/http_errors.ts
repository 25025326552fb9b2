/**
 * Turning failed registry exchanges into one-line, secret-free messages:
 * OCI error bodies (`{"errors":[{"code","message"}]}`), unreachable hosts
 * (with TLS / plain-HTTP hints), and URL redaction for debug lines.
 *
 * @module
 */

/** The first OCI error of a response body, if it has one. */
export interface OciErrorInfo {
  /** OCI error code, e.g. `MANIFEST_UNKNOWN`. */
  code?: string;
  /** Its message, on one line (or the first line of a text body). */
  message?: string;
}

/**
 * Parses an OCI distribution error body; falls back to the first line of a
 * text body.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseErrorBody } from "./http_errors.ts";
 * const e = parseErrorBody('{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}');
 * assert.ok(e.code === "NAME_UNKNOWN");
 * assert.ok(parseErrorBody("404 page not found\n").message === "404 page not found");
 * ```
 */
export function parseErrorBody(text: string): OciErrorInfo {
  const trimmed = text.trim();
  if (trimmed.startsWith("{")) {
    try {
      const parsed = JSON.parse(trimmed);
      const first = Array.isArray(parsed?.errors) ? parsed.errors[0] : undefined;
      if (first && typeof first === "object") {
        return {
          code: typeof first.code === "string" ? first.code : undefined,
          message: typeof first.message === "string" ? oneLine(first.message) : undefined,
        };
      }
    } catch {
      // not JSON after all: use the text
    }
  }
  const line = oneLine(trimmed.split("\n")[0] ?? "");
  return line ? { message: line } : {};
}

/** Collapses whitespace and caps the length so a message stays one line. */
export function oneLine(text: string, max = 200): string {
  const s = text.replace(/\s+/g, " ").trim();
  return s.length > max ? s.slice(0, max - 1) + "…" : s;
}

/**
 * Query parameters whose values are kept in logs, compared case-
 * insensitively: the distribution API's own (`digest`, `mount`, `from`,
 * `n`, `last`, `artifactType`), the token endpoint's `service` and
 * `scope`, and the unsigned parts of S3-style presigned URLs. Everything
 * else (`verify`, `jwt`, `hmac`, `_state`, signatures, `account`, …) may
 * be a secret or identify one.
 */
const KEPT_PARAMS: ReadonlySet<string> = new Set([
  "digest",
  "mount",
  "from",
  "n",
  "last",
  "artifacttype",
  "service",
  "scope",
  "x-amz-algorithm",
  "x-amz-date",
  "x-amz-expires",
  "x-amz-signedheaders",
]);

/**
 * A URL fit for logs: the value of every query parameter not known to be
 * harmless (see the allow-list above) becomes `REDACTED`; user:password
 * in the authority and the fragment are dropped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { redactUrl } from "./http_errors.ts";
 * assert.ok(redactUrl("https://s3/x?X-Amz-Signature=abc&n=1") ===
 *   "https://s3/x?X-Amz-Signature=REDACTED&n=1");
 * assert.ok(redactUrl("https://cdn/b?verify=1690-abc&digest=sha256%3Aff") ===
 *   "https://cdn/b?verify=REDACTED&digest=sha256%3Aff");
 * ```
 */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return "<invalid url>";
  }
  u.username = "";
  u.password = "";
  u.hash = "";
  if (u.search !== "") {
    const out = new URLSearchParams();
    for (const [key, value] of u.searchParams) {
      out.append(key, KEPT_PARAMS.has(key.toLowerCase()) ? value : "REDACTED");
    }
    u.search = out.toString();
  }
  return u.href;
}

/**
 * What kind of network failure a `fetch` error is, which decides whether
 * it is worth another try:
 *
 * - `refused`: nothing listens on the port (`Connection refused`);
 * - `dns`: the host name does not resolve;
 * - `tls-mismatch`: TLS was spoken to a server that answered in plain
 *   HTTP (a plain-HTTP registry without `--plain-http`);
 * - `certificate`: the server's certificate is not trusted;
 * - `other`: anything else (reset or dropped connections, …).
 */
export type NetworkFailureKind =
  | "refused"
  | "dns"
  | "tls-mismatch"
  | "certificate"
  | "blocked"
  | "other";

/** A failed `fetch` in a few words, and its kind. */
export interface NetworkFailure {
  /** One line: Deno's message without the URL and wrapper text, plus a hint when there is one. */
  reason: string;
  /** What kind of failure it is. */
  kind: NetworkFailureKind;
}

/**
 * Classifies a failed `fetch` and says why it failed in a few words:
 * Deno's message without the URL and wrapper text, e.g. `tcp connect
 * error: Connection refused (os error 111)`, plus a hint for TLS
 * mismatches and untrusted certificates. URLs inside the message are
 * redacted.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { networkFailure } from "./http_errors.ts";
 * const e = new TypeError("fetch failed", { cause: new Error(
 *   "error sending request for url (https://h/v2/): client error (Connect): " +
 *   "received corrupt message of type InvalidContentType") });
 * const f = networkFailure(e, false);
 * assert.ok(f.kind === "tls-mismatch");
 * assert.ok(f.reason.endsWith("(is it a plain HTTP registry? use --plain-http)"));
 * ```
 */
export function networkFailure(err: unknown, plainHttp: boolean): NetworkFailure {
  const parts: string[] = [];
  let cur: unknown = err;
  for (let depth = 0; cur && depth < 5; depth++) {
    if (cur instanceof Error) {
      if (cur.message && cur.message !== "fetch failed") parts.push(cur.message);
      cur = cur.cause;
    } else {
      parts.push(String(cur));
      break;
    }
  }
  let reason = parts.join(": ") || "network error";
  reason = reason.replace(/error sending request for url \([^)]*\):\s*/g, "");
  reason = reason.replace(/client error \([A-Za-z]+\):\s*/g, "");
  reason = reason.replace(/https?:\/\/\S+/g, (m) => redactUrl(m));
  reason = oneLine(reason);
  let kind: NetworkFailureKind = "other";
  if (/connection refused/i.test(reason)) kind = "refused";
  // The fetch standard's bad ports (1, 22, 25, …): never sent, so never worth a retry.
  else if (/requests to port \d+ are blocked/i.test(reason)) kind = "blocked";
  else if (/dns error|failed to lookup address|name or service not known/i.test(reason)) {
    kind = "dns";
  } else if (/invalid peer certificate|certificate/i.test(reason)) {
    kind = "certificate";
    reason +=
      " (trust the registry's CA with --tlscacert <ca.pem>, DENO_CERT=<ca.pem> or the caCerts option)";
  } else if (
    !plainHttp && /corrupt message|InvalidContentType|wrong version number/i.test(reason)
  ) {
    kind = "tls-mismatch";
    reason += " (is it a plain HTTP registry? use --plain-http)";
  }
  return { reason, kind };
}

/**
 * The reason part of {@link networkFailure}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { networkReason } from "./http_errors.ts";
 * const e = new TypeError("fetch failed", { cause: new Error(
 *   "error sending request for url (http://h/v2/): client error (Connect): tcp connect error: Connection refused (os error 111)") });
 * assert.ok(networkReason(e, false) === "tcp connect error: Connection refused (os error 111)");
 * ```
 */
export function networkReason(err: unknown, plainHttp: boolean): string {
  return networkFailure(err, plainHttp).reason;
}

/**
 * A hint for a response that shows the wrong scheme was used: a plain
 * HTTP request answered by a TLS server (Go's `Client sent an HTTP request
 * to an HTTPS server`, nginx's `The plain HTTP request was sent to HTTPS
 * port`); empty when the body says nothing of the sort.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { schemeHint } from "./http_errors.ts";
 * assert.ok(schemeHint(400, "Client sent an HTTP request to an HTTPS server.", true) ===
 *   " (the registry speaks HTTPS: drop --plain-http)");
 * assert.ok(schemeHint(400, "bad digest", true) === "");
 * ```
 */
export function schemeHint(status: number, body: string, plainHttp: boolean): string {
  if (!plainHttp || status !== 400) return "";
  return /HTTP request to an HTTPS server|plain HTTP request was sent to HTTPS port/i.test(body)
    ? " (the registry speaks HTTPS: drop --plain-http)"
    : "";
}
