// Seeded mutation fuzz tests of the JSON readers that take input from
// outside: the OCI manifest/index decoders and the Docker config reader.
// Every mutated document must give either a correct result or one of our
// one-line errors, never a RangeError (stack overflow), TypeError or hang.
// "Correct" is checked against Go's own encoding/json (go_json_oracle.go,
// built with Debian's Go) for every document, and against JSON.parse for
// syntax. SOCI_FUZZ_CASES and SOCI_FUZZ_SEED change the run; a failure
// prints the seed, the case and the input (base64) to reproduce it.
import assert from "node:assert/strict";
import { join } from "node:path";
import { BadInputError, SociError } from "../lib/errors.ts";
import {
  JSON_MAX_DEPTH,
  JsonObject,
  JsonSyntaxError,
  type JsonValue,
  parseJson,
} from "../lib/go/json_parse.ts";
import { foldName } from "../lib/go/json_struct.ts";
import { decodeIndex, decodeManifest } from "../lib/oci/json_decode.ts";
import { encodeIndex, encodeManifest } from "../lib/oci/json_encode.ts";
import type { ImageIndex, ImageManifest } from "../lib/oci/descriptor.ts";
import {
  type DockerConfig,
  parseDockerConfig,
  resolveCredentials,
} from "../lib/registry/credentials.ts";
import { prng, randInt } from "./helpers/ztoc_e2e_tools.ts";
import {
  buildGoJsonOracle,
  deepTree,
  fromJs,
  type GoAnswer,
  mutateBytes,
  mutateTree,
  raw,
  reproduce,
  runGoJsonOracle,
  serialize,
  type Tree,
  type Vocabulary,
} from "./helpers/json_fuzz.ts";

const CASES = Number(Deno.env.get("SOCI_FUZZ_CASES") ?? 10_000);
const SEED = Number(Deno.env.get("SOCI_FUZZ_SEED") ?? 20_240_501);
const ENC = new TextEncoder();
const DEC = new TextDecoder();
const UTF8_KEEP_BOM = new TextDecoder("utf-8", { ignoreBOM: true });

const D = (c: string) => "sha256:" + c.repeat(64);

/** Values the tree mutations put in: edge cases of Go's number, string and base64 rules. */
const VALUES: Tree[] = [
  "null",
  "true",
  "false",
  "0",
  "-0",
  "1",
  "2",
  "255",
  "256",
  "-1",
  "1.0",
  "1e2",
  "2.5",
  "9007199254740991",
  "9007199254740993",
  "-9007199254740993",
  "9223372036854775807",
  "9223372036854775808",
  "99999999999999999999",
  '""',
  '"a"',
  '"linux"',
  '"aGk="',
  '"aGl="',
  '"aGk"',
  '"a==="',
  '"aGVs\\nbG8="',
  '"e30="',
  '"\\u00e9"',
  '"\\ud83d\\ude00"',
  '"\\ud800"',
  '"\\udc00\\ud800"',
  '"<&>"',
  '"\\u2028"',
  '"\\/"',
  '"\\u0000"',
  '"__proto__"',
  "[]",
  "{}",
  "[104,105]",
  "[null,1]",
  '["x"]',
  '["a",null,"b"]',
  '{"a":"b"}',
  '{"__proto__":"p"}',
].map((s) => raw(s)).concat([
  raw([0x22, 0xff, 0x61, 0x22]), // invalid UTF-8 in a string
  raw([0x22, 0xe2, 0x82, 0x22]), // truncated sequence
  raw([0x22, 0xef, 0xbb, 0xbf, 0x22]), // BOM inside a string
  raw([0x22, 0xed, 0xa0, 0x80, 0x22]), // UTF-8 encoded surrogate
]);

const OCI_NAMES = [
  "schemaVersion",
  "mediaType",
  "artifactType",
  "config",
  "layers",
  "manifests",
  "subject",
  "annotations",
  "digest",
  "size",
  "urls",
  "data",
  "platform",
  "architecture",
  "os",
  "os.version",
  "os.features",
  "variant",
  "unknown",
];

