import assert from "node:assert/strict";
import { BadInputError } from "../lib/errors.ts";
import { isLayerMediaType, layerCompression } from "../lib/oci/layer_types.ts";
import { catchError } from "./helpers/oci_fixtures.ts";

Deno.test("isLayerMediaType: soci-cli §11.2 item 3 and soci-format §7.3 item 2", () => {
  for (
    const mt of [
      "",
      "application/vnd.oci.image.manifest.v1+json",
      "application/octet-stream",
      "application/vnd.amazon.soci.prefetch.v1+json",
      "application/vnd.oci.image.config.v1+json",
      "application/vnd.docker.image.rootfs.diff.tar.bz2",
      "application/vnd.oci.image.layer", // no trailing dot
    ]
  ) {
    assert.equal(isLayerMediaType(mt), false, mt);
  }
  for (
    const mt of [
      "application/vnd.oci.image.layer.v1.tar",
      "application/vnd.docker.image.rootfs.diff.tar",
      "application/vnd.oci.image.layer.v1.tar+gzip",
      "application/vnd.oci.image.layer.v1.tar+zstd",
      "application/vnd.oci.image.layer.",
      "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
      "application/vnd.docker.image.rootfs.diff.tar.gzip",
      "application/vnd.docker.image.rootfs.diff.tar.zstd",
      "application/vnd.docker.image.rootfs.foreign.diff.tar",
      "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
      "application/vnd.docker.image.rootfs.diff.tar.gzip+encrypted",
    ]
  ) {
    assert.equal(isLayerMediaType(mt), true, mt);
  }
});

Deno.test("layerCompression: the table of soci-format §7.3 item 4", () => {
  const cases: Array<[string, string]> = [
    ["application/vnd.oci.image.layer.v1.tar", "uncompressed"],
    ["application/vnd.oci.image.layer.v1.tar+gzip", "gzip"],
    ["application/vnd.oci.image.layer.v1.tar+zstd", "zstd"],
    // suffixes are sorted and the last one decides
    ["application/vnd.oci.image.layer.v1.tar+zstd+gzip", "zstd"],
    ["application/vnd.oci.image.layer.v1.tar+encrypted+gzip", "gzip"],
    ["application/vnd.oci.image.layer.v1.tar+foo", ""],
    ["application/vnd.oci.image.layer.nondistributable.v1.tar", ""],
    ["application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", "gzip"],
    ["application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", "zstd"],
    ["application/vnd.docker.image.rootfs.diff.tar.gzip", "gzip"],
    ["application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "gzip"],
    ["application/vnd.docker.image.rootfs.diff.tar", "unknown"],
    ["application/vnd.docker.image.rootfs.foreign.diff.tar", "unknown"],
    ["application/vnd.docker.image.rootfs.diff.tar.zstd", "zstd"],
    ["application/vnd.docker.image.rootfs.diff.tar.gzip+encrypted", ""],
    ["application/vnd.docker.image.rootfs.diff.tar+gzip", ""],
    ["application/vnd.docker.image.rootfs.diff.tar.zstd+x", ""],
  ];
  for (const [mt, want] of cases) assert.equal(layerCompression(mt), want, mt);
});

Deno.test("layerCompression: unrecognised base media types are errors", () => {
  for (
    const mt of [
      "application/vnd.oci.image.layer.",
      "application/vnd.oci.image.layer.v1.tar.gzip",
      "application/octet-stream",
      "",
    ]
  ) {
    const err = catchError(() => layerCompression(mt), BadInputError);
    assert.equal(
      err.message,
      `could not determine layer compression: unrecognised mediatype ${mt}`,
    );
  }
});
