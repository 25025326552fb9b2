import assert from "node:assert/strict";
import { BadInputError } from "../lib/errors.ts";
import type { ImageIndex, ImageManifest } from "../lib/oci/descriptor.ts";
import { decodeDescriptor, decodeIndex, decodeManifest } from "../lib/oci/json_decode.ts";
import {
  encodeDescriptor,
  encodeIndex,
  encodeManifest,
  encodePlatform,
} from "../lib/oci/json_encode.ts";
import { indentGoJson } from "../lib/go/json_indent.ts";
import { catchError, pythonLayout, run, umociLayout, withTempDir } from "./helpers/oci_fixtures.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const text = (b: Uint8Array) => dec.decode(b);
const bytes = (...parts: Array<string | number[]>) => {
  const out: number[] = [];
  for (const p of parts) out.push(...(typeof p === "string" ? enc.encode(p) : p));
  return new Uint8Array(out);
};

const D1 = "sha256:" + "1".repeat(64);
const D2 = "sha256:" + "2".repeat(64);
const D3 = "sha256:" + "3".repeat(64);
const EMPTY = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

Deno.test("encodeManifest: every optional member, Go struct order, sorted annotations", () => {
  // Members deliberately inserted in a scrambled order.
  const m: ImageManifest = {
    annotations: { "z": "last", "a": "b" },
    subject: { size: 527, digest: D3, mediaType: "application/vnd.oci.image.manifest.v1+json" },
    layers: [
      {
        artifactType: "application/x-art",
        platform: {
          variant: "v8",
          "os.features": ["f1", "f2"],
          "os.version": "10.0",
          os: "linux",
          architecture: "arm64",
        },
        data: "aGVsbG8=",
        annotations: { "k2": "v2", "k1": "v1" },
        urls: ["https://example.com/a?x=1&y=<2>"],
        size: 12345,
        digest: D1,
        mediaType: "application/octet-stream",
      },
      { size: 0, digest: D2, mediaType: "application/octet-stream" },
    ],
    config: { size: 2, digest: EMPTY, mediaType: "application/vnd.amazon.soci.index.v1+json" },
    artifactType: "application/vnd.example+type",
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    schemaVersion: 2,
  };
  const expected = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",' +
    '"artifactType":"application/vnd.example+type",' +
    '"config":{"mediaType":"application/vnd.amazon.soci.index.v1+json","digest":"' + EMPTY +
    '","size":2},' +
    '"layers":[{"mediaType":"application/octet-stream","digest":"' + D1 + '","size":12345,' +
    '"urls":["https://example.com/a?x=1\\u0026y=\\u003c2\\u003e"],' +
    '"annotations":{"k1":"v1","k2":"v2"},"data":"aGVsbG8=",' +
    '"platform":{"architecture":"arm64","os":"linux","os.version":"10.0",' +
    '"os.features":["f1","f2"],"variant":"v8"},"artifactType":"application/x-art"},' +
    '{"mediaType":"application/octet-stream","digest":"' + D2 + '","size":0}],' +
    '"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"' + D3 +
    '","size":527},' +
    '"annotations":{"a":"b","z":"last"}}';
  assert.deepEqual(text(encodeManifest(m)), expected);
});

Deno.test("encodeManifest: the v1 SOCI index example of soci-format §7.8", () => {
  const m: ImageManifest = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.amazon.soci.index.v1+json", digest: EMPTY, size: 2 },
    layers: [{
      mediaType: "application/octet-stream",
      digest: D1,
      size: 4242,
      annotations: {
        "com.amazon.soci.span-size": "4194304",
        "com.amazon.soci.image-layer-mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
        "com.amazon.soci.image-layer-digest": D2,
      },
    }],
    subject: { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: D3, size: 1001 },
    annotations: { "com.amazon.soci.build-tool-identifier": "AWS SOCI CLI v0.2" },
  };
  // The spec's wrapped example with the placeholders filled in, joined into one line.
  const expected = [
    '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",',
    '"config":{"mediaType":"application/vnd.amazon.soci.index.v1+json",',
    `"digest":"${EMPTY}","size":2},`,
    `"layers":[{"mediaType":"application/octet-stream","digest":"${D1}","size":4242,`,
    `"annotations":{"com.amazon.soci.image-layer-digest":"${D2}",`,
    '"com.amazon.soci.image-layer-mediaType":"application/vnd.oci.image.layer.v1.tar+gzip",',
    '"com.amazon.soci.span-size":"4194304"}}],',
    `"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"${D3}","size":1001},`,
    '"annotations":{"com.amazon.soci.build-tool-identifier":"AWS SOCI CLI v0.2"}}',
  ].join("");
  const out = encodeManifest(m);
  assert.deepEqual(text(out), expected);
  assert.ok(out[out.length - 1] === 0x7d, "no trailing newline");
});

