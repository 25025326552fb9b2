/**
 * Pieces of the seeded JSON fuzz tests: a small JSON tree that can hold
 * what `JSON.stringify` cannot (duplicate members, raw number and string
 * text, invalid UTF-8), tree and byte mutations driven by a seeded PRNG, and
 * the Go oracle (`go_json_oracle.go`, Go's own `encoding/json`) run over a
 * batch of documents.
 *
 * @module
 */
import { randInt } from "./ztoc_e2e_tools.ts";

const ENC = new TextEncoder();
const DEC = new TextDecoder();

/** A JSON tree: object (members may repeat), array, or raw token bytes. */
export type Tree =
  | { kind: "object"; members: Array<[Uint8Array, Tree]> }
  | { kind: "array"; items: Tree[] }
  | { kind: "raw"; text: Uint8Array };

/** A tree for a plain JS value (keys and strings as `JSON.stringify` writes them). */
export function fromJs(v: unknown): Tree {
  if (Array.isArray(v)) return { kind: "array", items: v.map(fromJs) };
  if (v !== null && typeof v === "object") {
    return {
      kind: "object",
      members: Object.entries(v).map(([k, x]) => [ENC.encode(JSON.stringify(k)), fromJs(x)]),
    };
  }
  return { kind: "raw", text: ENC.encode(JSON.stringify(v)) };
}

/** Raw token text (may be invalid UTF-8 when given as bytes). */
export function raw(text: string | number[]): Tree {
  return { kind: "raw", text: typeof text === "string" ? ENC.encode(text) : Uint8Array.from(text) };
}

const SPACES = [" ", "\n", "\t", "\r\n  "].map((s) => ENC.encode(s));

/** Serializes `t`; with `rnd`, random JSON whitespace goes between tokens. */
export function serialize(t: Tree, rnd?: () => number): Uint8Array {
  const out: number[] = [];
  const put = (b: Uint8Array) => {
    for (const x of b) out.push(x);
  };
  const ws = () => {
    if (rnd && rnd() < 0.1) put(SPACES[randInt(rnd, 0, SPACES.length - 1)]);
  };
  // Iterative, so that deep trees serialize without recursion.
  const stack: Array<Tree | number> = [t];
  while (stack.length > 0) {
    const top = stack.pop()!;
    if (typeof top === "number") {
      out.push(top);
      ws();
      continue;
    }
    ws();
    if (top.kind === "raw") {
      put(top.text);
    } else if (top.kind === "array") {
      out.push(0x5b);
      stack.push(0x5d);
      for (let i = top.items.length - 1; i >= 0; i--) {
        stack.push(top.items[i]);
        if (i > 0) stack.push(0x2c);
      }
    } else {
      out.push(0x7b);
      stack.push(0x7d);
      for (let i = top.members.length - 1; i >= 0; i--) {
        const [k, v] = top.members[i];
        stack.push(v, { kind: "raw", text: Uint8Array.of(...k, 0x3a) });
        if (i > 0) stack.push(0x2c);
      }
    }
    ws();
  }
  return Uint8Array.from(out);
}

/** Every subtree of `t` (iteratively), `t` first. */
function subtrees(t: Tree): Tree[] {
  const out: Tree[] = [];
  const stack = [t];
  while (stack.length > 0) {
    const x = stack.pop()!;
    out.push(x);
    if (x.kind === "array") stack.push(...x.items);
    else if (x.kind === "object") { for (const [, v] of x.members) stack.push(v); }
  }
  return out;
}

/** A deep copy of `t` (iterative: trees may be deeper than the call stack allows). */
function copyTree(t: Tree): Tree {
  const copy = (x: Tree): Tree =>
    x.kind === "raw"
      ? x
      : x.kind === "array"
      ? { kind: "array", items: [...x.items] }
      : { kind: "object", members: x.members.map(([k, v]) => [k, v]) };
  const root = copy(t);
  const stack = [root];
  while (stack.length > 0) {
    const x = stack.pop()!;
    if (x.kind === "array") {
      x.items = x.items.map(copy);
      stack.push(...x.items);
    } else if (x.kind === "object") {
      for (const m of x.members) {
        m[1] = copy(m[1]);
        stack.push(m[1]);
      }
    }
  }
  return root;
}

/** What the tree mutations draw from. */
export interface Vocabulary {
  /** Member names (plain text) the decoder knows; variants of them are made. */
  names: string[];
  /** Raw value texts: numbers, strings, literals (bytes for invalid UTF-8). */
  values: Tree[];
}

function pick<T>(rnd: () => number, list: readonly T[]): T {
  return list[randInt(rnd, 0, list.length - 1)];
}

