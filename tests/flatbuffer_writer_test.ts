/**
 * The library's FlatBuffers writer (`lib/go/flatbuffer_writer.ts`) against
 * the npm `flatbuffers` `Builder` (an independent implementation of the
 * builder rules): random sequences of strings, byte vectors, offset
 * vectors and tables (every field kind, defaults, any slot order, shared
 * and distinct vtable shapes, every start alignment) give the same bytes.
 */
import assert from "node:assert/strict";
import { Builder } from "npm:flatbuffers@25.9.23";
import {
  buildFlatBuffer,
  FlatBufferWriter,
  type TableLayout,
  tableLayout,
} from "../lib/go/flatbuffer_writer.ts";
import { prng, randInt, randomBytes } from "./helpers/bytes.ts";

/** One call of a message "program", run on either implementation. */
type Op =
  | { kind: "string"; bytes: Uint8Array }
  | { kind: "bytes"; bytes: Uint8Array }
  | { kind: "vector"; refs: number[] } // indexes of earlier ops' results
  | { kind: "table"; slots: number; fields: Field[] };

type Field =
  | { slot: number; type: "int8" | "int32"; value: number; def: number }
  | { slot: number; type: "int64"; value: number }
  | { slot: number; type: "offset"; ref: number };

/** Scalars worth writing: defaults, signs, both 32-bit halves, beyond 2^53. */
const INT64S = [
  0,
  1,
  -1,
  255,
  -4096,
  2 ** 31,
  2 ** 32,
  2 ** 32 + 5,
  -(2 ** 32) - 5,
  2 ** 53 - 1,
  -(2 ** 53 - 1),
  2 ** 60,
  -(2 ** 63),
  1e20,
];
const INT32S = [0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 32 - 1, 65536, 7];
const INT8S = [0, 1, 2, 127, -128, 255, -1];

function pick<T>(rnd: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rnd() * xs.length)];
}

/** A random program whose last op is the root table. */
function program(seed: number): Op[] {
  const rnd = prng(seed);
  const ops: Op[] = [];
  // A few table shapes reused many times, and fresh ones.
  const shapes: Array<{ slots: number; fields: Field[] }> = [];
  const n = randInt(rnd, 1, 60);
  const refs = () => ops.length === 0 ? [] : ops.map((_, i) => i);
  const newField = (slot: number): Field => {
    const r = rnd();
    const objects = refs();
    if (r < 0.3 && objects.length > 0) return { slot, type: "offset", ref: pick(rnd, objects) };
    if (r < 0.55) return { slot, type: "int64", value: pick(rnd, INT64S) };
    if (r < 0.8) {
      return { slot, type: "int32", value: pick(rnd, INT32S), def: rnd() < 0.7 ? 0 : 1 };
    }
    return { slot, type: "int8", value: pick(rnd, INT8S), def: rnd() < 0.5 ? 0 : 1 };
  };
  const newTable = (): Op => {
    if (shapes.length > 0 && rnd() < 0.5) {
      // Same slots, sizes and order as an earlier table, other values.
      const s = pick(rnd, shapes);
      const objects = refs();
      const fields = s.fields.map((f): Field =>
        f.type === "offset"
          ? { ...f, ref: pick(rnd, objects) }
          : f.type === "int64"
          ? { ...f, value: rnd() < 0.8 ? f.value : pick(rnd, INT64S) }
          : { ...f, value: rnd() < 0.8 ? f.value : pick(rnd, f.type === "int8" ? INT8S : INT32S) }
      );
      return { kind: "table", slots: s.slots, fields };
    }
    const slots = randInt(rnd, 0, 12);
    const order = Array.from({ length: slots }, (_, i) => i).filter(() => rnd() < 0.6);
    for (let i = order.length - 1; i > 0; i--) {
      const j = randInt(rnd, 0, i);
      [order[i], order[j]] = [order[j], order[i]];
    }
    const shape = { slots, fields: order.map(newField) };
    shapes.push(shape);
    return { kind: "table", ...shape };
  };
  for (let i = 0; i < n; i++) {
    const r = rnd();
    if (r < 0.35) {
      ops.push({ kind: "string", bytes: randomBytes(randInt(rnd, 0, 19), seed * 1000 + i) });
    } else if (r < 0.45) {
      ops.push({ kind: "bytes", bytes: randomBytes(randInt(rnd, 0, 40), seed * 1000 + i) });
    } else if (r < 0.55 && ops.length > 0) {
      const all = refs();
      ops.push({
        kind: "vector",
        refs: Array.from({ length: randInt(rnd, 0, 6) }, () => pick(rnd, all)),
      });
    } else {
      ops.push(newTable());
    }
  }
  // The root: a table whatever came last.
  const root = newTable();
  ops.push(root.kind === "table" ? root : { kind: "table", slots: 0, fields: [] });
  return ops;
}