const OCI_SEEDS: Tree[] = [
  fromJs({ // a SOCI v1 index manifest
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    artifactType: "application/vnd.amazon.soci.index.v1+json",
    config: {
      mediaType: "application/vnd.oci.empty.v1+json",
      digest: D("4"),
      size: 2,
      data: "e30=",
    },
    layers: [{
      mediaType: "application/octet-stream",
      digest: D("1"),
      size: 4242,
      annotations: {
        "com.amazon.soci.span-size": "4194304",
        "com.amazon.soci.image-layer-digest": D("2"),
        "com.amazon.soci.image-layer-mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
      },
    }, { mediaType: "application/octet-stream", digest: D("5"), size: 7 }],
    subject: {
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: D("3"),
      size: 1001,
    },
    annotations: { "com.amazon.soci.build-tool-identifier": "AWS SOCI CLI v0.2" },
  }),
  fromJs({ // an image index with platforms and a SOCI v2 entry
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [{
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: D("a"),
      size: 527,
      platform: {
        architecture: "arm64",
        os: "linux",
        variant: "v8",
        "os.features": ["sse4", "x"],
        "os.version": "10.0.17763",
      },
    }, {
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: D("b"),
      size: 10,
      urls: ["https://example.com/a?x=1&y=<2>", "u2"],
      annotations: { "com.amazon.soci.image-manifest-digest": D("c") },
      artifactType: "application/vnd.amazon.soci.index.v2+json",
      data: "aGVsbG8=",
    }],
    subject: { mediaType: "m", digest: D("d"), size: 3 },
    annotations: { "org.opencontainers.image.ref.name": "latest" },
  }),
  fromJs({ // a Docker schema 2 manifest, Docker member order
    schemaVersion: 2,
    mediaType: "application/vnd.docker.distribution.manifest.v2+json",
    config: {
      mediaType: "application/vnd.docker.container.image.v1+json",
      size: 1469,
      digest: D("e"),
    },
    layers: [
      {
        mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip",
        size: 2811478,
        digest: D("f"),
      },
      { mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", size: 0, digest: D("0") },
    ],
  }),
  fromJs({ // odd but valid: unknown members, unicode, nulls, byte arrays
    SchemaVersion: 2,
    "ſize": 1,
    unknown: { deep: [1, -0.5e3, true, null, { x: [] }] },
    layers: [null, { data: [104, 105], size: 0, platform: {} }],
    manifests: [{ urls: [], annotations: {}, digest: "é😀\u2028" }],
    annotations: { "\u00e9": "1", "\u{1F600}": "2", "a": "3" },
  }),
  fromJs({}),
];

const CONFIG_SECRET = "S3cretLeak-77";
const CONFIG_AUTH = btoa("user:" + CONFIG_SECRET);

const CONFIG_NAMES = [
  "auths",
  "credsStore",
  "credHelpers",
  "auth",
  "username",
  "password",
  "identitytoken",
  "registrytoken",
  "email",
  "h:1",
  "https://index.docker.io/v1/",
  "HttpHeaders",
];

const CONFIG_VALUES: Tree[] = VALUES.concat([
  `"${CONFIG_AUTH}"`,
  `"${CONFIG_SECRET}"`,
  '"dTpw"',
  '"bm9jb2xvbg=="',
  '"desktop"',
  `{"auth":"${CONFIG_AUTH}"}`,
  `{"username":"u","password":"${CONFIG_SECRET}"}`,
].map((s) => raw(s)));

const CONFIG_SEEDS: Tree[] = [
  fromJs({
    auths: {
      "h:1": { auth: CONFIG_AUTH },
      "https://index.docker.io/v1/": { auth: CONFIG_AUTH, email: "a@b" },
      "https://h:2/v2/": { username: "u2", password: CONFIG_SECRET },
    },
    credsStore: "desktop",
    credHelpers: { "gcr.io": "gcloud", "h:3": "pass" },
  }),
  fromJs({
    HttpHeaders: { "User-Agent": "x" },
    psFormat: "table",
    Auths: {
      "h:1": { username: "u", password: CONFIG_SECRET, identitytoken: "", registrytoken: "" },
    },
    currentContext: "default",
  }),
  fromJs({ auths: { "h:1": { identitytoken: CONFIG_SECRET }, "h:2": {} } }),
  fromJs({}),
];

/** One generated document: mostly tree mutations of a seed, sometimes bytes mangled too. */
function generate(rnd: () => number, seeds: Tree[], voc: Vocabulary): Uint8Array {
  const seed = seeds[randInt(rnd, 0, seeds.length - 1)];
  const r = rnd();
  const tree = r < 0.03 ? seed : mutateTree(seed, rnd, voc);
  const doc = serialize(tree, rnd);
  return rnd() < 0.3 ? mutateBytes(doc, rnd) : doc;
}

/** Thrown for a broken expectation, with what it takes to reproduce it. */
function failure(what: string, i: number, doc: Uint8Array, detail: string): Error {
  return new Error(
    `${what}: ${detail}\n  seed ${SEED}, case ${i}, input (base64): ${reproduce(doc)}`,
  );
}

/**
 * Whether Go may fill some slice from three or more arrays: Go then reuses
 * elements left between the slice's length and capacity, which our decoder
 * does not model (see `json_struct.ts`). Counted over the member paths a
 * slice can be reached by, element positions included.
 */
function mayReuseStaleElements(doc: JsonValue): boolean {
  const SLICES = new Set(["LAYERS", "MANIFESTS", "URLS", "OS.FEATURES", "DATA"]);
  const STRUCTS = new Set(["CONFIG", "SUBJECT", "PLATFORM"]);
  const counts = new Map<string, number>();
  const stack: Array<[JsonValue, string]> = [[doc, ""]];
  while (stack.length > 0) {
    const [v, at] = stack.pop()!;
    if (!(v instanceof JsonObject)) continue;
    for (const [k, x] of v.members) {
      const here = `${at}.${foldName(k)}`;
      const name = foldName(k);
      if (SLICES.has(name) && Array.isArray(x)) {
        counts.set(here, (counts.get(here) ?? 0) + 1);
        x.forEach((e, i) => stack.push([e, `${here}[${i}]`]));
      } else if (STRUCTS.has(name)) {
        stack.push([x, here]);
      }
    }
  }
  return [...counts.values()].some((n) => n >= 3);
}

/** Whether a JSON text nests deeper than Go's limit (counted outside strings). */
function tooDeep(text: string): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "[" || c === "{") {
      if (++depth > JSON_MAX_DEPTH) return true;
    } else if (c === "]" || c === "}") depth--;
  }
  return false;
}

