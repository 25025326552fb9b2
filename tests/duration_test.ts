// Go time.Duration text. Expected strings are the cases of Go's own
// src/time/time_test.go (durationTests, parseDurationTests, durationRoundTests)
// and the CREATED rule of C§8.1.
import assert from "node:assert/strict";
import {
  formatDuration,
  HOUR,
  MICROSECOND,
  MILLISECOND,
  MINUTE,
  NANOSECOND,
  parseDuration,
  roundDuration,
  SECOND,
} from "../lib/go/duration.ts";
import { createdText } from "../lib/ui/created.ts";
import { formatBytes } from "../lib/ui/bytes.ts";
import { BadInputError } from "../lib/errors.ts";

const MAX = (1n << 63n) - 1n;
const MIN = -(1n << 63n);

Deno.test("formatDuration: Go's durationTests", () => {
  const cases: [string, bigint][] = [
    ["0s", 0n],
    ["1ns", 1n * NANOSECOND],
    ["1.1µs", 1100n * NANOSECOND],
    ["2.2ms", 2200n * MICROSECOND],
    ["3.3s", 3300n * MILLISECOND],
    ["4m5s", 4n * MINUTE + 5n * SECOND],
    ["4m5.001s", 4n * MINUTE + 5001n * MILLISECOND],
    ["5h6m7.001s", 5n * HOUR + 6n * MINUTE + 7001n * MILLISECOND],
    ["8m0.000000001s", 8n * MINUTE + 1n * NANOSECOND],
    ["2562047h47m16.854775807s", MAX],
    ["-2562047h47m16.854775808s", MIN],
  ];
  for (const [text, d] of cases) assert.equal(formatDuration(d), text, text);
});

Deno.test("formatDuration: the brief's examples and sign/number inputs", () => {
  assert.equal(formatDuration(5n * SECOND), "5s");
  assert.equal(formatDuration(MINUTE), "1m0s");
  assert.equal(formatDuration(2n * HOUR + 3n * MINUTE + 4n * SECOND), "2h3m4s");
  assert.equal(formatDuration(1500n * MILLISECOND), "1.5s");
  assert.equal(formatDuration(100n * MILLISECOND), "100ms");
  assert.equal(formatDuration(MICROSECOND), "1µs");
  assert.equal(formatDuration(-5n * SECOND), "-5s");
  assert.equal(formatDuration(HOUR), "1h0m0s");
  assert.equal(formatDuration(999), "999ns"); // number input, nanoseconds
});

Deno.test("parseDuration: Go's parseDurationTests", () => {
  const cases: [string, bigint][] = [
    ["0", 0n],
    ["5s", 5n * SECOND],
    ["30s", 30n * SECOND],
    ["1478s", 1478n * SECOND],
    ["-5s", -5n * SECOND],
    ["+5s", 5n * SECOND],
    ["-0", 0n],
    ["+0", 0n],
    ["5.0s", 5n * SECOND],
    ["5.6s", 5n * SECOND + 600n * MILLISECOND],
    ["5.s", 5n * SECOND],
    [".5s", 500n * MILLISECOND],
    ["1.0s", SECOND],
    ["1.00s", SECOND],
    ["1.004s", SECOND + 4n * MILLISECOND],
    ["1.0040s", SECOND + 4n * MILLISECOND],
    ["100.00100s", 100n * SECOND + MILLISECOND],
    ["10ns", 10n],
    ["11us", 11n * MICROSECOND],
    ["12µs", 12n * MICROSECOND], // U+00B5
    ["12μs", 12n * MICROSECOND], // U+03BC
    ["13ms", 13n * MILLISECOND],
    ["14s", 14n * SECOND],
    ["15m", 15n * MINUTE],
    ["16h", 16n * HOUR],
    ["3h30m", 3n * HOUR + 30n * MINUTE],
    ["10.5s4m", 4n * MINUTE + 10n * SECOND + 500n * MILLISECOND],
    ["-2m3.4s", -(2n * MINUTE + 3n * SECOND + 400n * MILLISECOND)],
    [
      "1h2m3s4ms5us6ns",
      HOUR + 2n * MINUTE + 3n * SECOND + 4n * MILLISECOND + 5n * MICROSECOND + 6n,
    ],
    ["39h9m14.425s", 39n * HOUR + 9n * MINUTE + 14n * SECOND + 425n * MILLISECOND],
    ["52763797000ns", 52763797000n],
    ["0.3333333333333333333h", 20n * MINUTE],
    ["9007199254740993ns", (1n << 53n) + 1n],
    ["9223372036854775807ns", MAX],
    ["9223372036854775.807us", MAX],
    ["9223372036s854ms775us807ns", MAX],
    ["-9223372036854775808ns", MIN],
    ["-9223372036854775.808us", MIN],
    ["-9223372036s854ms775us808ns", MIN],
    ["-2562047h47m16.854775808s", MIN],
    ["0.100000000000000000000h", 6n * MINUTE],
    ["0.830103483285477580700h", 49n * MINUTE + 48n * SECOND + 372539827n],
    ["1m30s", 90n * SECOND],
    ["500ms", 500n * MILLISECOND],
  ];
  for (const [text, d] of cases) assert.equal(parseDuration(text), d, text);
});

