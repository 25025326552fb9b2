/**
 * The prefetch stage (`soci-format.md` §6, experimental upstream): passes
 * the layers on and, from the TOC of every layer that has a zTOC (built or
 * reused), finds the requested paths — the topmost layer that has a path
 * wins — so that once the last layer is through, {@link PrefetchStage.blobs}
 * gives one prefetch artifact per layer that got span ranges, for
 * `index({ prefetch })`.
 *
 * @module
 */
import { type PrefetchBlob, PrefetchSearch } from "../soci/prefetch.ts";
import { decodeZtoc } from "../ztoc/codec.ts";
import {
  type IndexedLayer,
  isIterable,
  type LayerResult,
  type StageInput,
  type ZtocBlob,
} from "./layer_result.ts";
import type { ZtocOutput } from "./ztoc.ts";

/** Options of {@link prefetch}. */
export interface PrefetchOptions {
  /** Loads a reused zTOC's bytes (its TOC is searched too); needed when zTOCs are reused. */
  loadZtoc?: (blob: ZtocBlob) => Promise<Uint8Array>;
}

/** A prefetch stage: the stage function, and what it found once its input is done. */
export interface PrefetchStage {
  /** Passes the layers of `input` on, searching their TOCs. */
  (input: StageInput<ZtocOutput>): AsyncGenerator<ZtocOutput>;
  /** One prefetch artifact per layer with ranges, in layer order (after the input is done). */
  blobs(): PrefetchBlob[];
  /** The requested paths that no layer has (upstream warns about each). */
  missing(): string[];
  /** The paths searched for, normalized. */
  readonly paths: readonly string[];
}

/**
 * A prefetch stage for `paths` (see the module documentation). With no
 * paths it passes the layers on and finds nothing. A layer whose zTOC
 * cannot be read fails (its result carries the error).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileLayer } from "../image/file_layer.ts";
 * import { index } from "./index.ts";
 * import { prefetch } from "./prefetch.ts";
 * import { spans } from "./spans.ts";
 * import { ztoc } from "./ztoc.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.mkdir(`${dir}/etc`);
 * await Deno.writeTextFile(`${dir}/etc/os-release`, "ID=test\n");
 * const tar = `${dir}/layer.tar`;
 * await new Deno.Command("tar", { args: ["-cf", tar, "-C", dir, "etc"] }).output();
 * const pf = prefetch(["/etc/os-release", "/nowhere"]);
 * const soci = await index(pf(ztoc(spans([{ layer: await fileLayer(tar) }], { concurrency: 0 }))),
 *   { version: 2, prefetch: () => pf.blobs() });
 * assert.equal(soci.manifest.layers.length, 2); // the zTOC, then the prefetch artifact
 * assert.equal(soci.manifest.layers[1].mediaType, "application/vnd.amazon.soci.prefetch.v1+json");
 * assert.deepEqual(pf.missing(), ["nowhere"]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function prefetch(paths: readonly string[], options: PrefetchOptions = {}): PrefetchStage {
  const search = new PrefetchSearch(paths);
  let done = false;
  const stage = async function* (input: StageInput<ZtocOutput>): AsyncGenerator<ZtocOutput> {
    if (!isIterable<ZtocOutput>(input)) throw new TypeError("prefetch: the stage needs an input");
    for await (const r of input) {
      const g = r as LayerResult;
      if (search.paths.length === 0 || g.skip !== undefined || g.error !== undefined) {
        yield r;
        continue;
      }
      const l = r as IndexedLayer;
      try {
        const z = l.ztoc.ztoc ?? decodeZtoc(l.ztoc.bytes ?? await load(options, l.ztoc));
        search.addLayer(l.layer.index, l.layer.descriptor.digest, z);
        yield r;
      } catch (e) {
        yield { layer: l.layer, error: e as Error };
      }
    }
    done = true;
  };
  const out = stage as PrefetchStage;
  out.blobs = () => {
    if (!done && search.paths.length > 0) {
      throw new Error("prefetch: blobs() asked for before every layer came through");
    }
    return search.blobs();
  };
  out.missing = () => search.missing();
  Object.defineProperty(out, "paths", { get: () => search.paths });
  return out;
}

function load(options: PrefetchOptions, blob: ZtocBlob): Promise<Uint8Array> {
  if (!options.loadZtoc) {
    throw new Error(`prefetch: zTOC ${blob.digest} was reused but no loadZtoc was given`);
  }
  return options.loadZtoc(blob);
}