function withBuilder(ops: Op[]): Uint8Array {
  const b = new Builder(1);
  const out: number[] = [];
  for (const op of ops) {
    switch (op.kind) {
      case "string":
        out.push(b.createString(op.bytes));
        break;
      case "bytes":
        out.push(b.createByteVector(op.bytes));
        break;
      case "vector":
        b.startVector(4, op.refs.length, 4);
        for (let i = op.refs.length - 1; i >= 0; i--) b.addOffset(out[op.refs[i]]);
        out.push(b.endVector());
        break;
      case "table":
        b.startObject(op.slots);
        for (const f of op.fields) {
          if (f.type === "offset") b.addFieldOffset(f.slot, out[f.ref], 0);
          else if (f.type === "int64") b.addFieldInt64(f.slot, BigInt(f.value), BigInt(0));
          else if (f.type === "int32") b.addFieldInt32(f.slot, f.value, f.def);
          else b.addFieldInt8(f.slot, f.value, f.def);
        }
        out.push(b.endObject());
        break;
    }
  }
  b.finish(out[out.length - 1]);
  return b.asUint8Array().slice();
}

function withWriter(ops: Op[]): Uint8Array {
  return buildFlatBuffer((w) => {
    const out: number[] = [];
    for (const op of ops) {
      switch (op.kind) {
        case "string":
          out.push(w.string(op.bytes));
          break;
        case "bytes":
          out.push(w.byteVector(op.bytes));
          break;
        case "vector":
          out.push(w.offsetVector(op.refs.map((r) => out[r])));
          break;
        case "table":
          w.startTable(op.slots);
          for (const f of op.fields) {
            if (f.type === "offset") w.addOffset(f.slot, out[f.ref]);
            else if (f.type === "int64") w.addInt64(f.slot, f.value);
            else if (f.type === "int32") w.addInt32(f.slot, f.value, f.def);
            else w.addInt8(f.slot, f.value, f.def);
          }
          out.push(w.endTable());
          break;
      }
    }
    return out[out.length - 1];
  });
}

function firstDifference(a: Uint8Array, b: Uint8Array): string {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return `byte ${i}: ${a[i]} vs ${b[i]}`;
  return `lengths ${a.length} vs ${b.length}`;
}

Deno.test("flatbuffer writer: 3000 random messages equal the npm Builder's bytes", () => {
  let tables = 0, bytes = 0;
  for (let seed = 1; seed <= 3000; seed++) {
    const ops = program(seed);
    const want = withBuilder(ops);
    const got = withWriter(ops);
    if (got.length !== want.length || got.some((x, i) => x !== want[i])) {
      assert.fail(`seed ${seed}: ${firstDifference(got, want)}`);
    }
    tables += ops.filter((o) => o.kind === "table").length;
    bytes += got.length;
  }
  assert.ok(tables > 40000 && bytes > 2e6, `${tables} tables, ${bytes} bytes`);
});

