// Packing tar entries for the trip between threads (lib/tar/entry_codec.ts):
// every field survives, on entries read from a real tar and on generated
// ones with the odd values the tar reader can give.
import assert from "node:assert/strict";
import { decodeEntries, encodeEntries, PackedEntries } from "../lib/tar/entry_codec.ts";
import type { TarEntry } from "../lib/tar/entry.ts";
import { TarReader } from "../lib/tar/reader.ts";
import { xorshift32 } from "./helpers/bytes.ts";

const enc = new TextEncoder();

/** A plain copy of an entry (byte fields as arrays), for deepEqual. */
function plain(e: TarEntry): unknown {
  return {
    ...e,
    name: [...e.name],
    linkname: [...e.linkname],
    uname: [...e.uname],
    gname: [...e.gname],
    pax: e.pax.map(([k, v]) => [[...k], [...v]]),
  };
}

function randomEntries(seed: number, count: number): TarEntry[] {
  const next = xorshift32(seed);
  const bytes = (max: number) => {
    const b = new Uint8Array(next() % (max + 1));
    for (let i = 0; i < b.length; i++) b[i] = next() & 0xff;
    return b;
  };
  const num = () => {
    switch (next() % 5) {
      case 0:
        return 0;
      case 1:
        return Number.MAX_SAFE_INTEGER - (next() % 1000);
      case 2:
        return -(next() % 100000);
      case 3:
        return next() * 65536 + (next() & 0xffff);
      default:
        return next() % 4096;
    }
  };
  const owners = [enc.encode("root"), enc.encode("build"), new Uint8Array(0), bytes(40)];
  const out: TarEntry[] = [];
  for (let i = 0; i < count; i++) {
    const flags = ["0", "5", "2", "x", "", "\u00ff7", "g"];
    const pax: Array<[Uint8Array, Uint8Array]> = [];
    for (let n = next() % 4; n > 0; n--) pax.push([bytes(12), bytes(30)]);
    out.push({
      name: bytes(300),
      typeflag: flags[next() % flags.length],
      headerOffset: num(),
      offset: num(),
      size: num(),
      linkname: next() % 3 === 0 ? bytes(100) : new Uint8Array(0),
      mode: num(),
      uid: num(),
      gid: num(),
      uname: owners[next() % owners.length].slice(),
      gname: owners[next() % owners.length].slice(),
      mtimeSeconds: num(),
      mtimeNanos: next() % 1_000_000_000,
      devmajor: num(),
      devminor: num(),
      pax,
    });
  }
  return out;
}

Deno.test("entry codec: generated entries come back field for field", () => {
  for (const seed of [1, 7, 99, 2024]) {
    const entries = randomEntries(seed, 300);
    const back = decodeEntries(encodeEntries(entries));
    assert.deepEqual(back.map(plain), entries.map(plain));
  }
});

Deno.test("entry codec: no entries, and one entry with every field empty", () => {
  assert.deepEqual(decodeEntries(encodeEntries([])), []);
  const empty: TarEntry = {
    name: new Uint8Array(0),
    typeflag: "",
    headerOffset: 0,
    offset: 0,
    size: 0,
    linkname: new Uint8Array(0),
    mode: 0,
    uid: 0,
    gid: 0,
    uname: new Uint8Array(0),
    gname: new Uint8Array(0),
    mtimeSeconds: 0,
    mtimeNanos: 0,
    devmajor: 0,
    devminor: 0,
    pax: [],
  };
  assert.deepEqual(decodeEntries(encodeEntries([empty])).map(plain), [plain(empty)]);
});

Deno.test("entry codec: entries of a real tar (GNU long names, PAX, links)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const long = "d".repeat(120) + "/" + "f".repeat(130);
    await Deno.mkdir(`${dir}/src/${"d".repeat(120)}`, { recursive: true });
    await Deno.writeTextFile(`${dir}/src/${long}`, "long name");
    await Deno.writeTextFile(`${dir}/src/ünïcödé`, "x".repeat(5000));
    await Deno.symlink("ünïcödé", `${dir}/src/link`);
    for (const format of ["gnu", "pax"]) {
      const out = await new Deno.Command("tar", {
        args: ["--format", format, "-C", `${dir}/src`, "-cf", "-", "."],
        stdout: "piped",
      }).output();
      assert.ok(out.success);
      const entries: TarEntry[] = [];
      const reader = new TarReader((e) => void entries.push(e));
      reader.push(out.stdout);
      reader.end();
      assert.ok(entries.length >= 5);
      assert.ok(entries.some((e) => e.name.length > 200), "a long name was read");
      const back = decodeEntries(encodeEntries(entries));
      assert.deepEqual(back.map(plain), entries.map(plain));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("entry codec: equal owner names share one view; a packed buffer at any offset reads", () => {
  const entries = randomEntries(5, 50).map((e) => ({
    ...e,
    uname: enc.encode("builder"),
    gname: enc.encode("builder"),
  }));
  const packed = encodeEntries(entries);
  const back = decodeEntries(packed);
  assert.ok(back.every((e) => e.uname === back[0].uname && e.gname === back[0].uname));
  // A copy of the buffer at an odd offset (not how the worker sends it).
  const shifted = new Uint8Array(packed.length + 3);
  shifted.set(packed, 3);
  assert.deepEqual(
    decodeEntries(shifted.subarray(3)).map(plain),
    entries.map(plain),
  );
  assert.throws(() => decodeEntries(packed.subarray(0, packed.length - 1)), RangeError);
});

Deno.test("PackedEntries: any entry of several buffers, in any order, new or read into one object", () => {
  const entries = randomEntries(31, 500);
  // Buffers of uneven sizes, one of them empty.
  const cuts = [0, 1, 40, 40, 217, 499, 500];
  const buffers = cuts.slice(1).map((end, k) => encodeEntries(entries.slice(cuts[k], end)));
  const list = new PackedEntries(buffers);
  assert.equal(list.length, 500);
  const want = buffers.flatMap((b) => decodeEntries(b));
  const next = xorshift32(5);
  const order = [
    ...want.keys(),
    ...[...want.keys()].reverse(),
    ...Array.from({ length: 500 }, () => next() % 500),
  ];
  let reused: TarEntry | undefined;
  for (const i of order) {
    assert.deepEqual(plain(list.at(i)), plain(want[i]), `entry ${i}`);
    const into = list.at(i, reused);
    if (reused !== undefined) assert.ok(into === reused);
    reused = into;
    assert.deepEqual(plain(into), plain(want[i]), `entry ${i}, read into one object`);
  }
  assert.notEqual(list.at(3), list.at(3));
  for (const bad of [-1, 500, 1.5, NaN]) assert.throws(() => list.at(bad), RangeError);
  assert.equal(new PackedEntries([]).length, 0);
});
