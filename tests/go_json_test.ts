// Unit tests of lib/go/: encoding/json string quoting, the one JSON parser
// (Go's syntax error texts and offsets), Go's unmarshal rules, Indent and
// MarshalIndent. Expected error texts and decode results were checked with
// Go's own encoding/json (tests/helpers/go_json_oracle.go).
import assert from "node:assert/strict";
import { BadInputError } from "../lib/errors.ts";
import { indentGoJson, marshalIndentGo } from "../lib/go/json_indent.ts";
import {
  JSON_MAX_DEPTH,
  JsonNumber,
  JsonObject,
  JsonSyntaxError,
  type JsonValue,
  parseJson,
} from "../lib/go/json_parse.ts";
import { quoteJsonString } from "../lib/go/json_quote.ts";
import { foldName, JsonStructReader, structFields } from "../lib/go/json_struct.ts";
import { catchError } from "./helpers/oci_fixtures.ts";

const enc = new TextEncoder();
const bytes = (...parts: Array<string | number[]>) => {
  const out: number[] = [];
  for (const p of parts) out.push(...(typeof p === "string" ? enc.encode(p) : p));
  return new Uint8Array(out);
};

Deno.test("quoteJsonString: Go escaping of strings", () => {
  assert.deepEqual(quoteJsonString(""), '""');
  assert.deepEqual(quoteJsonString("plain text/+-_.~"), '"plain text/+-_.~"');
  assert.deepEqual(quoteJsonString('"\\'), '"\\"\\\\"');
  assert.deepEqual(quoteJsonString("<>&"), '"\\u003c\\u003e\\u0026"');
  assert.deepEqual(quoteJsonString("\b\f\n\r\t"), '"\\b\\f\\n\\r\\t"');
  assert.deepEqual(quoteJsonString("\x00\x01\x1f\x0b"), '"\\u0000\\u0001\\u001f\\u000b"');
  assert.deepEqual(quoteJsonString("\x7f"), '"\x7f"'); // DEL is not escaped
  assert.deepEqual(quoteJsonString("a\u2028b\u2029c"), '"a\\u2028b\\u2029c"');
  assert.deepEqual(quoteJsonString("é€😀\ufeff"), '"é€😀\ufeff"'); // other non-ASCII is literal
  assert.deepEqual(quoteJsonString("x\ud800y"), '"x\ufffdy"'); // lone surrogate → literal U+FFFD
  assert.deepEqual(quoteJsonString("\udc00"), '"\ufffd"');
});

Deno.test("quoteJsonString: raw bytes, invalid UTF-8 → \\ufffd per byte as Go's DecodeRune", () => {
  // Valid multi-byte sequences stay literal.
  assert.deepEqual(quoteJsonString(bytes([0xc3, 0xa9, 0xf0, 0x9f, 0x98, 0x80])), '"é😀"');
  // Each byte of an invalid sequence is replaced on its own.
  assert.deepEqual(quoteJsonString(bytes([0xff])), '"\\ufffd"');
  assert.deepEqual(quoteJsonString(bytes([0xe2, 0x82, 0x41])), '"\\ufffd\\ufffdA"'); // truncated 3-byte
  assert.deepEqual(quoteJsonString(bytes([0xed, 0xa0, 0x80])), '"\\ufffd\\ufffd\\ufffd"'); // surrogate
  assert.deepEqual(quoteJsonString(bytes([0xc0, 0x80])), '"\\ufffd\\ufffd"'); // overlong NUL
  assert.deepEqual(quoteJsonString(bytes([0xe0, 0x80, 0x80])), '"\\ufffd\\ufffd\\ufffd"'); // overlong
  assert.deepEqual(
    quoteJsonString(bytes([0xf4, 0x90, 0x80, 0x80])),
    '"\\ufffd\\ufffd\\ufffd\\ufffd"',
  ); // > U+10FFFF
  assert.deepEqual(quoteJsonString(bytes("a", [0xe2, 0x82])), '"a\\ufffd\\ufffd"'); // truncated at end
  // U+2028 from bytes, ASCII escapes from bytes.
  assert.deepEqual(quoteJsonString(bytes([0xe2, 0x80, 0xa8, 0x3c, 0x0a])), '"\\u2028\\u003c\\n"');
});

