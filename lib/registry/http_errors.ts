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
 * The reason of a failed `fetch` in a few words: Deno's message without the
 * URL and wrapper text, e.g. `tcp connect error: Connection refused (os
 * error 111)`, plus a hint for TLS mismatches.
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
  if (/invalid peer certificate|certificate/i.test(reason)) {
    reason += " (trust the registry's CA with DENO_CERT=<ca.pem> or the caCerts option)";
  } else if (
    !plainHttp && /corrupt message|InvalidContentType|wrong version number/i.test(reason)
  ) {
    reason += " (is it a plain HTTP registry? use --plain-http)";
  }
  return reason;
}
