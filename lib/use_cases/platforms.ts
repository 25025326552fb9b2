/**
 * Which platforms of an image a command works on, and their manifests —
 * one rule for `create`, `convert`, `push` and `index list --ref`:
 *
 * * `--all-platforms`: every platform the image lists;
 * * `--platform P…`: those, de-duplicated (strict, normalized);
 * * neither: a single-manifest image's own platform (from its config), an
 *   index's host platform (upstream's default).
 *
 * A single-manifest image is indexed for its own platform only: asking for
 * another one finds nothing (`image manifest for linux/arm64: not found
 * (the image is linux/amd64)`), so an amd64 image is never recorded as
 * arm64. (Upstream accepts any platform for such an image and records the
 * one asked for.)
 *
 * @module
 */
import { NotFoundError } from "../errors.ts";
import { imagePlatforms, type SelectedManifest, selectManifest } from "../image/select.ts";
import type { ImageSource } from "../image/source.ts";
import type { Descriptor, Platform } from "../oci/descriptor.ts";
import { isIndexType } from "../oci/media_types.ts";
import { dedupePlatforms, formatPlatform, hostPlatform, platformMatches } from "../oci/platform.ts";

/** What was asked for: explicit platforms, `all`, or the default (`undefined`). */
export type PlatformChoice = Platform[] | "all" | undefined;

/** A platform and its image manifest. */
export interface PlatformManifest {
  /** The platform as it is recorded: as asked for, or for a single manifest its own. */
  platform: Platform;
  /** The selected manifest. */
  manifest: SelectedManifest;
}

/** A platform that the image does not have. */
export interface MissingPlatform {
  /** The platform asked for. */
  platform: Platform;
  /** `NotFoundError` saying so. */
  error: NotFoundError;
}

/**
 * The platforms to work on (see the module documentation).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { choosePlatforms } from "./platforms.ts";
 * import { OciLayoutSource } from "../image/oci_layout.ts";
 * const image = OciLayoutSource.fromReference("oci:./fixtures/sample-image:latest");
 * const target = await image.resolve();
 * // a single-manifest image: its own platform, whatever the host
 * assert.deepEqual(await choosePlatforms(image, target, undefined), await choosePlatforms(image, target, "all"));
 * ```
 */
export async function choosePlatforms(
  source: ImageSource,
  target: Descriptor,
  choice: PlatformChoice,
): Promise<Platform[]> {
  if (choice === "all") return await imagePlatforms(source, target);
  if (choice !== undefined) return dedupePlatforms(choice);
  if (isIndexType(target.mediaType)) return [hostPlatform()];
  const own = await imagePlatforms(source, target);
  return own.length > 0 ? [own[0]] : [hostPlatform()];
}

/**
 * The manifest of each platform; the platforms the image lacks come back
 * apart, each with its `NotFoundError` (other errors are thrown).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolvePlatforms } from "./platforms.ts";
 * import { OciLayoutSource } from "../image/oci_layout.ts";
 * const image = OciLayoutSource.fromReference("oci:./fixtures/sample-image:latest");
 * const target = await image.resolve();
 * const { found, missing } = await resolvePlatforms(image, target, [
 *   { os: "linux", architecture: "amd64" },
 *   { os: "linux", architecture: "s390x" },
 * ]);
 * assert.equal(found.length, 1);
 * assert.match(missing[0].error.message, /linux\/s390x: not found \(the image is linux\/amd64\)/);
 * ```
 */
export async function resolvePlatforms(
  source: ImageSource,
  target: Descriptor,
  platforms: Platform[],
): Promise<{ found: PlatformManifest[]; missing: MissingPlatform[] }> {
  const found: PlatformManifest[] = [];
  const missing: MissingPlatform[] = [];
  const single = !isIndexType(target.mediaType);
  // A single manifest's own platform: its descriptor's, else its config's.
  const own = single ? target.platform ?? (await imagePlatforms(source, target))[0] : undefined;
  for (const platform of platforms) {
    try {
      if (own !== undefined && !platformMatches(platform, own)) {
        throw new NotFoundError(
          `image manifest for ${formatPlatform(platform)}: not found ` +
            `(the image is ${formatPlatform(own)})`,
        );
      }
      const manifest = await selectManifest(source, target, platform);
      if (!single || own === undefined) found.push({ platform, manifest });
      else found.push({ platform: own, manifest: { ...manifest, platform: own } });
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
      missing.push({ platform, error: e });
    }
  }
  return { found, missing };
}