/**
 * Our parser must accept exactly what JSON.parse accepts (on the same bytes
 * decoded with U+FFFD for invalid UTF-8 and the BOM kept), up to Go's depth
 * limit.
 */
function checkSyntaxAgainstJsonParse(
  i: number,
  doc: Uint8Array,
  ourSyntaxError: string | undefined,
): void {
  const text = UTF8_KEEP_BOM.decode(doc);
  let jsOk = true;
  try {
    JSON.parse(text);
  } catch {
    jsOk = false;
  }
  if (jsOk && tooDeep(text)) {
    if (!ourSyntaxError?.endsWith(" exceeded max depth")) {
      throw failure("syntax", i, doc, `deeper than ${JSON_MAX_DEPTH} but ${ourSyntaxError}`);
    }
    return;
  }
  if (jsOk !== (ourSyntaxError === undefined)) {
    throw failure(
      "syntax",
      i,
      doc,
      `JSON.parse ${jsOk ? "accepts" : "refuses"}, ours: ${ourSyntaxError ?? "accepts"}`,
    );
  }
}

/** The syntax error part of a message, when `message` is `<what>: <Go syntax error>`. */
function syntaxPart(message: string, what: string): string | undefined {
  const rest = message.slice(what.length + 2);
  return /^(invalid character |unexpected end of JSON input$)/.test(rest) ? rest : undefined;
}

function isGoSyntaxError(err: string): boolean {
  return /^(invalid character |unexpected end of JSON input$)/.test(err);
}

/** An integer Go's int64 holds but a JavaScript number does not. */
function int64OnlyOutOfRange(message: string): boolean {
  const m = /: (-?\d+) is out of range$/.exec(message);
  if (!m) return false;
  const n = BigInt(m[1]);
  return (n > BigInt(Number.MAX_SAFE_INTEGER) || n < -BigInt(Number.MAX_SAFE_INTEGER)) &&
    n <= (1n << 63n) - 1n && n >= -(1n << 63n);
}