/** A member name: a vocabulary name, case-changed, with `ſ`/Kelvin sign or escapes. */
function nameVariant(rnd: () => number, name: string): Uint8Array {
  let s = name;
  switch (randInt(rnd, 0, 6)) {
    case 0:
      s = s.toUpperCase();
      break;
    case 1:
      s = s.toLowerCase();
      break;
    case 2:
      s = s.replace(/s/i, "\u017f").replace(/k/i, "\u212a");
      break;
    case 3: // an escaped first letter
      return ENC.encode(
        '"\\u' + s.charCodeAt(0).toString(16).padStart(4, "0") + JSON.stringify(s).slice(2),
      );
    default:
      break;
  }
  return ENC.encode(JSON.stringify(s));
}

function randomValue(rnd: () => number, voc: Vocabulary, depth = 0): Tree {
  const r = rnd();
  if (r < 0.6 || depth > 3) return pick(rnd, voc.values);
  if (r < 0.8) {
    const n = randInt(rnd, 0, 3);
    return {
      kind: "array",
      items: Array.from({ length: n }, () => randomValue(rnd, voc, depth + 1)),
    };
  }
  const n = randInt(rnd, 0, 3);
  return {
    kind: "object",
    members: Array.from(
      { length: n },
      () => [nameVariant(rnd, pick(rnd, voc.names)), randomValue(rnd, voc, depth + 1)],
    ),
  };
}

const DEEP = new Map<string, Tree>();

/**
 * A deeply nested value: `depth` arrays (or objects `{"a":…}`) around
 * `null`, as one raw token (made once per shape: the fuzz uses a few).
 */
export function deepTree(depth: number, objects: boolean): Tree {
  const key = `${depth}/${objects}`;
  let t = DEEP.get(key);
  if (t === undefined) {
    const text = objects
      ? '{"a":'.repeat(depth) + "null" + "}".repeat(depth)
      : "[".repeat(depth) + "null" + "]".repeat(depth);
    t = raw(text);
    DEEP.set(key, t);
  }
  return t;
}

/**
 * A mutated copy of `seed`: one to four tree edits (duplicate, rename,
 * replace, delete, wrap or deeply nest a member or element).
 */
export function mutateTree(seed: Tree, rnd: () => number, voc: Vocabulary): Tree {
  const t = copyTree(seed);
  const edits = randInt(rnd, 1, 4);
  for (let e = 0; e < edits; e++) {
    const nodes = subtrees(t);
    const containers = nodes.filter((x) =>
      x.kind !== "raw" && (x.kind === "object" ? x.members.length > 0 : x.items.length > 0)
    );
    const op = randInt(rnd, 0, 9);
    if (op === 8 && rnd() < 0.7) continue; // deep nesting: rarer, the documents are big
    if (containers.length === 0 || op === 9) {
      // add a member to some object
      const objs = nodes.filter((x) => x.kind === "object");
      if (objs.length === 0) continue;
      const o = pick(rnd, objs) as Extract<Tree, { kind: "object" }>;
      const at = randInt(rnd, 0, o.members.length);
      o.members.splice(at, 0, [nameVariant(rnd, pick(rnd, voc.names)), randomValue(rnd, voc)]);
      continue;
    }
    const c = pick(rnd, containers);
    const slots = c.kind === "object" ? c.members.length : (c as { items: Tree[] }).items.length;
    const i = randInt(rnd, 0, slots - 1);
    const get = (j: number): Tree =>
      c.kind === "object" ? c.members[j][1] : (c as { items: Tree[] }).items[j];
    const set = (j: number, v: Tree) => {
      if (c.kind === "object") c.members[j][1] = v;
      else (c as { items: Tree[] }).items[j] = v;
    };
    switch (op) {
      case 0: // duplicate a member or element (Go: later wins, slices reuse elements)
      case 1: {
        const j = randInt(rnd, 0, slots);
        if (c.kind === "object") {
          const [k, v] = c.members[i];
          const dup = rnd() < 0.5 ? copyTree(v) : randomValue(rnd, voc);
          c.members.splice(j, 0, [
            rnd() < 0.5 ? k : nameVariant(rnd, DEC.decode(k).slice(1, -1)),
            dup,
          ]);
        } else {
          (c as { items: Tree[] }).items.splice(j, 0, copyTree(get(i)));
        }
        break;
      }
      case 2: // rename
        if (c.kind === "object") c.members[i][0] = nameVariant(rnd, pick(rnd, voc.names));
        break;
      case 3: // replace with a random value
      case 4:
        set(i, randomValue(rnd, voc));
        break;
      case 5: // delete
        if (c.kind === "object") c.members.splice(i, 1);
        else (c as { items: Tree[] }).items.splice(i, 1);
        break;
      case 6: // wrap in an array
        set(i, { kind: "array", items: [get(i)] });
        break;
      case 7: // shrink an array value to its first element, or empty it
        if (get(i).kind === "array") {
          const a = get(i) as { items: Tree[] };
          a.items = a.items.slice(0, randInt(rnd, 0, 1));
        } else set(i, raw("null"));
        break;
      case 8: // deep nesting, around Go's limit of 10 000 levels
        set(i, deepTree(pick(rnd, [2, 50, 9990, 10001, 20000]), rnd() < 0.5));
        break;
    }
  }
  return t;
}

