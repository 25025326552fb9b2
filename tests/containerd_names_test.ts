/**
 * Image-name normalization as containerd and nerdctl do it (Docker's
 * reference rules: `ParseNormalizedNamed` + default tag), table-driven. The
 * expected names are the ones `ctr`/nerdctl store, written out by hand.
 */
import assert from "node:assert/strict";
import { isNormalizedImageName, normalizeImageName } from "../lib/containerd/names.ts";
import { BadInputError } from "../lib/errors.ts";

const DIGEST = "sha256:" + "0123456789abcdef".repeat(4);

Deno.test("normalizeImageName: short names get docker.io, library/ and :latest", () => {
  const cases: Array<[string, string]> = [
    ["app", "docker.io/library/app:latest"],
    ["app:1", "docker.io/library/app:1"],
    ["user/app", "docker.io/user/app:latest"],
    ["user/team/app:v2", "docker.io/user/team/app:v2"],
    ["docker.io/app", "docker.io/library/app:latest"],
    ["docker.io/library/app:1", "docker.io/library/app:1"],
    ["index.docker.io/app:3", "docker.io/library/app:3"],
    ["index.docker.io/user/app", "docker.io/user/app:latest"],
    ["localhost/app", "localhost/app:latest"],
    ["localhost:5000/app:1", "localhost:5000/app:1"],
    ["127.0.0.1:5000/team/app", "127.0.0.1:5000/team/app:latest"],
    ["ghcr.io/org/app:main", "ghcr.io/org/app:main"],
    ["registry.example:443/a/b/c:d", "registry.example:443/a/b/c:d"],
    [`app@${DIGEST}`, `docker.io/library/app@${DIGEST}`],
    [`app:1@${DIGEST}`, `docker.io/library/app@${DIGEST}`],
    [`127.0.0.1:5000/app:1@${DIGEST}`, `127.0.0.1:5000/app@${DIGEST}`],
  ];
  for (const [input, want] of cases) {
    assert.equal(normalizeImageName(input), want, input);
    assert.equal(normalizeImageName(want), want, `${want} is stable`);
    assert.ok(isNormalizedImageName(want), want);
  }
  assert.ok(!isNormalizedImageName("app:1"));
});

Deno.test("normalizeImageName: malformed names are bad input naming the input", () => {
  const cases: Array<[string, RegExp]> = [
    ["", /^image name must not be empty$/],
    ["App:1", /^invalid image name "App:1": repository name .* must be lowercase$/],
    ["user/App", /^invalid image name "user\/App": .*must be lowercase/],
    ["app:bad tag", /^invalid image name "app:bad tag": invalid tag "bad tag"$/],
    ["app@sha256:abc", /^invalid image name "app@sha256:abc": invalid digest/],
    ["a".repeat(64).replace(/a/g, "f"), /cannot specify 64-byte hexadecimal strings$/],
    ["-app", /^invalid image name "-app": invalid repository name/],
  ];
  for (const [input, want] of cases) {
    assert.throws(
      () => normalizeImageName(input),
      (e: Error) => e instanceof BadInputError && want.test(e.message),
      input,
    );
    assert.ok(!isNormalizedImageName(input));
  }
});