Deno.test("indentGoJson: Go Indent layout, escapes and number text kept", () => {
  const src = ' \n{"b":[],"a":{},"c":[1,-2.50e+3,{"d":"x \\u003c y","e":[{}]}],"f":null,"g":true}';
  assert.deepEqual(
    indentGoJson(enc.encode(src)),
    [
      "{",
      '  "b": [],',
      '  "a": {},',
      '  "c": [',
      "    1,",
      "    -2.50e+3,",
      "    {",
      '      "d": "x \\u003c y",',
      '      "e": [',
      "        {}",
      "      ]",
      "    }",
      "  ],",
      '  "f": null,',
      '  "g": true',
      "}",
      "",
    ].join("\n"),
  );
  assert.deepEqual(indentGoJson("{}"), "{}\n");
  assert.deepEqual(indentGoJson('"s"  '), '"s"  \n');
  catchError(() => indentGoJson("{"), BadInputError);
});

Deno.test("marshalIndentGo: insertion order, Go escaping, empty containers", () => {
  const value = {
    name: "a<b>",
    count: 3,
    ratio: 0.5,
    tiny: 1e-7,
    huge: 1e21,
    ok: false,
    none: null,
    skipped: undefined,
    list: [],
    obj: {},
    nested: [{ x: "\u2028" }, [1, 2]],
    raw: new Uint8Array([104, 105]),
  };
  assert.deepEqual(
    marshalIndentGo(value),
    [
      "{",
      '  "name": "a\\u003cb\\u003e",',
      '  "count": 3,',
      '  "ratio": 0.5,',
      '  "tiny": 1e-7,',
      '  "huge": 1e+21,',
      '  "ok": false,',
      '  "none": null,',
      '  "list": [],',
      '  "obj": {},',
      '  "nested": [',
      "    {",
      '      "x": "\\u2028"',
      "    },",
      "    [",
      "      1,",
      "      2",
      "    ]",
      "  ],",
      '  "raw": "aGk="',
      "}",
      "",
    ].join("\n"),
  );
  assert.deepEqual(marshalIndentGo([]), "[]\n");
  assert.deepEqual(marshalIndentGo("x"), '"x"\n');
  catchError(() => marshalIndentGo({ n: NaN }), BadInputError);
});

/** The tree as plain data: numbers as `{ n: text }`, objects as member lists. */
function plain(v: JsonValue): unknown {
  if (v instanceof JsonNumber) return { n: v.text };
  if (v instanceof JsonObject) return { members: v.members.map(([k, x]) => [k, plain(x)]) };
  if (Array.isArray(v)) return v.map(plain);
  return v;
}

Deno.test("parseJson: number text, member order and duplicates are kept", () => {
  const v = parseJson(' {"b":1.50,"a":[-0,1e+2,true,false,null],"b":"\\u00e9\\/"} \n');
  assert.deepEqual(plain(v), {
    members: [
      ["b", { n: "1.50" }],
      ["a", [{ n: "-0" }, { n: "1e+2" }, true, false, null]],
      ["b", "é/"],
    ],
  });
  // Go's string rules: invalid UTF-8 per byte, lone surrogates, a BOM inside a string kept.
  assert.deepEqual(
    parseJson(bytes('"', [0xff, 0xe2, 0x82], "\\ud800x\\udc00", [0xef, 0xbb, 0xbf], '"')),
    "\ufffd\ufffd\ufffd\ufffdx\ufffd\ufeff",
  );
  assert.deepEqual(parseJson('"\\ud83d\\ude00"'), "\u{1F600}");
});