Deno.test("flatbuffer writer: strings and byte vectors of every length mod 8 at every alignment", () => {
  for (let lead = 0; lead < 8; lead++) {
    for (let len = 0; len < 24; len++) {
      const pre = new Uint8Array(lead).fill(9);
      const body = randomBytes(len, len + 1);
      const ops: Op[] = [
        { kind: "bytes", bytes: pre },
        { kind: "string", bytes: body },
        { kind: "bytes", bytes: body },
        {
          kind: "table",
          slots: 2,
          fields: [{ slot: 1, type: "offset", ref: 1 }, {
            slot: 0,
            type: "offset",
            ref: 2,
          }],
        },
      ];
      assert.deepEqual(withWriter(ops), withBuilder(ops), `lead ${lead}, length ${len}`);
    }
  }
});

Deno.test("flatbuffer writer: text is written as TextEncoder encodes it", () => {
  const texts = [
    "",
    "a",
    "reg",
    "\u007f",
    "\u0080",
    "ü.txt",
    "€",
    "😀",
    "\ud800",
    "x\udc00y",
    "a😀\ud83d",
  ];
  for (const lead of [0, 1, 2, 3]) {
    for (const t of texts) {
      const ops: Op[] = [
        { kind: "bytes", bytes: new Uint8Array(lead) },
        { kind: "string", bytes: new TextEncoder().encode(t) },
        { kind: "table", slots: 1, fields: [{ slot: 0, type: "offset", ref: 1 }] },
      ];
      const got = buildFlatBuffer((w) => {
        w.byteVector(new Uint8Array(lead));
        const s = w.text(t);
        w.startTable(1);
        w.addOffset(0, s);
        return w.endTable();
      });
      assertSameBytes(got, withBuilder(ops), JSON.stringify(t));
    }
  }
});

Deno.test("flatbuffer writer: an empty message of one empty table", () => {
  const ops: Op[] = [{ kind: "table", slots: 0, fields: [] }];
  assert.deepEqual(withWriter(ops), withBuilder(ops));
  assert.deepEqual([...withWriter(ops)], [8, 0, 0, 0, 4, 0, 4, 0, 4, 0, 0, 0]);
});

Deno.test("flatbuffer writer: layouts are pure and keyed on the vtable's contents", () => {
  // Without int64 fields, starting on 0 or 4 modulo 8 gives the same vtable.
  assert.equal(tableLayout(3, [2, 0], [4, 4], 0).key, tableLayout(3, [2, 0], [4, 4], 4).key);
  // With one, the padding moves and so does the vtable.
  const a = tableLayout(3, [0, 1], [4, 8], 0), b = tableLayout(3, [0, 1], [4, 8], 4);
  assert.notEqual(a.key, b.key);
  assert.deepEqual([a.size, b.size], [20, 16]);
  assert.equal(a.align, 8);
});

Deno.test("flatbuffer writer: runs that differ, misplaced layouts and misuse are errors", () => {
  const twice = (first: number, second: number) => {
    let calls = 0;
    return buildFlatBuffer((w) => {
      w.string(new Uint8Array(calls++ === 0 ? first : second));
      w.startTable(0);
      return w.endTable();
    });
  };
  assert.throws(() => twice(9, 3), /message of \d+ bytes written into \d+/);
  assert.throws(() => twice(3, 9), /written into|out of bounds/);
  assert.throws(() => twice(3, 90), /written into|out of bounds/);
  const w = new FlatBufferWriter();
  w.byteVector(new Uint8Array(2));
  w.string(new Uint8Array(1)); // offset 16: a layout made for 20 does not fit
  assert.throws(() => w.placeTable(tableLayout(1, [0], [8], (w.offset + 4) & 7)), /table layout/);
  assert.throws(() => w.endTable(), /without being started/);
  w.startTable(1);
  assert.throws(() => w.startTable(1), /inside a table/);
  assert.throws(() => w.addInt64(0, 0.5), RangeError);
  // A refusal of the size stops before the buffer is made.
  assert.throws(
    () =>
      buildFlatBuffer((v) => {
        v.startTable(0);
        return v.endTable();
      }, () => {
        throw new Error("too big");
      }),
    /too big/,
  );
});

