/**
 * A separate process that pushes one SOCI index, for race tests:
 * `deno run -A registry_push_worker.ts '<json>'` with
 * `{"host","repo","index":{mediaType,digest,size},"blobsDir"}`; blobs are
 * read from `<blobsDir>/<hex>`. Prints the push result as JSON.
 *
 * @module
 */
import { join } from "node:path";
import { RegistryClient } from "../../lib/registry/client.ts";
import { pushIndex } from "../../lib/registry/push.ts";

if (import.meta.main) {
  const args = JSON.parse(Deno.args[0]);
  const client = new RegistryClient(args.host, { plainHttp: true });
  try {
    const result = await pushIndex(
      client,
      args.repo,
      args.index,
      (d) => Deno.readFile(join(args.blobsDir, d.digest.slice(d.digest.indexOf(":") + 1))),
      { concurrency: 3 },
    );
    console.log(JSON.stringify(result));
  } finally {
    client.close();
  }
}