Deno.test("encodeManifest/encodeIndex: empty optional members are omitted, required kept", () => {
  const m: ImageManifest = {
    schemaVersion: 2,
    mediaType: "",
    artifactType: "",
    config: { mediaType: "", digest: "", size: 0, urls: [], annotations: {}, data: "" },
    layers: [],
    annotations: {},
  };
  assert.deepEqual(
    text(encodeManifest(m)),
    '{"schemaVersion":2,"config":{"mediaType":"","digest":"","size":0},"layers":[]}',
  );
  const i: ImageIndex = {
    schemaVersion: 2,
    manifests: [{
      mediaType: "m",
      digest: D1,
      size: 7,
      platform: { architecture: "amd64", os: "linux", "os.version": "", "os.features": [] },
    }],
    annotations: {},
  };
  assert.deepEqual(
    text(encodeIndex(i)),
    '{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"' + D1 +
      '","size":7,"platform":{"architecture":"amd64","os":"linux"}}]}',
  );
});

Deno.test("encodeIndex: every optional member", () => {
  const i: ImageIndex = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    artifactType: "application/a",
    manifests: [{
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: D1,
      size: 10,
      annotations: { "com.amazon.soci.image-manifest-digest": D2 },
      platform: { architecture: "amd64", os: "linux" },
      artifactType: "application/vnd.amazon.soci.index.v2+json",
    }],
    subject: { mediaType: "application/vnd.oci.image.index.v1+json", digest: D3, size: 3 },
    annotations: { "org.opencontainers.image.ref.name": "x" },
  };
  assert.deepEqual(
    text(encodeIndex(i)),
    '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",' +
      '"artifactType":"application/a","manifests":[{"mediaType":' +
      '"application/vnd.oci.image.manifest.v1+json","digest":"' + D1 + '","size":10,' +
      '"annotations":{"com.amazon.soci.image-manifest-digest":"' + D2 + '"},' +
      '"platform":{"architecture":"amd64","os":"linux"},' +
      '"artifactType":"application/vnd.amazon.soci.index.v2+json"}],' +
      '"subject":{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"' + D3 +
      '","size":3},"annotations":{"org.opencontainers.image.ref.name":"x"}}',
  );
});

Deno.test("encodeDescriptor/encodePlatform return strings in Go order", () => {
  assert.deepEqual(
    encodeDescriptor({ size: 1, digest: D1, mediaType: "t" }),
    '{"mediaType":"t","digest":"' + D1 + '","size":1}',
  );
  assert.deepEqual(
    encodePlatform({ variant: "v7", os: "linux", architecture: "arm" }),
    '{"architecture":"arm","os":"linux","variant":"v7"}',
  );
  // data is written as canonical base64 (what Go's []byte round trip gives)
  assert.deepEqual(
    encodeDescriptor({ mediaType: "t", digest: D1, size: 5, data: "aGVsbG9=" }),
    '{"mediaType":"t","digest":"' + D1 + '","size":5,"data":"aGVsbG8="}',
  );
  catchError(() => encodeDescriptor({ mediaType: "t", digest: D1, size: 1.5 }), BadInputError);
  catchError(
    () => encodeDescriptor({ mediaType: "t", digest: D1, size: 1, data: "abc" }),
    BadInputError,
  );
});

