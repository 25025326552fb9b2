/**
 * A layer on its way through the stages: its descriptor, its place in the
 * manifest, how the zTOC sees its compression, and how to read its bytes.
 * Image sources produce layers (`layers()` in `stages/`); a layer file is
 * one too (`file_layer.ts`).
 *
 * @module
 */
import type { Descriptor } from "../oci/descriptor.ts";
import type { LayerCompression } from "../ztoc/scan.ts";
import type { SelectedManifest } from "./select.ts";

export type { LayerCompression } from "../ztoc/scan.ts";

/** One image layer (or a layer file). */
export interface Layer {
  /** The layer's descriptor (for a local file: the digest is only known after the scan). */
  descriptor: Descriptor;
  /** Position among the manifest's layers. */
  index: number;
  /** Compression as the zTOC sees it; `detect` sniffs the bytes (layer files). */
  compression: LayerCompression | "detect";
  /** The image manifest the layer belongs to, when it comes from an image. */
  image?: SelectedManifest;
  /**
   * Streams the layer's bytes from the first. Chunks may be buffers the
   * source reuses: each is only valid until the next is asked for.
   */
  open(): Promise<AsyncIterable<Uint8Array>>;
}
