/**
 * Child process of the store kill tests: runs one store operation through
 * the library and, when the commit reaches `step`, prints `at <step>` and
 * blocks its thread (synchronously, so that even a step inside the SQLite
 * transaction is held there) until the parent SIGKILLs it.
 *
 * `deno run -A store_killer.ts <root> create <step> <image-ref>`
 * `deno run -A store_killer.ts <root> rm <step> <index-digest>`
 * `deno run -A store_killer.ts <root> rebuild <step>`
 *
 * With step `none` the operation runs to its end and prints `done`.
 *
 * @module
 */
import { openImage } from "../../lib/image/open.ts";
import type { TransactionOptions } from "../../lib/store/artifact_store.ts";
import { LocalStore } from "../../lib/store/local_store.ts";
import { createIndexes } from "../../lib/use_cases/create.ts";
import { rebuildDb } from "../../lib/use_cases/rebuild.ts";
import { removeIndexes } from "../../lib/use_cases/remove.ts";

const [root, op, step, arg] = Deno.args;
const enc = new TextEncoder();

function hold(s: string): void {
  if (s !== step) return;
  Deno.stdout.writeSync(enc.encode(`at ${s}\n`));
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); // until SIGKILL
}

const store = LocalStore.open(root);
const begin = store.begin.bind(store);
store.begin = (o: TransactionOptions = {}) => begin({ ...o, onStep: hold });

if (op === "create") {
  await createIndexes(await openImage(arg, { store }), store, {
    minLayerSize: 0,
    spanSize: 1 << 16,
    concurrency: 0,
  });
} else if (op === "rm") {
  await removeIndexes(store, [arg]);
} else if (op === "rebuild") {
  await rebuildDb(store, { onStep: hold });
} else {
  throw new Error(`unknown op ${op}`);
}
store.close();
console.log("done");
