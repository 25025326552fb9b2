/**
 * Throughput of the tar TOC reader (not a test; prints figures).
 *
 *   deno run tests/helpers/tar_bench.ts
 *
 * Builds archives in memory with the Go-like writer and feeds them to
 * TarReader in chunks of several sizes, several rounds each; reports MB/s
 * of input and entries per second.
 *
 * @module
 */

import { TarReader } from "../../lib/tar/reader.ts";
import { goTar, type GoTarEntry } from "./tar_go_writer.ts";

function archive(count: number, sizeOf: (i: number) => number): Uint8Array {
  const entries: GoTarEntry[] = [];
  for (let i = 0; i < count; i++) {
    entries.push({ name: `usr/lib/pkg${i % 97}/file-${i}.bin`, data: new Uint8Array(sizeOf(i)) });
  }
  return goTar(entries);
}

function measure(label: string, tar: Uint8Array, chunk: number, rounds: number): void {
  let entries = 0;
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) {
    const reader = new TarReader(() => entries++);
    for (let i = 0; i < tar.length; i += chunk) reader.push(tar.subarray(i, i + chunk));
    reader.end();
  }
  const secs = (performance.now() - t0) / 1000;
  const mb = (tar.length * rounds) / 1e6;
  console.log(
    `${label.padEnd(34)} chunk ${String(chunk).padStart(8)}  ${
      (mb / secs).toFixed(0).padStart(7)
    } MB/s  ${(entries / secs / 1e3).toFixed(0).padStart(6)} k entries/s`,
  );
}

const mixed = archive(1500, (i) => [300, 5000, 70000, 1 << 20, 4 << 20][i % 5]);
const small = archive(60000, (i) => 100 + (i % 2000));
console.log(
  `mixed: ${(mixed.length / 1e6).toFixed(0)} MB; small files: ${
    (small.length / 1e6).toFixed(0)
  } MB`,
);
for (const chunk of [4 << 20, 1 << 20, 65536]) measure("mixed sizes (1500 files)", mixed, chunk, 5);
for (const chunk of [1 << 20, 65536, 4096]) measure("small files (60000 files)", small, chunk, 3);
