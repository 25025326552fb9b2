/**
 * `soci ztoc build [--span-size N] [-o OUT] <layer-file>`: the zTOC of a
 * `.tar.gz` or `.tar` layer file, in one pass.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import { Progress } from "../ui/progress.ts";
import type { Command } from "./command.ts";
import { jsonFlag, outputFlag, sizeFlags, spanSizeFlag } from "./flags.ts";

/** The `ztoc build` command. */
export const ztocBuildCommand: Command = {
  name: "build",
  usage: "build the zTOC of a layer file (.tar.gz or .tar)",
  argsUsage: "<layer-file>",
  description: "Reads the layer once and writes its zTOC to --output (default <layer-file>.ztoc; " +
    '"-" for stdout), then prints the zTOC digest and size. The format is detected from the bytes.',
  flags: [
    spanSizeFlag,
    { ...outputFlag, usage: "write the zTOC to this file (- for stdout)" },
    jsonFlag,
  ],
  permissions: [
    "--allow-read=<layer>,<checkout>,<output dir> --allow-write=<output dir>",
  ],
  needsRoot: false,
  async action(ctx) {
    if (ctx.args.length !== 1) throw new UsageError("please provide one layer file");
    // The scan worker loads and compiles zlib while this thread loads the rest.
    const { prestartScanWorker } = await import("../ztoc/scan_channel.ts");
    using _worker = prestartScanWorker();
    // What is needed only after the scan (digest, atomic write) loads
    // during it, once the first bytes went to the worker (loading it sooner
    // would hold this thread up while the scan waits for it).
    let later: ReturnType<typeof loadLater> | undefined;
    const [{ fileLayer }, { ScanPool }] = await Promise.all([
      import("../image/file_layer.ts"),
      import("../ztoc/scan_pool.ts"),
    ]);
    const path = ctx.args[0];
    const { spanSize } = sizeFlags(ctx);
    const output = ctx.string("output") || `${path}.ztoc`;
    const layer = await fileLayer(path);
    const progress = new Progress(ctx.out);
    const task = progress.task(path, layer.descriptor.size);
    // One layer: the worker reads it and builds its zTOC.
    const pool = new ScanPool(1);
    let built;
    try {
      built = await pool.build(await layer.open(), {
        compression: layer.compression,
        spanSize,
        signal: ctx.signal,
        onProgress: (n) => {
          later ??= loadLater();
          task.set(n);
        },
      });
    } finally {
      pool.close();
      task.complete();
      progress.finish();
    }
    if (built.ztocError) throw built.ztocError;
    const [{ sha256Digest }, { writeFileAtomic }] = await (later ?? loadLater());
    const { bytes, files, spans } = built.ztoc!;
    // Hashed here while the file is written (the write runs off this thread).
    const writing = output === "-" ? ctx.out.write(bytes) : writeFileAtomic(output, [bytes]);
    writing.catch(() => {}); // (awaited below)
    const digest = sha256Digest(bytes);
    await writing;
    const summary = {
      digest,
      size: bytes.length,
      layerDigest: built.digest,
      compression: built.compression,
      spanSize,
      spans,
      files,
      output,
    };
    if (ctx.bool("json")) {
      if (output === "-") ctx.out.warn(JSON.stringify(summary));
      else ctx.out.json(summary);
      return;
    }
    const line = `ztoc ${digest} (${bytes.length} bytes, ${spans} spans, ` +
      `${summary.files} files)` + (output === "-" ? "" : ` written to ${output}`);
    if (output === "-") ctx.out.warn(line);
    else ctx.out.line(line);
  },
};

/** The modules `ztoc build` needs once the scan is done. */
function loadLater() {
  const p = Promise.all([import("../oci/digest.ts"), import("../util/atomic_file.ts")]);
  p.catch(() => {}); // (awaited after the scan)
  return p;
}
