/**
 * Image names as containerd and nerdctl normalize them before looking an
 * image record up: `app:1` → `docker.io/library/app:1`, `user/app` →
 * `docker.io/user/app:latest`, `index.docker.io/x` → `docker.io/library/x:latest`;
 * a first component with a `.` or `:`, or `localhost`, is a host and is
 * kept (`127.0.0.1:5000/app` → `127.0.0.1:5000/app:latest`). A name with a
 * digest keeps only the digest (`app:1@sha256:…` → `docker.io/library/app@sha256:…`).
 *
 * @module
 */
import { BadInputError, errorMessage } from "../errors.ts";
import { formatReference, parseDockerReference } from "../oci/reference.ts";

/** The registry of names written without one. */
export const DEFAULT_DOMAIN = "docker.io";
const LEGACY_DOMAIN = "index.docker.io";

/**
 * Splits a name into its registry host and the rest, the way Docker's
 * reference library does: the first component is a host when it contains
 * `.` or `:`, is `localhost`, or has uppercase letters; else the host is
 * `docker.io`.
 */
function splitDomain(name: string): { domain: string; remainder: string } {
  const i = name.indexOf("/");
  const first = i < 0 ? "" : name.slice(0, i);
  if (
    i < 0 ||
    (!/[.:]/.test(first) && first !== "localhost" && first.toLowerCase() === first)
  ) {
    return { domain: DEFAULT_DOMAIN, remainder: name };
  }
  const domain = first === LEGACY_DOMAIN ? DEFAULT_DOMAIN : first;
  return { domain, remainder: name.slice(i + 1) };
}

/**
 * The fully qualified name containerd stores an image under: host added
 * (`docker.io`, with `library/` for one-component names), `:latest` added
 * when there is neither tag nor digest, the tag dropped when there is a
 * digest. Malformed names are a `BadInputError` naming the input.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { normalizeImageName } from "./names.ts";
 * assert.equal(normalizeImageName("app:1"), "docker.io/library/app:1");
 * assert.equal(normalizeImageName("user/app"), "docker.io/user/app:latest");
 * assert.equal(normalizeImageName("127.0.0.1:5000/team/app"), "127.0.0.1:5000/team/app:latest");
 * assert.equal(normalizeImageName("localhost/app:v2"), "localhost/app:v2");
 * assert.equal(normalizeImageName("index.docker.io/nginx"), "docker.io/library/nginx:latest");
 * assert.throws(() => normalizeImageName("App:1"), /must be lowercase/);
 * ```
 */
export function normalizeImageName(name: string): string {
  if (name === "") throw new BadInputError("image name must not be empty");
  if (/^[a-f0-9]{64}$/.test(name)) {
    throw new BadInputError(
      `invalid image name "${name}": cannot specify 64-byte hexadecimal strings`,
    );
  }
  const { domain, remainder } = splitDomain(name);
  let ref;
  try {
    ref = parseDockerReference(`${domain}/${remainder}`);
  } catch (e) {
    const text = errorMessage(e);
    const why = text.includes('": ') ? text.slice(text.indexOf('": ') + 3) : text;
    throw new BadInputError(`invalid image name "${name}": ${why}`, { cause: e });
  }
  if (ref.digest !== undefined) delete ref.tag;
  else if (ref.tag === undefined) ref.tag = "latest";
  return formatReference(ref);
}

/**
 * True when `name` is already in normalized form (normalizing it changes
 * nothing); false for short or malformed names.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isNormalizedImageName } from "./names.ts";
 * assert.ok(isNormalizedImageName("docker.io/library/app:1"));
 * assert.ok(!isNormalizedImageName("app:1"));
 * assert.ok(!isNormalizedImageName("Not A Name"));
 * ```
 */
export function isNormalizedImageName(name: string): boolean {
  try {
    return normalizeImageName(name) === name;
  } catch {
    return false;
  }
}