interface DocKind<T> {
  what: string;
  decode: (b: Uint8Array) => T;
  encode: (v: T) => Uint8Array;
}

const MANIFEST: DocKind<ImageManifest> = {
  what: "invalid image manifest",
  decode: decodeManifest,
  encode: encodeManifest,
};
const INDEX: DocKind<ImageIndex> = {
  what: "invalid image index",
  decode: decodeIndex,
  encode: encodeIndex,
};

interface Tally {
  accepted: number;
  rejected: number;
  comparedWithGo: number;
  staleSkipped: number;
}

/** Decodes one document with one decoder and checks the outcome (see the file comment). */
function checkOciCase<T>(
  kind: DocKind<T>,
  i: number,
  doc: Uint8Array,
  go: GoAnswer,
  tally: Tally,
): void {
  let value: T | undefined;
  let error: unknown;
  try {
    value = kind.decode(doc);
  } catch (e) {
    error = e;
  }
  if (error !== undefined) {
    tally.rejected++;
    if (!(error instanceof BadInputError)) {
      throw failure(kind.what, i, doc, `not a BadInputError: ${String(error)}`);
    }
    const msg = error.message;
    if (!msg.startsWith(kind.what + ": ") || msg.includes("\n")) {
      throw failure(kind.what, i, doc, `badly formed message: ${JSON.stringify(msg)}`);
    }
    const ours = syntaxPart(msg, kind.what);
    checkSyntaxAgainstJsonParse(i, doc, ours);
    if (go.ok) {
      // Allowed: integers beyond 2^53 (JavaScript numbers), and a top-level
      // null (Go leaves the struct empty; a document must be an object here).
      const allowed = int64OnlyOutOfRange(msg) ||
        msg === `${kind.what}: expected a JSON object, got null`;
      if (!allowed) throw failure(kind.what, i, doc, `Go accepts, ours: ${msg}`);
    } else if (isGoSyntaxError(go.err) && ours !== go.err) {
      throw failure(kind.what, i, doc, `Go: ${go.err}; ours: ${msg}`);
    }
    return;
  }
  tally.accepted++;
  checkSyntaxAgainstJsonParse(i, doc, undefined);
  // decode → encode → decode → encode is stable.
  const e1 = kind.encode(value!);
  const again = kind.decode(e1);
  assert.deepEqual(again, value, `${kind.what}: decode(encode(x)) differs, case ${i}`);
  const e2 = kind.encode(again);
  if (DEC.decode(e1) !== DEC.decode(e2)) {
    throw failure(kind.what, i, doc, `unstable: ${DEC.decode(e1)} vs ${DEC.decode(e2)}`);
  }
  if (!go.ok) throw failure(kind.what, i, doc, `Go refuses (${go.err}), ours accepts`);
  if (mayReuseStaleElements(parseJson(doc))) {
    tally.staleSkipped++;
    return;
  }
  tally.comparedWithGo++;
  if (DEC.decode(e1) !== DEC.decode(go.out)) {
    throw failure(kind.what, i, doc, `\n  ours ${DEC.decode(e1)}\n  Go   ${DEC.decode(go.out)}`);
  }
}