Deno.test("annotations are sorted by UTF-8 bytes, not UTF-16 code units", () => {
  // U+FF5E (EF BD 9E) sorts before U+1F600 (F0 9F 98 80) in UTF-8, but after it in
  // UTF-16 (FF5E > D83D). "B" < "a" < "é" by bytes.
  const out = encodeDescriptor({
    mediaType: "t",
    digest: D1,
    size: 1,
    annotations: { "\u{1F600}": "smile", "\uFF5E": "tilde", "é": "e", "a": "1", "B": "2" },
  });
  assert.deepEqual(
    out,
    '{"mediaType":"t","digest":"' + D1 +
      '","size":1,"annotations":{"B":"2","a":"1","é":"e","\uFF5E":"tilde","\u{1F600}":"smile"}}',
  );
});

Deno.test("decodeManifest: only known members, case-insensitive names, Go null/duplicate rules", () => {
  const src = '{"SCHEMAVERSION":1,"schemaVersion":2,"MediaType":"x","mediaType":null,' +
    '"config":{"MEDIATYPE":"c","Digest":"d","\u017fize":5,"extra":[1,{"a":null}]},' +
    '"layers":[{"mediaType":"l","digest":"' + D1 + '","size":-0,"urls":[],"annotations":{},' +
    '"data":"","platform":{}},null],' +
    '"subject":{"digest":"s"},"subject":{"size":3},' +
    '"annotations":{"a":"1"},"Annotations":{"b":null},"unknown":{"deep":[true,false,null,1.5e3]}}';
  const m = decodeManifest(enc.encode(src));
  assert.deepEqual(m, {
    schemaVersion: 2,
    mediaType: "x",
    config: { mediaType: "c", digest: "d", size: 5 },
    layers: [
      {
        mediaType: "l",
        digest: D1,
        size: 0,
        platform: { architecture: "", os: "" },
      },
      { mediaType: "", digest: "", size: 0 },
    ],
    subject: { mediaType: "", digest: "s", size: 3 },
    annotations: { a: "1", b: "" },
  });
  assert.deepEqual(
    text(encodeManifest(m)),
    '{"schemaVersion":2,"mediaType":"x","config":{"mediaType":"c","digest":"d","size":5},' +
      '"layers":[{"mediaType":"l","digest":"' + D1 + '","size":0,' +
      '"platform":{"architecture":"","os":""}},{"mediaType":"","digest":"","size":0}],' +
      '"subject":{"mediaType":"","digest":"s","size":3},"annotations":{"a":"1","b":""}}',
  );
});

Deno.test("decode: missing or null layers/manifests re-encode as null; missing config as zero", () => {
  assert.deepEqual(
    text(encodeManifest(decodeManifest('{"schemaVersion":2}'))),
    '{"schemaVersion":2,"config":{"mediaType":"","digest":"","size":0},"layers":null}',
  );
  assert.deepEqual(
    text(encodeManifest(decodeManifest('{"schemaVersion":2,"layers":null,"config":null}'))),
    '{"schemaVersion":2,"config":{"mediaType":"","digest":"","size":0},"layers":null}',
  );
  assert.deepEqual(
    text(encodeIndex(decodeIndex('{"schemaVersion":2,"mediaType":"i"}'))),
    '{"schemaVersion":2,"mediaType":"i","manifests":null}',
  );
  // A missing layers list still reads as an empty array.
  assert.deepEqual(decodeManifest("{}").layers.length, 0);
  // subject/platform null → omitted; annotations null after a value → omitted.
  assert.deepEqual(
    text(encodeIndex(decodeIndex(
      '{"manifests":[],"subject":{"digest":"x"},"subject":null,"annotations":{"a":"b"},' +
        '"annotations":null}',
    ))),
    '{"schemaVersion":0,"manifests":[]}',
  );
});

