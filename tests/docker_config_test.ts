// The Docker CLI config file and credential helper answers, read with Go's
// json.Unmarshal rules (as Docker's own Go code reads them) by the one JSON
// parser. No registry needed: see registry_auth_test.ts for the end to end.
import assert from "node:assert/strict";
import { join } from "node:path";
import { BadInputError, RegistryError } from "../lib/errors.ts";
import { parseDockerConfig, resolveCredentials } from "../lib/registry/credentials.ts";
import { catchError } from "./helpers/oci_fixtures.ts";

const enc = new TextEncoder();
const read = (text: string | Uint8Array) =>
  parseDockerConfig(typeof text === "string" ? enc.encode(text) : text, "/x/config.json");

async function withConfig<T>(text: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "soci-docker-config-" });
  try {
    await Deno.writeTextFile(join(dir, "config.json"), text);
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("parseDockerConfig: Go's rules (folded names, repeats, nulls, other members ignored)", () => {
  const c = read(
    '{"psFormat":5,"Auths":{"a":{"AUTH":"x","username":"u"}},"auths":{"b":{}},' +
      '"auths":{"a":{"password":"p"},"c":null},"CREDSSTORE":"one","credsStore":null,' +
      '"credHelpers":{"h":"x"},"credhelpers":{"h":"y","i":null}}',
  );
  // A map met again gets the new entries; an entry met again is replaced, not merged.
  const zero = { auth: "", username: "", password: "", identitytoken: "", registrytoken: "" };
  assert.deepEqual(
    c.auths,
    new Map([["a", { ...zero, password: "p" }], ["b", zero], ["c", zero]]),
  );
  assert.equal(c.credsStore, "one"); // null keeps the value
  assert.deepEqual(c.credHelpers, new Map([["h", "y"], ["i", ""]]));
  // A null document is an empty config, as in Go; nothing else but an object is.
  assert.deepEqual(read(" null "), { auths: null, credsStore: "", credHelpers: null });
  assert.equal(
    catchError(() => read("[]"), BadInputError).message,
    "docker config /x/config.json: expected a JSON object, got an array",
  );
});

Deno.test("parseDockerConfig: wrong types name the member, never a key or a value", () => {
  const cases: Array<[string, string]> = [
    ['{"auths":{"S3cret-host":{"auth":5}}}', "auths[…].auth: expected a string, got a number"],
    ['{"auths":{"h":"S3cret"}}', "auths[…]: expected an object, got a string"],
    ['{"auths":["S3cret"]}', "auths: expected an object, got an array"],
    ['{"credsStore":{"S3cret":1}}', "credsStore: expected a string, got an object"],
    ['{"credHelpers":{"S3cret":true}}', "credHelpers[…]: expected a string, got a boolean"],
  ];
  for (const [src, msg] of cases) {
    const e = catchError(() => read(src), BadInputError);
    assert.equal(e.message, `docker config /x/config.json: ${msg}`, src);
  }
});

Deno.test("parseDockerConfig: syntax errors give the line and column, counted as the text shows", () => {
  const cases: Array<[string | Uint8Array, number, number]> = [
    ["", 1, 1],
    ['{"auths": S3cret}', 1, 11],
    ['{\n  "é😀": S3cret}', 2, 10], // é is one column, 😀 two (UTF-16), as before
    ['{"a":"\\S3cret"}', 1, 8], // inside an escape: the escape character
    ['{"a":tru', 1, 9], // the input ends inside a literal: just past the end
    ['{"a":"b"}\r\n}', 2, 1],
    [Uint8Array.of(0xef, 0xbb, 0xbf, 0x7b, 0x7d), 1, 1], // a BOM is not JSON (nor for Go)
  ];
  for (const [src, line, column] of cases) {
    const e = catchError(() => read(src), BadInputError);
    assert.equal(
      e.message,
      `docker config /x/config.json is not valid JSON (line ${line}, column ${column})`,
      String(src),
    );
    assert.ok(!String(e.stack).includes("S3cret") && e.cause === undefined);
  }
});

Deno.test("resolveCredentials reads the config and helper answers as Docker's Go code does", async () => {
  // Member names in any case; an `auths` key present with null is an empty entry (no
  // other key is searched, as Docker's file store does).
  await withConfig(
    '{"AUTHS":{"h:1":{"Auth":"dTpw"},"h:2":null,"https://h:2/v2/":{"auth":"dTpw"}}}',
    async (dir) => {
      assert.deepEqual(await resolveCredentials("h:1", { configDir: dir }), {
        username: "u",
        password: "p",
      });
      assert.equal(await resolveCredentials("h:2", { configDir: dir }), undefined);
    },
  );
  // A helper's answer: Go's struct fields Username and Secret, matched case-insensitively.
  const answers: Array<[string, unknown]> = [
    ['{"username":"u","SECRET":"s","ServerURL":"h:1"}', { username: "u", password: "s" }],
    ['{"Username":"<token>","Secret":"t"}', { identityToken: "t" }],
    ["null", undefined],
    ["{}", undefined],
  ];
  await withConfig('{"credHelpers":{"h:1":"x"}}', async (dir) => {
    for (const [stdout, expected] of answers) {
      const runHelper = () => Promise.resolve({ code: 0, stdout });
      assert.deepEqual(await resolveCredentials("h:1", { configDir: dir, runHelper }), expected);
    }
    for (const stdout of ["[1]", '{"Username":5}', '{"Secret":"s3"', '"s3"']) {
      const runHelper = () => Promise.resolve({ code: 0, stdout });
      await assert.rejects(
        resolveCredentials("h:1", { configDir: dir, runHelper }),
        (e: unknown) =>
          e instanceof RegistryError &&
          e.message === "credential helper docker-credential-x returned invalid JSON for h:1",
        stdout,
      );
    }
  });
});
