/**
 * `soci ztoc get-file [-o OUT] [--layer FILE] <ztoc-file | digest> <path>`:
 * one file's bytes, decompressing only the spans that hold it.
 *
 * @module
 */
import { BadInputError, NotFoundError, UsageError } from "../errors.ts";
import type { RangeReader } from "../ztoc/extract.ts";
import type { Command } from "./command.ts";
import { outputFlag, registryFlags, registryOptions } from "./flags.ts";

/** The chunks of `source`, failing with the signal's reason once it aborts. */
async function* stoppable(
  source: AsyncIterable<Uint8Array>,
  signal: AbortSignal | undefined,
): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    signal?.throwIfAborted();
    yield chunk;
  }
}

/**
 * Checks `--layer PATH` before anything is read: a directory is
 * `--layer PATH: is a directory`, a missing path `--layer PATH: no such file`.
 */
async function checkLayerFile(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new NotFoundError(`--layer ${path}: no such file`);
    throw e;
  }
  if (info.isDirectory) throw new BadInputError(`--layer ${path}: is a directory`);
}

/** The `ztoc get-file` command. */
export const ztocGetFileCommand: Command = {
  name: "get-file",
  usage: "print one file of a layer, read through its zTOC",
  argsUsage: "<ztoc-file | digest> <path>",
  description: "Only the spans holding the file are read and decompressed, and their digests " +
    "are checked. Links are followed. The output is exactly the file's bytes. The layer is " +
    "--layer, or, for a zTOC of the local store, read from the source of an image it indexes.",
  flags: [
    { ...outputFlag, usage: "write the file here instead of stdout" },
    {
      name: "layer",
      type: "string",
      usage: "the layer file (.tar.gz or .tar) the zTOC was built from",
      placeholder: "file",
    },
    ...registryFlags,
  ],
  needsRoot: false,
  permissions: [
    "file: --allow-read=<ztoc>,<layer>",
    "digest: --allow-read=<root>,<image> --allow-env=SOCI_ROOT,XDG_DATA_HOME,HOME",
  ],
  async action(ctx) {
    const [
      { readFileChunks },
      { writeFileAtomic },
      { checkFileKind, extractFile, findFile },
      { storedLayerReader },
      { containerdOptions, isFile, openStore },
      { loadZtoc },
    ] = await Promise.all([
      import("../image/file_layer.ts"),
      import("../util/atomic_file.ts"),
      import("../ztoc/extract.ts"),
      import("../use_cases/layer_reader.ts"),
      import("./open_store.ts"),
      import("./ztoc_load.ts"),
    ]);
    if (ctx.args.length !== 2) {
      throw new UsageError("please provide both a ztoc digest and a filename to extract");
    }
    const [ztocArg, name] = ctx.args;
    const layerFile = ctx.string("layer");
    if (layerFile) await checkLayerFile(layerFile);
    // The local store is only needed for a zTOC given by digest.
    using store = (await isFile(ztocArg)) ? undefined : openStore(ctx, { readOnly: true });
    const loaded = await loadZtoc(ctx, ztocArg, store);
    const entry = findFile(loaded.ztoc.toc, name);
    checkFileKind(entry, name);
    let read: RangeReader;
    if (layerFile) read = (s, e) => readFileChunks(layerFile, s, e, { reuse: true });
    else if (loaded.record && store) {
      read = await storedLayerReader(store, loaded.record, {
        registry: await registryOptions(ctx),
        containerd: containerdOptions(ctx),
      });
    } else throw new UsageError("give the layer the zTOC was built from with --layer <file>");
    const bytes = stoppable(extractFile(loaded.ztoc, entry, read), ctx.signal);
    const output = ctx.string("output");
    if (output && output !== "-") await writeFileAtomic(output, bytes);
    else for await (const part of bytes) await ctx.out.write(part);
  },
};