const BYTE_TOKENS = [
  "{",
  "}",
  "[",
  "]",
  ",",
  ":",
  '"',
  "\\",
  "-",
  "0",
  "1",
  ".",
  "e",
  "+",
  " ",
  "\n",
  "n",
  "t",
  "\\u",
  "\\ud800",
  "null",
  "true",
  "[]",
  "{}",
  '""',
].map((s) => ENC.encode(s)).concat([[0x00], [0x1f], [0x7f], [0xc3], [0xe2, 0x80, 0xa8], [0xff], [
  0xef,
  0xbb,
  0xbf,
]].map((b) => Uint8Array.from(b)));

/** A copy of `src` with one to three byte-level edits (flip, insert, delete, copy, cut). */
export function mutateBytes(src: Uint8Array, rnd: () => number): Uint8Array {
  const b = Array.from(src);
  const edits = randInt(rnd, 1, 3);
  for (let e = 0; e < edits; e++) {
    const i = randInt(rnd, 0, b.length);
    switch (randInt(rnd, 0, 5)) {
      case 0:
        if (i < b.length) b[i] = randInt(rnd, 0, 255);
        break;
      case 1:
        b.splice(i, 0, ...pick(rnd, BYTE_TOKENS));
        break;
      case 2:
        b.splice(i, randInt(rnd, 1, 8));
        break;
      case 3: {
        const j = randInt(rnd, 0, b.length);
        b.splice(j, 0, ...b.slice(i, i + randInt(rnd, 1, 40)));
        break;
      }
      case 4:
        if (i < b.length) b[i] = pick(rnd, BYTE_TOKENS)[0];
        break;
      case 5:
        b.length = i;
        break;
    }
  }
  return Uint8Array.from(b);
}

/** One answer of the Go oracle: what `json.Marshal` wrote, or Go's error text. */
export type GoAnswer = { ok: true; out: Uint8Array } | { ok: false; err: string };

/** Builds the Go oracle into `dir`; returns the program's path. Needs `go` (Debian golang-go). */
export async function buildGoJsonOracle(dir: string): Promise<string> {
  const bin = `${dir}/go_json_oracle`;
  const src = new URL("./go_json_oracle.go", import.meta.url).pathname;
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("go", {
      args: ["build", "-o", bin, src],
      cwd: dir,
      env: { GO111MODULE: "off", GOFLAGS: "" },
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (e) {
    throw new Error(
      `cannot run go (${(e as Error).message}): install Debian's golang-go (tasks/setup.sh)`,
    );
  }
  if (!out.success) throw new Error(`go build failed: ${DEC.decode(out.stderr)}`);
  return bin;
}

function b64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/** Runs the oracle in `mode` (`manifest`, `index`, `dockerconfig`) over `docs`. */
export async function runGoJsonOracle(
  bin: string,
  mode: "manifest" | "index" | "dockerconfig",
  docs: Uint8Array[],
): Promise<GoAnswer[]> {
  const child = new Deno.Command(bin, {
    args: [mode],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const input = ENC.encode(docs.map(b64).join("\n") + "\n");
  const writing = (async () => {
    const w = child.stdin.getWriter();
    await w.write(input);
    await w.close();
  })();
  const [out] = await Promise.all([child.output(), writing]);
  if (!out.success) throw new Error(`go oracle failed: ${DEC.decode(out.stderr)}`);
  const lines = DEC.decode(out.stdout).split("\n").filter((l) => l !== "");
  if (lines.length !== docs.length) {
    throw new Error(`go oracle answered ${lines.length} of ${docs.length} documents`);
  }
  return lines.map((l) => {
    const r = JSON.parse(l) as { ok: boolean; out?: string; err?: string };
    return r.ok
      ? { ok: true, out: Uint8Array.from(atob(r.out ?? ""), (c) => c.charCodeAt(0)) }
      : { ok: false, err: r.err ?? "" };
  });
}

/** Base64 of a failing input, for the failure report. */
export function reproduce(doc: Uint8Array): string {
  return b64(doc);
}
