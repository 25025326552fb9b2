/**
 * `soci cat [flags] <image> <path>`: one file of an image on stdout, read
 * through the image's SOCI index (only the spans holding it are fetched),
 * symlinks followed within the image.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { Command } from "./command.ts";
import { openImageFiles, printStats, readFlags, readPermissions } from "./read_flags.ts";

/** The `cat` command. */
export const catCommand: Command = {
  name: "cat",
  usage: "print a file of an image, fetching only the spans that hold it",
  argsUsage: "<image> <path>",
  description: "IMAGE is oci:DIR[:TAG], oci-archive:FILE[:TAG], docker://HOST/REPO[:TAG|@DIGEST] " +
    "or the name of an image in the local store. Its SOCI index is found as the snapshotter " +
    "finds it (--index, the image manifest's index-digest annotation, the local store, the " +
    "registry's referrers API, the sha256-<digest> fallback tag). Only the spans of the layer " +
    "that hold the file are fetched, each checked against its digest; a layer without a zTOC " +
    "is read in full. Symlinks are followed within the image. Nothing is written anywhere.",
  flags: readFlags,
  needsRoot: false,
  permissions: readPermissions(false),
  async action(ctx) {
    if (ctx.args.length !== 2) throw new UsageError("please provide an image and a path");
    const [image, path] = ctx.args;
    await using opened = await openImageFiles(ctx, image, "reading the file's layer in full");
    for await (const part of await opened.files.bytes(path)) {
      ctx.signal?.throwIfAborted();
      await ctx.out.write(part);
    }
    if (opened.stats) printStats(ctx, opened.stats, opened.files.layers.length);
  },
};
