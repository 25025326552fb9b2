/**
 * A process for the SIGKILL test of the containerd image writer: opens a
 * writer for `containerd:NAME`, writes one blob of random bytes through it
 * (a layer streamed in two chunks), prints `READY <digest>` and waits to
 * be killed, its lease still there.
 *
 * Usage: `deno run -A containerd_writer_killer.ts SOCKET NAMESPACE NAME`
 *
 * @module
 */
import { createHash } from "node:crypto";
import { ContainerdImageWriter } from "../../lib/image/containerd_writer.ts";

const [socket, namespace, name] = Deno.args;
const writer = await ContainerdImageWriter.open(`containerd:${name}`, {
  address: socket,
  namespace,
});
const bytes = crypto.getRandomValues(new Uint8Array(60_000));
const digest = "sha256:" + createHash("sha256").update(bytes).digest("hex");
const sink = await writer.openBlob({
  mediaType: "application/vnd.oci.image.layer.v1.tar",
  digest,
  size: bytes.length,
});
await sink.write(bytes.subarray(0, 30_000));
await sink.write(bytes.subarray(30_000));
await sink.commit();
console.log(`READY ${digest}`);
setInterval(() => {}, 1000);
