/**
 * Registry image references `HOST[:PORT]/REPO[:TAG|@DIGEST]` (containerd
 * style: the host is always required), parsed and validated with the
 * grammar of the OCI distribution reference (lowercase path components,
 * tag pattern, digest via {@link parseDigest}).
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import { parseDigest } from "./digest.ts";

/** A parsed registry reference. */
export interface DockerReference {
  /** Registry host with optional port, e.g. `127.0.0.1:5000`, `ghcr.io`. */
  registry: string;
  /** Repository path inside the registry, e.g. `library/alpine`. */
  repository: string;
  /** Tag, when one was written. */
  tag?: string;
  /** Digest, when one was written (wins over the tag for fetching). */
  digest?: string;
}

const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const HOST_RE = new RegExp(
  `^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:.]+\\])(?::[0-9]{1,5})?$`,
);
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const NAME_MAX = 255;

/** Prefix of the skopeo-style registry transport. */
export const DOCKER_TRANSPORT = "docker://";

function bad(text: string, why: string): BadInputError {
  return new BadInputError(`invalid reference "${text}": ${why}`);
}

/** True when `text` is a well-formed digest. */
function isDigest(text: string): boolean {
  try {
    parseDigest(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * True when the `@` of `rest` (without transport) is a `user[:password]@`
 * in front of the host rather than the start of a digest: the text after
 * it goes on with a path (digests have no `/`), or nothing before it is a
 * path and what follows is not a digest (`alice:pw@host`).
 */
function hasUserInfo(rest: string): boolean {
  const at = rest.indexOf("@");
  if (at < 0) return false;
  const before = rest.slice(0, at);
  const after = rest.slice(at + 1);
  return after.includes("/") || (!before.includes("/") && !isDigest(after));
}

/**
 * Parses `HOST[:PORT]/REPO[:TAG|@DIGEST]` (an optional `docker://` prefix is
 * accepted and dropped; `docker.io/NAME` becomes `docker.io/library/NAME`).
 * Throws {@link BadInputError} with a message naming the reference and what
 * is wrong with it, except for references carrying credentials
 * (`user:password@host/…`): those are refused without repeating the text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDockerReference } from "./reference.ts";
 * const r = parseDockerReference("docker://127.0.0.1:5000/team/app:v1");
 * assert.ok(r.registry === "127.0.0.1:5000" && r.repository === "team/app");
 * assert.ok(r.tag === "v1" && r.digest === undefined);
 * ```
 */
export function parseDockerReference(text: string): DockerReference {
  let rest = text.startsWith(DOCKER_TRANSPORT) ? text.slice(DOCKER_TRANSPORT.length) : text;
  if (rest === "") throw bad(text, "empty reference");
  if (hasUserInfo(rest)) {
    // Never echoed: the text holds a password.
    throw new BadInputError("credentials in image references are not supported; use --user");
  }
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    const d = rest.slice(at + 1);
    try {
      digest = parseDigest(d);
    } catch (e) {
      throw bad(text, `invalid digest "${d}": ${(e as Error).message}`);
    }
    rest = rest.slice(0, at);
  }
  const slash = rest.indexOf("/");
  if (slash < 0) {
    throw bad(text, "missing registry host (expected HOST[:PORT]/REPO[:TAG|@DIGEST])");
  }
  const registry = rest.slice(0, slash);
  let path = rest.slice(slash + 1);
  let tag: string | undefined;
  const colon = path.lastIndexOf(":");
  if (colon >= 0) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
    if (!TAG_RE.test(tag)) throw bad(text, `invalid tag "${tag}"`);
  }
  if (registry === "" || !HOST_RE.test(registry)) {
    throw bad(text, `invalid registry host "${registry}"`);
  }
  if (path === "") throw bad(text, "missing repository name");
  for (const component of path.split("/")) {
    if (!PATH_COMPONENT_RE.test(component)) {
      if (PATH_COMPONENT_RE.test(component.toLowerCase())) {
        throw bad(text, `repository name "${path}" must be lowercase`);
      }
      throw bad(text, `invalid repository name "${path}"`);
    }
  }
  if (registry.length + 1 + path.length > NAME_MAX) {
    throw bad(text, `repository name longer than ${NAME_MAX} characters`);
  }
  // Docker Hub's official images live under `library/`.
  const repository = registry === "docker.io" && !path.includes("/") ? `library/${path}` : path;
  const ref: DockerReference = { registry, repository };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/**
 * Formats a reference back to `HOST/REPO[:TAG][@DIGEST]` (no transport
 * prefix).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatReference } from "./reference.ts";
 * assert.ok(formatReference({ registry: "r:5000", repository: "a/b", tag: "v1" }) ===
 *   "r:5000/a/b:v1");
 * ```
 */
export function formatReference(ref: DockerReference): string {
  let s = `${ref.registry}/${ref.repository}`;
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/**
 * The reference with tag `latest` when it has neither a tag nor a digest
 * (the name `create docker://HOST/REPO` records the image under).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatReference, parseDockerReference, withDefaultTag } from "./reference.ts";
 * const ref = withDefaultTag(parseDockerReference("docker://r:5000/app"));
 * assert.ok(formatReference(ref) === "r:5000/app:latest");
 * ```
 */
export function withDefaultTag(ref: DockerReference): DockerReference {
  if (ref.tag !== undefined || ref.digest !== undefined) return { ...ref };
  return { ...ref, tag: "latest" };
}

/**
 * What to ask the registry for: the digest when there is one, else the tag,
 * else `latest`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { referenceTarget } from "./reference.ts";
 * assert.ok(referenceTarget({ registry: "h", repository: "r" }) === "latest");
 * ```
 */
export function referenceTarget(ref: DockerReference): string {
  return ref.digest ?? ref.tag ?? "latest";
}
