import assert from "node:assert/strict";
import { BadInputError } from "../lib/errors.ts";
import type { Platform } from "../lib/oci/descriptor.ts";
import {
  dedupePlatforms,
  formatPlatform,
  hostPlatform,
  normalizePlatform,
  parsePlatform,
  platformMatches,
} from "../lib/oci/platform.ts";
import { catchError } from "./helpers/oci_fixtures.ts";

const p = (os: string, architecture: string, variant?: string): Platform =>
  variant === undefined ? { architecture, os } : { architecture, os, variant };

Deno.test("hostPlatform follows Deno.build.arch", () => {
  const expected = Deno.build.arch === "aarch64" ? p("linux", "arm64", "v8") : p("linux", "amd64");
  assert.deepEqual(hostPlatform(), expected);
});

Deno.test("parsePlatform: containerd specifier rules", () => {
  const host = hostPlatform();
  const cases: Array<[string, Platform]> = [
    ["linux/amd64", p("linux", "amd64")],
    ["linux/x86_64", p("linux", "amd64")],
    ["linux/x86-64", p("linux", "amd64")],
    ["Linux/AMD64", p("linux", "amd64")],
    ["linux/amd64/v1", p("linux", "amd64")],
    ["linux/amd64/v3", p("linux", "amd64", "v3")],
    ["linux/i386", p("linux", "386")],
    ["linux/aarch64", p("linux", "arm64")],
    ["linux/arm64", p("linux", "arm64")],
    // os/arch/variant keeps (or adds) v8 for arm64
    ["linux/arm64/v8", p("linux", "arm64", "v8")],
    ["linux/arm64/8", p("linux", "arm64", "v8")],
    ["linux/aarch64/v8.0", p("linux", "arm64", "v8")],
    // os/arch drops an arm v7 variant
    ["linux/arm", p("linux", "arm")],
    ["linux/armhf", p("linux", "arm")],
    ["linux/armel", p("linux", "arm", "v6")],
    ["linux/arm/v7", p("linux", "arm", "v7")],
    ["linux/arm/7", p("linux", "arm", "v7")],
    ["linux/arm/6", p("linux", "arm", "v6")],
    ["macos/arm64", p("darwin", "arm64")],
    ["plan9/whatever", p("plan9", "whatever")],
    ["windows(10.0.17763)/amd64", {
      architecture: "amd64",
      os: "windows",
      "os.version": "10.0.17763",
    }],
    // a single known OS gets the host architecture; a single known arch the OS linux
    ["linux", { architecture: host.architecture, os: "linux" }],
    ["amd64", p("linux", "amd64")],
    ["aarch64", p("linux", "arm64")],
    ["arm", p("linux", "arm")],
    ["armel", p("linux", "arm", "v6")],
  ];
  for (const [text, want] of cases) assert.deepEqual(parsePlatform(text), want, text);
});

Deno.test("parsePlatform: errors carry containerd's reason", () => {
  const cases: Array<[string, string]> = [
    [
      "",
      '"" is an invalid OS component of "": OSAndVersion specifier component must match ' +
      '"^([A-Za-z0-9_-]+)(?:\\\\(([A-Za-z0-9_.-]*)\\\\))?$": invalid argument',
    ],
    [
      "linux/",
      '"" is an invalid component of "linux/": platform specifier component must match ' +
      '"^[A-Za-z0-9_.-]+$": invalid argument',
    ],
    [
      "a/b/c/d/e",
      '"d/e" is an invalid component of "a/b/c/d/e": platform specifier component must match ' +
      '"^[A-Za-z0-9_.-]+$": invalid argument',
    ],
    ["linux/amd64/v8/x", '"linux/amd64/v8/x": cannot parse platform specifier: invalid argument'],
    ["linux/*", '"linux/*": wildcards not yet supported: invalid argument'],
    ["foo", '"foo": unknown operating system or architecture: invalid argument'],
  ];
  for (const [text, reason] of cases) {
    const err = catchError(() => parsePlatform(text), BadInputError);
    assert.equal(err.message, `could not parse platform ${text}: ${reason}`);
  }
});

Deno.test("normalizePlatform: the containerd normalization table", () => {
  const cases: Array<[Platform, Platform]> = [
    [p("linux", "x86_64"), p("linux", "amd64")],
    [p("linux", "x86-64"), p("linux", "amd64")],
    [p("linux", "aarch64"), p("linux", "arm64")],
    [p("linux", "arm64", "8"), p("linux", "arm64")],
    [p("linux", "arm64", "v8"), p("linux", "arm64")],
    [p("linux", "arm64", "v8.0"), p("linux", "arm64")],
    [p("linux", "armhf"), p("linux", "arm", "v7")],
    [p("linux", "armel"), p("linux", "arm", "v6")],
    [p("linux", "arm"), p("linux", "arm", "v7")],
    [p("linux", "arm", "6"), p("linux", "arm", "v6")],
    [p("LINUX", "AMD64"), p("linux", "amd64")],
    [p("", "amd64"), p("linux", "amd64")],
    [{ architecture: "amd64", os: "windows", "os.version": "10.0" }, {
      architecture: "amd64",
      os: "windows",
      "os.version": "10.0",
    }],
  ];
  for (const [input, want] of cases) assert.deepEqual(normalizePlatform(input), want);
});

Deno.test("formatPlatform: os/arch[/variant] as given", () => {
  assert.equal(formatPlatform(p("linux", "amd64")), "linux/amd64");
  assert.equal(formatPlatform(p("linux", "arm64", "v8")), "linux/arm64/v8");
  assert.equal(formatPlatform(p("linux", "x86_64")), "linux/x86_64");
  assert.equal(formatPlatform(p("", "amd64")), "unknown");
});

Deno.test("platformMatches: strict match after normalization", () => {
  assert.ok(platformMatches(p("linux", "amd64"), p("linux", "x86_64")));
  assert.ok(platformMatches(parsePlatform("linux/arm64/v8"), p("linux", "arm64")));
  assert.ok(platformMatches(p("linux", "arm64"), p("linux", "aarch64", "v8")));
  assert.ok(platformMatches(parsePlatform("linux/arm"), p("linux", "arm", "v7")));
  assert.ok(!platformMatches(p("linux", "arm", "v6"), p("linux", "arm")));
  assert.ok(!platformMatches(p("linux", "amd64"), p("linux", "arm64")));
  assert.ok(!platformMatches(p("linux", "amd64"), p("windows", "amd64")));
  assert.ok(!platformMatches(p("linux", "amd64", "v2"), p("linux", "amd64")));
});

Deno.test("dedupePlatforms: soci-cli §11.2 item 11", () => {
  // exact duplicates removed
  assert.deepEqual(
    dedupePlatforms([p("linux", "amd64"), p("linux", "amd64")]),
    [p("linux", "amd64")],
  );
  // denormalized duplicates removed, the first kept as given
  assert.deepEqual(
    dedupePlatforms([p("linux", "x86_64"), p("linux", "amd64"), p("linux", "arm64", "v8")]),
    [p("linux", "x86_64"), p("linux", "arm64", "v8")],
  );
  // distinct platforms kept in order
  const distinct = [
    p("linux", "arm64"),
    p("linux", "amd64"),
    p("linux", "arm", "v6"),
    p("linux", "arm"),
  ];
  assert.deepEqual(dedupePlatforms(distinct), distinct);
  assert.deepEqual(dedupePlatforms([]), []);
});
