/**
 * A process for the containerd-store crash tests: `create` of the image
 * `IMAGE` (in containerd) into the containerd store of `ROOT`, which kills
 * itself with SIGKILL at `STEP`:
 *
 * - `ztoc`: right after the first zTOC is written into containerd;
 * - a commit step (`pending`, `blobs`, `db`, `committed`, `index`);
 * - `hold`: prints `READY` after the first zTOC and waits to be killed.
 *
 * Usage: `deno run -A containerd_store_killer.ts ROOT SOCKET NAMESPACE IMAGE STEP`
 *
 * @module
 */
import { ContainerdSource } from "../../lib/image/containerd_source.ts";
import type { ArtifactTransaction, CommitStep } from "../../lib/store/artifact_store.ts";
import { ContainerdStore } from "../../lib/store/containerd_store.ts";
import { createIndexes } from "../../lib/use_cases/create.ts";

const [root, socket, namespace, image, step] = Deno.args;
const store = ContainerdStore.open(root, { address: socket, namespace });
const begin = store.begin.bind(store);
store.begin = (): ArtifactTransaction => {
  const tx = begin({
    onStep: (s: CommitStep) => {
      if (s === step) Deno.kill(Deno.pid, "SIGKILL");
    },
  });
  const putBlob = tx.putBlob.bind(tx);
  tx.putBlob = async (bytes, expected) => {
    const info = await putBlob(bytes, expected);
    const isZtoc = bytes[0] !== 0x7b; // documents are JSON objects; zTOCs are flatbuffers
    if (isZtoc && step === "ztoc") Deno.kill(Deno.pid, "SIGKILL");
    if (isZtoc && step === "hold") {
      console.log("READY");
      setInterval(() => {}, 1000);
      await new Promise(() => {});
    }
    return info;
  };
  return tx;
};
const source = new ContainerdSource(image, { client: store.client });
await createIndexes(source, store, { minLayerSize: 0, concurrency: 1 });
console.log("NOT KILLED");
store.close();
