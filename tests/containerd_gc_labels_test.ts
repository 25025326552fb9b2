// GC labels for documents the containerd image writer finds in containerd
// (`missingGcLabels`), and the labels of the documents a SOCI-enabled image
// is made of (`documentGcLabels`), on JSON written out here by hand.
import assert from "node:assert/strict";
import { documentGcLabels, missingGcLabels } from "../lib/containerd/gc_labels.ts";

const P = "containerd.io/gc.ref.content.";
const d = (c: string) => `sha256:${c.repeat(64)}`;
const ENC = new TextEncoder();

Deno.test("missingGcLabels: nothing when every child is referenced, whatever the key", () => {
  const wanted = { [`${P}config`]: d("c"), [`${P}l.0`]: d("1"), [`${P}l.1`]: d("2") };
  assert.deepEqual(missingGcLabels(wanted, wanted), {});
  // containerd numbers children of unknown types under plain numbers.
  assert.deepEqual(
    missingGcLabels({ [`${P}config`]: d("c"), [`${P}0`]: d("1"), [`${P}1`]: d("2") }, wanted),
    {},
  );
});

Deno.test("missingGcLabels: missing references are added; taken keys get a suffix; nothing is removed", () => {
  const existing = {
    [`${P}l.0`]: d("9"),
    [`${P}l.0.1`]: d("8"),
    "x.test/other": d("1"), // not a GC reference: does not keep 1
  };
  const wanted = { [`${P}config`]: d("c"), [`${P}l.0`]: d("1"), [`${P}l.1`]: d("2") };
  assert.deepEqual(missingGcLabels(existing, wanted), {
    [`${P}config`]: d("c"),
    [`${P}l.0.2`]: d("1"),
    [`${P}l.1`]: d("2"),
  });
  // One digest wanted under two keys is referenced once.
  assert.deepEqual(missingGcLabels({}, { [`${P}m.0`]: d("1"), [`${P}m.1`]: d("1") }), {
    [`${P}m.0`]: d("1"),
  });
});

Deno.test("documentGcLabels: the documents of a SOCI-enabled image (index, rewritten manifest, v2 SOCI index)", () => {
  const index = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",` +
    `"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"${
      d("a")
    }","size":9,"platform":{"architecture":"amd64","os":"linux"}},` +
    `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"${
      d("b")
    }","size":9,"artifactType":"application/vnd.amazon.soci.index.v2+json"}]}`;
  assert.deepEqual(documentGcLabels(ENC.encode(index)), {
    kind: "index",
    labels: { [`${P}m.0`]: d("a"), [`${P}m.1`]: d("b") },
  });
  const manifest = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
    `"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"${
      d("c")
    }","size":2},` +
    `"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"${
      d("1")
    }","size":3}],"annotations":{"com.amazon.soci.index-digest":"${d("b")}"}}`;
  assert.deepEqual(documentGcLabels(ENC.encode(manifest)), {
    kind: "manifest",
    labels: { [`${P}config`]: d("c"), [`${P}l.0`]: d("1") },
  });
  const soci = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
    `"config":{"mediaType":"application/vnd.amazon.soci.index.v2+json","digest":"${
      d("e")
    }","size":2},` +
    `"layers":[{"mediaType":"application/octet-stream","digest":"${d("z")}","size":3},` +
    `{"mediaType":"application/vnd.amazon.soci.prefetch.v1+json","digest":"${d("f")}","size":3}]}`;
  assert.deepEqual(documentGcLabels(ENC.encode(soci)), {
    kind: "soci-index",
    labels: { [`${P}config`]: d("e"), [`${P}ztoc.0`]: d("z"), [`${P}ztoc.1`]: d("f") },
  });
});
