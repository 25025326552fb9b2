/**
 * ByteStore (lib/tar/byte_store.ts): copies are stable and independent of
 * their source; interned strings equal in bytes are one view, whether found
 * among the last few returned or in the lookup table, and stay right when
 * the table is full.
 */
import assert from "node:assert/strict";
import { ByteStore } from "../lib/tar/byte_store.ts";
import { xorshift32 } from "./helpers/bytes.ts";

const enc = new TextEncoder();
const text = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("ByteStore.intern: equal bytes give one view, from any offset of any source", () => {
  const store = new ByteStore();
  const names = ["root", "wheel", "daemon", "bin", "sys", "adm", "staff", "root2", "r"];
  const next = xorshift32(11);
  const seen = new Map<string, Uint8Array>();
  for (let i = 0; i < 5000; i++) {
    // Mostly the same few names in a row, as tar owners come, sometimes others.
    const name = names[next() % (i % 7 === 0 ? names.length : 2)];
    const pad = next() % 5;
    const src = new Uint8Array(pad + name.length + 3);
    src.set(enc.encode(name), pad);
    const got = store.intern(src, pad, pad + name.length);
    src.fill(0x41); // the source changes afterwards: the view must not
    assert.equal(text(got), name);
    const first = seen.get(name);
    if (first === undefined) seen.set(name, got);
    else assert.ok(first === got, `${name}: another view at ${i}`);
  }
  assert.equal(store.intern(new Uint8Array(0)).length, 0);
});

Deno.test("ByteStore.intern: past the table's size, values stay right", () => {
  const store = new ByteStore();
  const out: Array<[string, Uint8Array]> = [];
  for (let i = 0; i < 6000; i++) {
    const s = `u${i}`;
    out.push([s, store.intern(enc.encode(s))]);
  }
  for (const [s, b] of out) assert.equal(text(b), s);
  // A value not in the table (it is full) is still the same view while it is recent.
  const a = store.intern(enc.encode("late-name"));
  const b = store.intern(enc.encode("late-name"));
  assert.ok(a === b);
  assert.equal(text(a), "late-name");
  // Long strings are copied, never shared.
  const long = "x".repeat(65);
  const l1 = store.intern(enc.encode(long));
  const l2 = store.intern(enc.encode(long));
  assert.ok(l1 !== l2 && text(l1) === long && text(l2) === long);
});