Deno.test("decode: a repeated array reuses the elements decoded before, as Go does", () => {
  // Expected results written by Go's json.Unmarshal + json.Marshal of ocispec.Manifest.
  const cases: Array<[string, string]> = [
    [
      '{"layers":[{"digest":"a","size":1,"urls":["u1","u2"]},{"digest":"b"}],' +
      '"layers":[{"size":2,"urls":[null]},null,{"digest":"c"}]}',
      '"layers":[{"mediaType":"","digest":"a","size":2,"urls":["u1"]},' +
      '{"mediaType":"","digest":"b","size":0},{"mediaType":"","digest":"c","size":0}]}',
    ],
    [
      '{"layers":[{"data":"AQID"}],"layers":[{"data":[null,null]}]}',
      '"layers":[{"mediaType":"","digest":"","size":0,"data":"AQI="}]}',
    ],
    ['{"layers":[{"size":1}],"layers":[]}', '"layers":[]}'],
    [
      '{"layers":[{"size":1}],"layers":null,"layers":[{"digest":"x"}]}',
      '"layers":[{"mediaType":"","digest":"x","size":0}]}',
    ],
  ];
  const head = '{"schemaVersion":0,"config":{"mediaType":"","digest":"","size":0},';
  for (const [src, tail] of cases) {
    assert.equal(text(encodeManifest(decodeManifest(src))), head + tail, src);
  }
  // Structs and pointers merge, and a null struct is left as it was.
  assert.equal(
    encodeDescriptor(
      decodeManifest(
        '{"config":{"digest":"a","platform":{"os":"linux","os.features":["x"]}},' +
          '"config":{"size":3,"platform":{"architecture":"arm"}},"config":null}',
      ).config,
    ),
    '{"mediaType":"","digest":"a","size":3,' +
      '"platform":{"architecture":"arm","os":"linux","os.features":["x"]}}',
  );
  // A byte takes no sign, not even -0 (Go's strconv.ParseUint).
  assert.equal(
    catchError(() => decodeManifest('{"layers":[{"data":[-0]}]}'), BadInputError).message,
    "invalid image manifest: layers[0].data[0]: -0 is out of range",
  );
});

Deno.test("decode: strings unquoted as Go does (escapes, invalid UTF-8, surrogates)", () => {
  const src = bytes(
    '{"mediaType":"\\u003c\\/\\"\\\\\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00|\\ud800|\\udc00\\ud800x|',
    [0xff, 0xe2, 0x82],
    '|",',
    '"digest":"',
    [0xef, 0xbb, 0xbf],
    '","size":1}',
  );
  const d = decodeDescriptor(src);
  assert.deepEqual(
    d.mediaType,
    '</"\\\b\f\n\r\t\u00e9\u{1F600}|\ufffd|\ufffd\ufffdx|\ufffd\ufffd\ufffd|',
  );
  assert.deepEqual(d.digest, "\ufeff"); // a BOM inside a string is kept
  assert.deepEqual(
    encodeDescriptor(d),
    '{"mediaType":"\\u003c/\\"\\\\\\b\\f\\n\\r\\té😀|\ufffd|\ufffd\ufffdx|\ufffd\ufffd\ufffd|",' +
      '"digest":"\ufeff","size":1}',
  );
});

Deno.test("decode: data is base64 decoded and re-encoded canonically", () => {
  assert.deepEqual(decodeDescriptor('{"data":"aGVsbG9=\\n"}').data, "aGVsbG8=");
  assert.deepEqual(decodeDescriptor('{"data":[104,105]}').data, "aGk=");
  assert.deepEqual(decodeDescriptor('{"data":null}').data, undefined);
  for (const bad of ['"abc"', '"a==="', '"aGk=aGk="', '"aG!="', "5"]) {
    catchError(() => decodeDescriptor(`{"data":${bad}}`), BadInputError);
  }
});