Deno.test("parseDuration: errors with Go's messages", () => {
  const invalid = [
    "",
    "-",
    "s",
    ".",
    "-.",
    ".s",
    "+.s",
    "9223372036854775808ns",
    "9223372036854775.808us",
    "9223372036854ms775us808ns",
    "-9223372036854775809ns",
  ];
  for (const text of invalid) {
    assert.throws(
      () => parseDuration(text),
      (e: unknown) =>
        e instanceof BadInputError && e.message === `time: invalid duration "${text}"`,
      text,
    );
  }
  assert.throws(() => parseDuration("3"), { message: 'time: missing unit in duration "3"' });
  assert.throws(() => parseDuration("1d"), {
    message: 'time: unknown unit "d" in duration "1d"',
  });
  // non-ASCII is written as \x bytes by the time package's quote
  assert.throws(() => parseDuration("1é"), {
    message: 'time: unknown unit "\\xc3\\xa9" in duration "1\\xc3\\xa9"',
  });
});

Deno.test("roundDuration: Go's durationRoundTests", () => {
  const cases: [bigint, bigint, bigint][] = [
    [0n, SECOND, 0n],
    [MINUTE, -11n, MINUTE],
    [MINUTE, 0n, MINUTE],
    [MINUTE, 1n, MINUTE],
    [2n * MINUTE, MINUTE, 2n * MINUTE],
    [2n * MINUTE + 10n * SECOND, MINUTE, 2n * MINUTE],
    [2n * MINUTE + 30n * SECOND, MINUTE, 3n * MINUTE],
    [2n * MINUTE + 50n * SECOND, MINUTE, 3n * MINUTE],
    [-MINUTE, 1n, -MINUTE],
    [-2n * MINUTE, MINUTE, -2n * MINUTE],
    [-2n * MINUTE - 10n * SECOND, MINUTE, -2n * MINUTE],
    [-2n * MINUTE - 30n * SECOND, MINUTE, -3n * MINUTE],
    [-2n * MINUTE - 50n * SECOND, MINUTE, -3n * MINUTE],
    [8_000_000_000_000_000_000n, 3_000_000_000_000_000_000n, 9_000_000_000_000_000_000n],
    [9_000_000_000_000_000_000n, 5_000_000_000_000_000_000n, MAX],
    [-8_000_000_000_000_000_000n, 3_000_000_000_000_000_000n, -9_000_000_000_000_000_000n],
    [-9_000_000_000_000_000_000n, 5_000_000_000_000_000_000n, MIN],
    [(3n << 61n) - 1n, 3n << 61n, 3n << 61n],
  ];
  for (const [d, m, want] of cases) assert.equal(roundDuration(d, m), want, `${d} round ${m}`);
});

Deno.test("createdText: '<duration rounded to seconds> ago' or n/a (C§8.1)", () => {
  const now = new Date("2024-05-01T12:00:00.000Z");
  const ago = (ms: number) => new Date(now.getTime() - ms);
  assert.equal(createdText(ago(5_000), now), "5s ago");
  assert.equal(createdText(ago(60_000), now), "1m0s ago");
  assert.equal(createdText(ago((2 * 3600 + 3 * 60 + 4) * 1000), now), "2h3m4s ago");
  assert.equal(createdText(ago(4_500), now), "5s ago"); // half rounds away from zero
  assert.equal(createdText(ago(4_499), now), "4s ago");
  assert.equal(createdText(ago(400), now), "0s ago");
  assert.equal(createdText(ago(-2_000), now), "-2s ago"); // clock skew: Go prints it as is
  assert.equal(createdText(null, now), "n/a");
  assert.equal(createdText(undefined, now), "n/a");
  assert.equal(createdText(new Date("0001-01-01T00:00:00Z"), now), "n/a"); // Go zero time
  assert.equal(createdText(new Date(NaN), now), "n/a");
  // Unix nanoseconds are accepted too
  const nowNs = BigInt(now.getTime()) * 1_000_000n;
  assert.equal(createdText(nowNs - 1_500_000_000n, nowNs), "2s ago");
});

Deno.test("formatBytes: binary units with one truncated decimal", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(1023), "1023 B");
  assert.equal(formatBytes(1024), "1.0 KiB");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(1048575), "1023.9 KiB"); // 1048575 / 1024 = 1023.999…
  assert.equal(formatBytes(10 * 1024 * 1024), "10.0 MiB");
  assert.equal(formatBytes(5 * 1024 ** 3 + 512 * 1024 ** 2), "5.5 GiB");
  assert.equal(formatBytes(2n ** 64n - 1n), "15.9 EiB"); // 16 EiB - 1 byte
});