Deno.test("parseJson: Go's syntax error texts, with the byte offset of the error", () => {
  const cases: Array<[string | Uint8Array, string, number]> = [
    ['{"a" 1}', "invalid character '1' after object key", 5],
    ['{"a":1,}', "invalid character '}' looking for beginning of object key string", 7],
    ["{", "unexpected end of JSON input", 1],
    [" \t\n", "unexpected end of JSON input", 3],
    ["[1 2]", "invalid character '2' after array element", 3],
    ['"\\q"', "invalid character 'q' in string escape code", 2],
    ['"\\u12g4"', "invalid character 'g' in \\u hexadecimal character escape", 5],
    ["{} x", "invalid character 'x' after top-level value", 3],
    ["-a", "invalid character 'a' in numeric literal", 1],
    ["1.e", "invalid character 'e' after decimal point in numeric literal", 2],
    ['"a\x01"', "invalid character '\\x01' in string literal", 2],
    ["trux", "invalid character 'x' in literal true (expecting 'e')", 3],
    // The input ends inside a token: Go's scanner reports the space it feeds itself.
    ["tru", "invalid character ' ' in literal true (expecting 'e')", 3],
    ["-", "invalid character ' ' in numeric literal", 1],
    ["1e+", "invalid character ' ' in exponent of numeric literal", 3],
    ['"\\', "invalid character ' ' in string escape code", 2],
    ['"\\u12', "invalid character ' ' in \\u hexadecimal character escape", 5],
    ['"abc', "unexpected end of JSON input", 4],
    // Go shows a byte as the rune of the same value, escaped as strconv.Quote does.
    [bytes([0xff]), "invalid character 'ÿ' looking for beginning of value", 0],
    [bytes([0xc2, 0xa0]), "invalid character 'Â' looking for beginning of value", 0],
    [bytes([0x08]), "invalid character '\\b' looking for beginning of value", 0],
    ["\\", "invalid character '\\\\' looking for beginning of value", 0],
    ["'", "invalid character '\\'' looking for beginning of value", 0],
    ['["a"\x7f]', "invalid character '\\x7f' after array element", 4],
    [bytes([0xef, 0xbb, 0xbf], "{}"), "invalid character 'ï' looking for beginning of value", 0],
  ];
  for (const [src, msg, offset] of cases) {
    const e = catchError(() => parseJson(src, "doc"), JsonSyntaxError);
    assert.ok(e instanceof BadInputError);
    assert.deepEqual([e.message, e.offset], [`doc: ${msg}`, offset], String(src));
  }
});

Deno.test("parseJson: nesting is limited to Go's 10 000 levels, without recursion", () => {
  const ok = "[".repeat(JSON_MAX_DEPTH) + "]".repeat(JSON_MAX_DEPTH);
  let v = parseJson(ok);
  for (let i = 1; i < JSON_MAX_DEPTH; i++) v = (v as JsonValue[])[0];
  assert.deepEqual(v, []);
  for (
    const [src, c] of [
      ["[".repeat(100_000), "["],
      ["[".repeat(JSON_MAX_DEPTH + 1) + "]".repeat(JSON_MAX_DEPTH + 1), "["],
      ['{"a":'.repeat(100_000), "{"],
    ]
  ) {
    const e = catchError(() => parseJson(src), JsonSyntaxError);
    assert.equal(e.message, `invalid JSON: invalid character '${c}' exceeded max depth`);
    assert.equal(e.offset, src.indexOf(c) + JSON_MAX_DEPTH * (c === "[" ? 1 : 5));
  }
});

interface Item {
  name: string;
  n: number;
  tags: string[] | null;
  bytes: Uint8Array | null;
  labels: Map<string, string> | null;
  child: Item | null;
}

const zeroItem = (): Item => ({
  name: "",
  n: 0,
  tags: null,
  bytes: null,
  labels: null,
  child: null,
});

