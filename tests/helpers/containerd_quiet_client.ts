/**
 * A process for the "quiet client" test: uses the containerd client
 * (a call, a failing call, a stream left early, a refused connection, a
 * socket that never answers) and ends without closing anything, printing
 * only `done` on stdout. The test checks that it exits by itself and that
 * grpc-js printed nothing.
 *
 * Usage: `deno run -A containerd_quiet_client.ts SOCKET DIGEST STALE_SOCKET SILENT_SOCKET`
 *
 * @module
 */
import { ContainerdClient } from "../../lib/containerd/client.ts";
import { ContainerdContent } from "../../lib/containerd/content.ts";
import { ContainerdImages } from "../../lib/containerd/images.ts";

const client = new ContainerdClient({ address: Deno.args[0] });
await client.version();
await new ContainerdImages(client).get("docker.io/library/none:1").catch(() => {});
const content = new ContainerdContent(client);
const blob = new TextEncoder().encode("x".repeat(3 << 20));
const { digest } = await content.write(
  { digest: Deno.args[1], size: blob.length },
  blob,
  { labels: { "containerd.io/gc.root": "quiet" } },
);
for await (const _ of content.read(digest)) break;
const refused = new ContainerdClient({ address: Deno.args[2] });
await refused.version().catch(() => {});
const silent = new ContainerdClient({ address: Deno.args[3], connectTimeoutMs: 200 });
await silent.version().catch(() => {});
console.log("done");
