/**
 * `ztoc info` the lean way (what the command does with the streaming
 * formatters): decode, collect, then write the table or JSON in pieces.
 * Used by the memory test of `ztoc info`.
 *
 *   deno run -A tests/helpers/ztoc_info_stream.ts <ztoc-file> [table|json]
 *
 * @module
 */
import { decodeZtoc } from "../../lib/ztoc/codec.ts";
import { ztocInfo, ztocInfoJsonChunks, ztocInfoTableChunks } from "../../lib/ztoc/info.ts";

const [path, format] = Deno.args;
const bytes = await Deno.readFile(path);
const info = ztocInfo(decodeZtoc(bytes), bytes.length);
const enc = new TextEncoder();
const chunks = format === "json" ? ztocInfoJsonChunks(info) : ztocInfoTableChunks(info);
for (const chunk of chunks) await Deno.stdout.write(enc.encode(chunk));