Deno.test("decode: malformed JSON and wrong types are one-line BadInputErrors", () => {
  const cases: Array<[string, string]> = [
    ["", "unexpected end of JSON input"],
    ["{", "unexpected end of JSON input"],
    ['{"a":}', "invalid character '}' looking for beginning of value"],
    ['{"a":1,}', "invalid character '}' looking for beginning of object key string"],
    ['{"a" 1}', "invalid character '1' after object key"],
    ['{"a":1 "b":2}', "invalid character '\"' after object key:value pair"],
    ['{"a":[1 2]}', "invalid character '2' after array element"],
    ["{} x", "invalid character 'x' after top-level value"],
    ['{"a":tru}', "invalid character '}' in literal true (expecting 'e')"],
    ['{"a":01}', "invalid character '1' after object key:value pair"],
    ['{"a":1.}', "invalid character '}' after decimal point in numeric literal"],
    ['{"a":"\\q"}', "invalid character 'q' in string escape code"],
    ['{"a":"\\u12g4"}', "invalid character 'g' in \\u hexadecimal character escape"],
    ['{"a":"\x01"}', "invalid character '\\x01' in string literal"],
    ["[1]", "expected a JSON object, got an array"],
    ["null", "expected a JSON object, got null"],
    ['{"schemaVersion":"2"}', "schemaVersion: expected an integer, got a string"],
    ['{"schemaVersion":2.0}', "schemaVersion: 2.0 is not an integer"],
    ['{"layers":{}}', "layers: expected an array, got an object"],
    ['{"layers":[{"size":1e2}]}', "layers[0].size: 1e2 is not an integer"],
    [
      '{"layers":[{"size":99999999999999999999}]}',
      "layers[0].size: 99999999999999999999 is out of range",
    ],
    [
      '{"layers":[{"annotations":{"a":1}}]}',
      'layers[0].annotations["a"]: expected a string, got a number',
    ],
    ['{"config":[]}', "config: expected an object, got an array"],
    ['{"config":{"platform":{"os":true}}}', "config.platform.os: expected a string, got a boolean"],
    ['{"subject":{"urls":[1]}}', "subject.urls[0]: expected a string, got a number"],
  ];
  for (const [src, msg] of cases) {
    const err = catchError(() => decodeManifest(src), BadInputError);
    assert.deepEqual(err.message, `invalid image manifest: ${msg}`, src);
    assert.ok(!err.message.includes("\n"));
  }
  const deep = "[".repeat(10001) + "]".repeat(10001);
  assert.deepEqual(
    catchError(() => decodeIndex(`{"x":${deep}}`), BadInputError).message,
    "invalid image index: invalid character '[' exceeded max depth", // Go's text
  );
  // 10000 levels (object + 9999 arrays) are accepted, as in Go.
  const ok = "[".repeat(9999) + "]".repeat(9999);
  assert.deepEqual(decodeIndex(`{"x":${ok}}`).schemaVersion, 0);
});

Deno.test("decode: __proto__ annotation keys are plain data", () => {
  const d = decodeDescriptor('{"annotations":{"__proto__":"x","constructor":"y"}}');
  assert.deepEqual(Object.keys(d.annotations!), ["__proto__", "constructor"]);
  assert.deepEqual(
    encodeDescriptor(d),
    '{"mediaType":"","digest":"","size":0,"annotations":{"__proto__":"x","constructor":"y"}}',
  );
});

/** Reorders a Go-written Docker document into OCI struct order with Python (independent oracle). */
async function pythonOciOrder(path: string): Promise<string> {
  const script = String.raw`
import sys, json
DESC = ["mediaType", "digest", "size", "urls", "annotations", "data", "platform", "artifactType"]
PLAT = ["architecture", "os", "os.version", "os.features", "variant"]
TOP = ["schemaVersion", "mediaType", "artifactType", "config", "layers", "manifests", "subject", "annotations"]
def order(o, keys):
    return {k: o[k] for k in keys if k in o and o[k] not in ("", [], {}, None)}
def desc(d):
    d = order(d, DESC)
    if "platform" in d:
        d["platform"] = order(d["platform"], PLAT)
    if "annotations" in d:
        d["annotations"] = dict(sorted(d["annotations"].items()))
    return d
doc = json.load(open(sys.argv[1]))
out = order(doc, TOP)
out["schemaVersion"] = doc["schemaVersion"]
for k in ("config", "subject"):
    if k in out:
        out[k] = desc(out[k])
for k in ("layers", "manifests"):
    if k in doc:
        out[k] = [desc(x) for x in doc[k]]
out = {k: out[k] for k in TOP if k in out}
sys.stdout.write(json.dumps(out, separators=(",", ":")))
`;
  return await run("python3", ["-c", script, path]);
}

