/**
 * A process for the SIGKILL test: inside a lease that expires after
 * `EXPIRY_MS`, it commits one small blob, then starts writing a large one
 * that never ends, prints `READY <lease> <committed digest>` once part of
 * the large blob is in containerd's ingest, and waits to be killed.
 *
 * Usage: `deno run -A containerd_killed_writer.ts SOCKET EXPIRY_MS`
 *
 * @module
 */
import { ContainerdClient } from "../../lib/containerd/client.ts";
import { ContainerdContent } from "../../lib/containerd/content.ts";
import { withLease } from "../../lib/containerd/leases.ts";
import { sha256Digest } from "../../lib/oci/digest.ts";

const [socket, expiry] = Deno.args;
const client = new ContainerdClient({ address: socket });
const small = new TextEncoder().encode(`committed before the kill ${Date.now()}\n`);
const smallDigest = sha256Digest(small);

await withLease(client, async (leased, lease) => {
  const content = new ContainerdContent(leased);
  await content.write({ digest: smallDigest, size: small.length }, small);
  const size = 64 << 20;
  let sent = 0;
  async function* endless(): AsyncGenerator<Uint8Array> {
    const piece = new Uint8Array(1 << 20).fill(7);
    for (;;) {
      yield piece;
      sent += piece.length;
      if (sent === 4 << 20) {
        console.log(`READY ${lease.id} ${smallDigest}`);
        // Hold the write open (a large blob whose source stalls) until killed.
        setInterval(() => {}, 1000);
        await new Promise(() => {});
      }
    }
  }
  await content.write({ digest: "sha256:" + "e".repeat(64), size }, endless());
}, { expireAfterMs: Number(expiry) });
