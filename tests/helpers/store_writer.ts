/**
 * Child process used by the store concurrency test:
 * `deno run -A store_writer.ts <root> <name> <count>` commits `<count>`
 * transactions on `<root>`, each storing one SOCI-index-like blob
 * `{"writer":"<name>","n":<i>}` (listed in index.json and recorded in the
 * DB), the shared `{}` blob, and every 10th one a tag `<name>-<i>`.
 * Prints `done <name>` at the end.
 *
 * @module
 */
import { LocalStore } from "../../lib/store/local_store.ts";

const [root, name, countText] = Deno.args;
const count = Number(countText);
const enc = new TextEncoder();
const store = LocalStore.open(root);
for (let i = 0; i < count; i++) {
  const tx = store.begin();
  const blob = await tx.putBlob(enc.encode(JSON.stringify({ writer: name, n: i })));
  await tx.putBlob(enc.encode("{}"));
  const desc = {
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    ...blob,
    artifactType: "application/vnd.amazon.soci.index.v1+json",
  };
  tx.addIndex(desc);
  if (i % 10 === 0) tx.tagImage(`${name}-${i}`, desc, { "x.writer": name });
  tx.putRecord({
    ...blob,
    location: "",
    originalDigest: "",
    imageDigest: "",
    platform: "linux/amd64",
    type: "soci_index",
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    artifactType: "application/vnd.amazon.soci.index.v1+json",
    spanSize: 0,
    createdAt: new Date(),
  });
  await tx.commit();
}
store.close();
console.log(`done ${name}`);