Deno.test("flatbuffer writer: precomputed layouts shared by writers and messages equal the Builder's bytes", () => {
  // Layouts cached across messages (whose vtables lie elsewhere) and across the
  // measuring and writing runs: the memo of where a layout's vtable went must
  // follow the writer.
  for (let seed = 1; seed <= 200; seed++) {
    const rnd = prng(seed);
    const shapes: Shape[] = Array.from({ length: randInt(rnd, 1, 4) }, () => {
      const slots = randInt(rnd, 1, 8);
      const fields = Array.from({ length: slots }, (_, i) => i).filter(() => rnd() < 0.7)
        .map((slot) => ({ slot, size: pick(rnd, [4, 8, 0]) })); // 0: an offset to the string before
      return { slots, fields };
    });
    const tables: Placed[] = Array.from({ length: randInt(rnd, 1, 30) }, () => ({
      shape: randInt(rnd, 0, shapes.length - 1),
      text: randomBytes(randInt(rnd, 0, 11), randInt(rnd, 1, 1000)),
      value: pick(rnd, INT64S.filter((v) => v !== 0)),
    }));
    const cache = new Map<string, TableLayout>();
    for (const prefix of [0, 13, 5, 0, 40]) {
      const want = placedWithBuilder(shapes, tables, prefix);
      const got = buildFlatBuffer((w) => placedWithWriter(w, shapes, tables, prefix, cache));
      assertSameBytes(got, want, `seed ${seed}, prefix ${prefix}`);
    }
  }
});

interface Shape {
  slots: number;
  fields: Array<{ slot: number; size: number }>;
}

interface Placed {
  shape: number;
  text: Uint8Array;
  value: number;
}

/** A byte vector of `prefix` bytes, then per table a string and the table. */
function placedWithBuilder(shapes: Shape[], tables: Placed[], prefix: number): Uint8Array {
  const b = new Builder(1);
  b.createByteVector(new Uint8Array(prefix));
  let last = 0;
  for (const t of tables) {
    const s = b.createString(t.text);
    const shape = shapes[t.shape];
    b.startObject(shape.slots);
    for (const f of shape.fields) {
      if (f.size === 0) b.addFieldOffset(f.slot, s, 0);
      else if (f.size === 4) b.addFieldInt32(f.slot, t.value | 0 || 1, 0);
      else b.addFieldInt64(f.slot, BigInt(t.value), BigInt(0));
    }
    last = b.endObject();
  }
  b.finish(last);
  return b.asUint8Array().slice();
}

function placedWithWriter(
  w: FlatBufferWriter,
  shapes: Shape[],
  tables: Placed[],
  prefix: number,
  cache: Map<string, TableLayout>,
): number {
  w.byteVector(new Uint8Array(prefix));
  let table = 0;
  for (const t of tables) {
    const s = w.string(t.text);
    const shape = shapes[t.shape];
    const key = `${t.shape}/${w.offset & 7}`;
    let layout = cache.get(key);
    if (layout === undefined) {
      const sizes = shape.fields.map((f) => f.size || 4);
      layout = tableLayout(shape.slots, shape.fields.map((f) => f.slot), sizes, w.offset);
      cache.set(key, layout);
    }
    if (w.measuring) {
      table = w.measureTable(layout);
      continue;
    }
    table = w.placeTable(layout);
    const at = w.address(table);
    for (const f of shape.fields) {
      const field = at + layout.fieldAt[f.slot];
      if (f.size === 0) w.putOffset(field, s);
      else if (f.size === 4) w.putInt32(field, t.value | 0 || 1);
      else w.putInt64(field, t.value);
    }
  }
  return table;
}

function assertSameBytes(got: Uint8Array, want: Uint8Array, what: string): void {
  if (got.length !== want.length || got.some((x, i) => x !== want[i])) {
    assert.fail(`${what}: ${firstDifference(got, want)}`);
  }
}
