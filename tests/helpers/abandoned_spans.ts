/**
 * A script that takes the first result of `spans()` over the layers of an
 * OCI layout and then simply stops (no `return()`, no `break`): run as a
 * subprocess by `read_cancel_test.ts`, which checks that the process still
 * exits once its main module ends.
 *
 * Usage: `deno run -A abandoned_spans.ts LAYOUT_REF CONCURRENCY`; prints
 * `first layer: <digest>` then `main ends`.
 *
 * @module
 */
import { OciLayoutSource } from "../../lib/image/oci_layout.ts";
import { layers } from "../../lib/stages/layers.ts";
import { spans } from "../../lib/stages/spans.ts";

const [ref, concurrency] = Deno.args;
const image = OciLayoutSource.fromReference(ref);
const it = spans(layers(image, { minLayerSize: 0 }), { concurrency: Number(concurrency) });
const first = await it.next();
if (first.done) throw new Error("no layer");
console.log(`first layer: ${first.value.layer.descriptor.digest}`);
console.log("main ends");