/** Python's json.dumps(indent=2) + "\n" (matches Go's Indent for documents without escapes). */
async function pythonIndent(path: string): Promise<string> {
  const script = String.raw`
import sys, json
sys.stdout.write(json.dumps(json.load(open(sys.argv[1])), indent=2, ensure_ascii=False) + "\n")
`;
  return await run("python3", ["-c", script, path]);
}

Deno.test("round trip of documents written by umoci and skopeo (Go encoding/json)", async () => {
  await withTempDir(async (tmp) => {
    const lay = `${tmp}/umoci`;
    await umociLayout(lay, "app", { "etc/hello": "hi\n" }, tmp);
    const py = `${tmp}/py`;
    await pythonLayout(py, [
      { tag: "amd", arch: "amd64", files: { "a.txt": "amd" } },
      { tag: "arm", arch: "arm64", variant: "v8", files: { "a.txt": "arm" } },
    ], [{ tag: "multi", of: ["amd", "arm"] }]);
    await run("skopeo", ["copy", "-q", `oci:${lay}:app`, `oci:${tmp}/cp:app2`]);
    await run("skopeo", ["copy", "-q", "--format", "v2s2", `oci:${lay}:app`, `oci:${tmp}/v2:app`]);
    await run("skopeo", [
      "copy",
      "-q",
      "--all",
      "--format",
      "v2s2",
      `oci:${py}:multi`,
      `oci:${tmp}/list:multi`,
    ]);
    const blob = (dir: string, digest: string) => `${dir}/blobs/sha256/${digest.slice(7)}`;
    const entry = async (dir: string) =>
      (JSON.parse(await Deno.readTextFile(`${dir}/index.json`)).manifests[0]) as {
        digest: string;
      };

    // umoci: Go-encoded with a trailing newline (json.Encoder); re-encoding drops only that.
    const umociIndex = await Deno.readFile(`${lay}/index.json`);
    const umociManifestPath = blob(lay, (await entry(lay)).digest);
    const umociManifest = await Deno.readFile(umociManifestPath);
    for (const [doc, isIndex] of [[umociIndex, true], [umociManifest, false]] as const) {
      assert.deepEqual(doc[doc.length - 1], 0x0a);
      const out = isIndex ? encodeIndex(decodeIndex(doc)) : encodeManifest(decodeManifest(doc));
      assert.deepEqual(text(out), text(doc.subarray(0, doc.length - 1)));
    }
    assert.deepEqual(decodeManifest(umociManifest).mediaType, undefined);

    // skopeo's index.json: Go-encoded, no newline: identical bytes.
    const cpIndex = await Deno.readFile(`${tmp}/cp/index.json`);
    assert.deepEqual(text(encodeIndex(decodeIndex(cpIndex))), text(cpIndex));

    // Docker schema 2 manifest and manifest list written by skopeo (Docker member order):
    // re-encoded in OCI struct order, as upstream's Go decode+encode would do.
    const v2Path = blob(`${tmp}/v2`, (await entry(`${tmp}/v2`)).digest);
    const v2 = await Deno.readFile(v2Path);
    assert.ok(text(v2).includes('"application/vnd.docker.distribution.manifest.v2+json"'));
    assert.deepEqual(text(encodeManifest(decodeManifest(v2))), await pythonOciOrder(v2Path));
    const listPath = blob(`${tmp}/list`, (await entry(`${tmp}/list`)).digest);
    const list = await Deno.readFile(listPath);
    assert.ok(text(list).includes("manifest.list.v2+json"));
    const listOut = text(encodeIndex(decodeIndex(list)));
    assert.deepEqual(listOut, await pythonOciOrder(listPath));
    assert.ok(listOut.includes('"platform":{"architecture":"arm64","os":"linux","variant":"v8"}'));

    // indentGoJson matches Python's indent=2 for these escape-free documents (trailing
    // whitespace of the source is kept, as Go's Indent does).
    for (const p of [`${tmp}/cp/index.json`, v2Path, listPath]) {
      assert.deepEqual(indentGoJson(await Deno.readFile(p)), await pythonIndent(p));
    }
    assert.deepEqual(
      indentGoJson(umociManifest),
      (await pythonIndent(umociManifestPath)).slice(0, -1) + "\n\n",
    );
  });
});