Deno.test("fuzz: manifest and index decoders agree with Go's encoding/json", async () => {
  const dir = await Deno.makeTempDir({ prefix: "soci-json-fuzz-" });
  try {
    const oracle = await buildGoJsonOracle(dir);
    const rnd = prng(SEED);
    const voc = { names: OCI_NAMES, values: VALUES };
    const docs = Array.from({ length: CASES }, () => generate(rnd, OCI_SEEDS, voc));
    const [goManifests, goIndexes] = await Promise.all([
      runGoJsonOracle(oracle, "manifest", docs),
      runGoJsonOracle(oracle, "index", docs),
    ]);
    const tally: Tally = { accepted: 0, rejected: 0, comparedWithGo: 0, staleSkipped: 0 };
    for (let i = 0; i < docs.length; i++) {
      checkOciCase(MANIFEST, i, docs[i], goManifests[i], tally);
      checkOciCase(INDEX, i, docs[i], goIndexes[i], tally);
    }
    // The mix must exercise both outcomes, and nearly every accepted
    // document must have been compared with Go byte for byte.
    assert.ok(tally.accepted >= CASES / 2, JSON.stringify(tally));
    assert.ok(tally.rejected >= CASES / 2, JSON.stringify(tally));
    assert.ok(tally.staleSkipped <= tally.accepted / 50, JSON.stringify(tally));
    console.log(`manifest/index fuzz, ${CASES} documents × 2 decoders: ${JSON.stringify(tally)}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Go's view of a config (as the oracle marshals it) for comparison. */
function configAsGo(c: DockerConfig): unknown {
  const auths = c.auths === null ? null : Object.fromEntries(
    [...c.auths].map(([k, e]) => [k, {
      auth: e.auth,
      username: e.username,
      password: e.password,
      identitytoken: e.identitytoken,
      registrytoken: e.registrytoken,
    }]),
  );
  const credHelpers = c.credHelpers === null ? null : Object.fromEntries(c.credHelpers);
  return { auths, credsStore: c.credsStore, credHelpers };
}

function assertNoSecret(i: number, doc: Uint8Array, message: string): void {
  for (const s of [CONFIG_SECRET, "3cretLeak", CONFIG_AUTH, CONFIG_AUTH.slice(8, 20)]) {
    if (message.includes(s)) throw failure("docker config", i, doc, `secret in "${message}"`);
  }
}

Deno.test("fuzz: Docker config reader agrees with Go and never shows a secret", async () => {
  const dir = await Deno.makeTempDir({ prefix: "soci-config-fuzz-" });
  try {
    const oracle = await buildGoJsonOracle(dir);
    const rnd = prng(SEED + 1);
    const voc = { names: CONFIG_NAMES, values: CONFIG_VALUES };
    const docs = Array.from({ length: CASES }, () => generate(rnd, CONFIG_SEEDS, voc));
    const goConfigs = await runGoJsonOracle(oracle, "dockerconfig", docs);
    const path = join(dir, "config.json");
    const what = `docker config ${path}`;
    const noHelper = () => Promise.resolve({ code: 1, stdout: "credentials not found" });
    let accepted = 0;
    let found = 0;
    for (let i = 0; i < docs.length; i++) {
      const doc = docs[i];
      const go = goConfigs[i];
      let config: DockerConfig | undefined;
      try {
        config = parseDockerConfig(doc, path);
      } catch (e) {
        if (!(e instanceof BadInputError)) {
          throw failure("docker config", i, doc, `not a BadInputError: ${String(e)}`);
        }
        const msg = e.message;
        assertNoSecret(i, doc, msg + String(e.stack));
        const syntax = /^docker config .* is not valid JSON \(line (\d+), column (\d+)\)$/.exec(
          msg,
        );
        // The parser's own message (which the config reader hides) and offset.
        let inner: JsonSyntaxError | undefined;
        try {
          parseJson(doc);
        } catch (e) {
          if (!(e instanceof JsonSyntaxError)) throw e;
          inner = e;
        }
        checkSyntaxAgainstJsonParse(i, doc, inner?.message);
        if ((syntax === null) !== (inner === undefined)) {
          throw failure("docker config", i, doc, `${msg} for a parser error ${inner?.message}`);
        }
        if (syntax) {
          // The position lies inside the document (or just past its end).
          const lines = UTF8_KEEP_BOM.decode(doc).split("\n");
          const [line, column] = [Number(syntax[1]), Number(syntax[2])];
          if (line > lines.length || column > lines[line - 1].length + 1) {
            throw failure("docker config", i, doc, `position out of the text: ${msg}`);
          }
          if (go.ok || inner!.message !== `invalid JSON: ${go.err}`) {
            const ours = inner!.message;
            throw failure("docker config", i, doc, `Go: ${go.ok ? "accepts" : go.err}; ${ours}`);
          }
          const before = doc.subarray(0, inner!.offset);
          const nl = before.lastIndexOf(0x0a);
          const expected = [
            before.filter((c) => c === 0x0a).length + 1,
            UTF8_KEEP_BOM.decode(before.subarray(nl + 1)).length + 1,
          ];
          if (expected[0] !== line || expected[1] !== column) {
            throw failure("docker config", i, doc, `${msg}, the error is at ${expected}`);
          }
        } else if (!msg.startsWith(what + ": ") || msg.includes("\n")) {
          throw failure("docker config", i, doc, `badly formed message: ${JSON.stringify(msg)}`);
        } else if (go.ok) {
          throw failure("docker config", i, doc, `Go accepts, ours: ${msg}`);
        }
        continue;
      }
      accepted++;
      checkSyntaxAgainstJsonParse(i, doc, undefined);
      if (!go.ok) throw failure("docker config", i, doc, `Go refuses (${go.err}), ours accepts`);
      try {
        assert.deepEqual(configAsGo(config), JSON.parse(DEC.decode(go.out)));
      } catch (e) {
        throw failure("docker config", i, doc, (e as Error).message);
      }
      // The same bytes as a config file: credentials for h:1, or a clear error.
      if (i % 4 === 0) {
        await Deno.writeFile(path, doc);
        try {
          const creds = await resolveCredentials("h:1", { configDir: dir, runHelper: noHelper });
          if (creds !== undefined) {
            found++;
            for (const v of Object.values(creds)) assert.equal(typeof v, "string");
          }
        } catch (e) {
          if (!(e instanceof SociError)) {
            throw failure("resolveCredentials", i, doc, `not a SociError: ${String(e)}`);
          }
          assertNoSecret(i, doc, e.message);
        }
      }
    }
    assert.ok(accepted >= CASES / 3 && accepted <= CASES * 0.9, `${accepted} accepted`);
    assert.ok(found >= CASES / 100, `${found} credentials found`);
    console.log(`docker config fuzz, ${CASES} documents: ${accepted} accepted, ${found} found`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deep nesting (100 000 levels) is a one-line BadInputError, not a stack overflow", async () => {
  const deep = [
    "[".repeat(100_000),
    "[".repeat(100_000) + "]".repeat(100_000),
    '{"a":'.repeat(100_000) + "1" + "}".repeat(100_000),
    '{"layers":' + "[".repeat(100_000),
    '{"manifests":[{"platform":{"os.features":' + "[".repeat(100_000) + "]".repeat(100_000),
    '{"auths":{"h:1":' + '{"a":'.repeat(100_000),
  ].map((s) => ENC.encode(s));
  for (const doc of deep) {
    for (
      const [what, decode] of [[MANIFEST.what, decodeManifest], [INDEX.what, decodeIndex]] as const
    ) {
      assert.throws(() => decode(doc), (e: unknown) =>
        e instanceof BadInputError &&
        /^invalid image (manifest|index): invalid character '[[{]' exceeded max depth$/.test(
          e.message,
        ) && e.message.startsWith(what));
    }
    // The position of the bracket one level too deep.
    let at = 0;
    for (let n = 0; at < doc.length; at++) {
      if ((doc[at] === 0x5b || doc[at] === 0x7b) && ++n > JSON_MAX_DEPTH) break;
    }
    assert.throws(
      () => parseDockerConfig(doc, "c.json"),
      (e: unknown) =>
        e instanceof BadInputError &&
        e.message === `docker config c.json is not valid JSON (line 1, column ${at + 1})`,
    );
  }
  // Just below the limit: valid, and decoded (the deep value is an unknown member).
  const ok = ENC.encode('{"x":' + serializeDeep(JSON_MAX_DEPTH - 1) + "}");
  assert.equal(decodeManifest(ok).schemaVersion, 0);
  // The same depth through the reader of a credential file on disk.
  const dir = await Deno.makeTempDir({ prefix: "soci-config-deep-" });
  try {
    await Deno.writeFile(join(dir, "config.json"), deep[2]);
    await assert.rejects(
      resolveCredentials("h:1", { configDir: dir }),
      (e: unknown) => e instanceof BadInputError && e.message.includes("is not valid JSON"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function serializeDeep(depth: number): string {
  return DEC.decode(serialize(deepTree(depth, false)));
}