const ITEM_FIELDS = structFields<Item>({
  name: (r, t, v, p) => t.name = r.string(v, p, t.name),
  n: (r, t, v, p) => t.n = r.int(v, p, t.n),
  tags: (r, t, v, p) => t.tags = r.stringSlice(v, p, t.tags),
  bytes: (r, t, v, p) => t.bytes = r.bytes(v, p, t.bytes),
  labels: (r, t, v, p) => t.labels = r.stringMap(v, p, t.labels),
  child: (r, t, v, p) => t.child = r.pointer(v, p, t.child, zeroItem, ITEM_FIELDS),
});

function readItem(src: string, options = {}): Item {
  const item = zeroItem();
  new JsonStructReader("invalid item", options).struct(parseJson(src), "", item, ITEM_FIELDS);
  return item;
}

Deno.test("JsonStructReader: Go's unmarshal rules for repeated and null members", () => {
  // Folded names, later duplicates win, null keeps scalars.
  assert.deepEqual(readItem('{"NAME":"a","name":null,"N":1,"n":2,"N":null,"nAme":"b"}'), {
    ...zeroItem(),
    name: "b",
    n: 2,
  });
  assert.equal(foldName("na\u212ae"), "NAKE");
  // A slice met again reuses its elements: null keeps the old one; the length follows the array.
  assert.deepEqual(readItem('{"tags":["a","b"],"tags":[null,"c",null]}').tags, ["a", "c", ""]);
  assert.deepEqual(readItem('{"tags":["a","b"],"tags":[]}').tags, []);
  assert.equal(readItem('{"tags":["a"],"tags":null}').tags, null);
  // []byte: base64 or an array of bytes; arrays reuse the old bytes too.
  assert.deepEqual(readItem('{"bytes":"AQID","bytes":[null,9]}').bytes, Uint8Array.of(1, 9));
  // A map met again gets entries added; a null entry is "".
  assert.deepEqual(
    readItem('{"labels":{"a":"1","b":"2"},"labels":{"b":null,"c":"3"}}').labels,
    new Map([["a", "1"], ["b", ""], ["c", "3"]]),
  );
  // A pointer met again merges; null sets it back to nil.
  assert.deepEqual(readItem('{"child":{"name":"a"},"child":{"n":2}}').child, {
    ...zeroItem(),
    name: "a",
    n: 2,
  });
  assert.equal(readItem('{"child":{"name":"a"},"child":null}').child, null);
});

Deno.test("JsonStructReader: wrong types and numbers are one-line BadInputErrors with the path", () => {
  const cases: Array<[string, string]> = [
    ['{"n":"1"}', "n: expected an integer, got a string"],
    ['{"n":1.0}', "n: 1.0 is not an integer"],
    ['{"n":1e2}', "n: 1e2 is not an integer"],
    ['{"n":9007199254740992}', "n: 9007199254740992 is out of range"],
    ['{"tags":{}}', "tags: expected an array, got an object"],
    ['{"tags":["a",1]}', "tags[1]: expected a string, got a number"],
    ['{"bytes":[256]}', "bytes[0]: 256 is out of range"],
    ['{"bytes":[-0]}', "bytes[0]: -0 is out of range"], // Go's ParseUint takes no sign
    ['{"bytes":"aGk"}', "bytes: illegal base64 data"],
    ['{"bytes":true}', "bytes: expected a base64 string, got a boolean"],
    ['{"labels":{"k":[]}}', 'labels["k"]: expected a string, got an array'],
    ['{"child":{"child":{"name":5}}}', "child.child.name: expected a string, got a number"],
    ['{"child":[]}', "child: expected an object, got an array"],
  ];
  for (const [src, msg] of cases) {
    const e = catchError(() => readItem(src), BadInputError);
    assert.equal(e.message, `invalid item: ${msg}`, src);
  }
  // Map keys can be left out of messages (documents whose keys may be private).
  const e = catchError(
    () => readItem('{"labels":{"secret":1}}', { hideMapKeys: true }),
    BadInputError,
  );
  assert.equal(e.message, "invalid item: labels[…]: expected a string, got a number");
});
