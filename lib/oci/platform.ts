/**
 * Platforms with containerd's semantics (`soci-format.md` §7.6,
 * `soci-cli.md` §3): parsing of `os[/arch[/variant]]` specifiers,
 * normalization (`x86_64` → `amd64`, `aarch64` → `arm64`, …), strict
 * matching, formatting, the host default and de-duplication.
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import type { Platform } from "./descriptor.ts";

const SPECIFIER_RE = /^[A-Za-z0-9_.-]+$/;
const OS_AND_VERSION_RE = /^([A-Za-z0-9_-]+)(?:\(([A-Za-z0-9_.-]*)\))?$/;
// The same patterns as Go source text, for error messages.
const SPECIFIER_RE_TEXT = "^[A-Za-z0-9_.-]+$";
const OS_AND_VERSION_RE_TEXT = "^([A-Za-z0-9_-]+)(?:\\(([A-Za-z0-9_.-]*)\\))?$";

const KNOWN_OS = new Set([
  "aix",
  "android",
  "darwin",
  "dragonfly",
  "freebsd",
  "hurd",
  "illumos",
  "ios",
  "js",
  "linux",
  "nacl",
  "netbsd",
  "openbsd",
  "plan9",
  "solaris",
  "windows",
  "zos",
]);

const KNOWN_ARCH = new Set([
  "386",
  "amd64",
  "amd64p32",
  "arm",
  "armbe",
  "arm64",
  "arm64be",
  "ppc64",
  "ppc64le",
  "loong64",
  "mips",
  "mipsle",
  "mips64",
  "mips64le",
  "mips64p32",
  "mips64p32le",
  "ppc",
  "riscv",
  "riscv64",
  "s390",
  "s390x",
  "sparc",
  "sparc64",
  "wasm",
]);

/** Go's `%q` for the short ASCII texts that appear in platform errors. */
function goQ(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === "\\") out += "\\" + ch;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\r") out += "\\r";
    else if (c < 0x20 || c === 0x7f) out += "\\x" + c.toString(16).padStart(2, "0");
    else out += ch;
  }
  return out + '"';
}

/** containerd's `normalizeOS`: lower case, `macos` → `darwin`, empty → `linux`. */
function normalizeOS(os: string): string {
  if (os === "") return "linux";
  const lower = os.toLowerCase();
  return lower === "macos" ? "darwin" : lower;
}

/** containerd's `normalizeArch`. */
function normalizeArch(arch: string, variant: string): [string, string] {
  arch = arch.toLowerCase();
  variant = variant.toLowerCase();
  switch (arch) {
    case "i386":
      return ["386", ""];
    case "x86_64":
    case "x86-64":
    case "amd64":
      return ["amd64", variant === "v1" ? "" : variant];
    case "aarch64":
    case "arm64":
      if (variant === "8" || variant === "v8" || variant === "v8.0") variant = "";
      else if (variant === "9" || variant === "9.0" || variant === "v9.0") variant = "v9";
      return ["arm64", variant];
    case "armhf":
      return ["arm", "v7"];
    case "armel":
      return ["arm", "v6"];
    case "arm":
      if (variant === "" || variant === "7") variant = "v7";
      else if (variant === "5" || variant === "6" || variant === "8") variant = "v" + variant;
      return ["arm", variant];
  }
  return [arch, variant];
}

function build(os: string, arch: string, variant: string, osVersion?: string): Platform {
  const p: Platform = { architecture: arch, os };
  if (osVersion) p["os.version"] = osVersion;
  if (variant) p.variant = variant;
  return p;
}

/**
 * The host's platform as containerd's default: `linux/amd64` on x86_64,
 * `linux/arm64/v8` on aarch64. The OS is always `linux` (images are Linux
 * images; upstream only runs on Linux).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hostPlatform } from "./platform.ts";
 * const p = hostPlatform();
 * assert.ok(p.os === "linux" && (p.architecture === "amd64" || p.architecture === "arm64"));
 * ```
 */
export function hostPlatform(): Platform {
  const [arch] = normalizeArch(Deno.build.arch, "");
  if (arch === "arm64") return build("linux", "arm64", "v8");
  return build("linux", arch, "");
}

function fail(text: string, reason: string): never {
  throw new BadInputError(`could not parse platform ${text}: ${reason}: invalid argument`);
}

/**
 * Parses a platform specifier the way containerd's `platforms.Parse` does:
 * `os`, `arch`, `os/arch` or `os/arch/variant` (`os` may carry
 * `(os.version)`); the architecture is normalized, an arm `v7` variant is
 * dropped for `os/arch`, and `os/arm64/variant` keeps (or gets) `v8`.
 * A lone OS gets the host architecture, a lone known architecture the OS
 * `linux`. Errors: `could not parse platform <p>: <reason>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePlatform } from "./platform.ts";
 * const p = parsePlatform("linux/x86_64");
 * assert.ok(p.os === "linux" && p.architecture === "amd64" && p.variant === undefined);
 * assert.ok(parsePlatform("linux/arm64/v8").variant === "v8");
 * ```
 */
export function parsePlatform(text: string): Platform {
  if (text.includes("*")) fail(text, `${goQ(text)}: wildcards not yet supported`);
  const all = text.split("/");
  const parts = all.length > 4 ? [...all.slice(0, 3), all.slice(3).join("/")] : all;
  let os = "";
  let osVersion = "";
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    if (i === 0) {
      const m = OS_AND_VERSION_RE.exec(part);
      if (!m) {
        fail(
          text,
          `${goQ(part)} is an invalid OS component of ${goQ(text)}: ` +
            `OSAndVersion specifier component must match ${goQ(OS_AND_VERSION_RE_TEXT)}`,
        );
      }
      os = normalizeOS(m[1]);
      osVersion = m[2] ?? "";
    } else if (!SPECIFIER_RE.test(part)) {
      fail(
        text,
        `${goQ(part)} is an invalid component of ${goQ(text)}: ` +
          `platform specifier component must match ${goQ(SPECIFIER_RE_TEXT)}`,
      );
    }
  }
  switch (parts.length) {
    case 1: {
      if (KNOWN_OS.has(os)) {
        const host = hostPlatform();
        return build(
          os,
          host.architecture,
          host.architecture === "arm" ? host.variant ?? "" : "",
          osVersion,
        );
      }
      let [arch, variant] = normalizeArch(parts[0], "");
      if (arch === "arm" && variant === "v7") variant = "";
      if (KNOWN_ARCH.has(arch)) return build("linux", arch, variant, osVersion);
      return fail(text, `${goQ(text)}: unknown operating system or architecture`);
    }
    case 2: {
      let [arch, variant] = normalizeArch(parts[1], "");
      if (arch === "arm" && variant === "v7") variant = "";
      return build(os, arch, variant, osVersion);
    }
    case 3: {
      let [arch, variant] = normalizeArch(parts[1], parts[2]);
      if (arch === "arm64" && variant === "") variant = "v8";
      return build(os, arch, variant, osVersion);
    }
  }
  return fail(text, `${goQ(text)}: cannot parse platform specifier`);
}

/**
 * containerd's `platforms.Normalize`: OS lower-cased (`macos` → `darwin`,
 * empty → `linux`), architecture and variant normalized (`x86_64` →
 * `amd64`, `aarch64` → `arm64`, arm64 `v8` → none, `armhf` → arm v7,
 * `armel` → arm v6, arm without variant → v7). Other members are kept.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { normalizePlatform } from "./platform.ts";
 * const p = normalizePlatform({ os: "Linux", architecture: "aarch64", variant: "v8" });
 * assert.ok(p.os === "linux" && p.architecture === "arm64" && p.variant === undefined);
 * ```
 */
export function normalizePlatform(p: Platform): Platform {
  const [arch, variant] = normalizeArch(p.architecture ?? "", p.variant ?? "");
  const out: Platform = { architecture: arch, os: normalizeOS(p.os ?? "") };
  if (p["os.version"]) out["os.version"] = p["os.version"];
  if (p["os.features"]?.length) out["os.features"] = [...p["os.features"]];
  if (variant) out.variant = variant;
  return out;
}

/**
 * `os/arch[/variant]` of a platform as given (not normalized), or
 * `unknown` when the OS is empty (containerd's `platforms.Format`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatPlatform } from "./platform.ts";
 * assert.ok(formatPlatform({ os: "linux", architecture: "arm64", variant: "v8" }) ===
 *   "linux/arm64/v8");
 * assert.ok(formatPlatform({ os: "linux", architecture: "amd64" }) === "linux/amd64");
 * ```
 */
export function formatPlatform(p: Platform): string {
  if (!p.os) return "unknown";
  return [p.os, p.architecture, p.variant].filter((x) => x).join("/");
}

/**
 * Strict match (containerd's `platforms.OnlyStrict(want).Match(have)`):
 * OS, architecture and variant equal after normalization of both.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { platformMatches } from "./platform.ts";
 * assert.ok(platformMatches({ os: "linux", architecture: "x86_64" },
 *   { os: "linux", architecture: "amd64" }));
 * assert.ok(!platformMatches({ os: "linux", architecture: "arm", variant: "v6" },
 *   { os: "linux", architecture: "arm" }));
 * ```
 */
export function platformMatches(want: Platform, have: Platform): boolean {
  const a = normalizePlatform(want);
  const b = normalizePlatform(have);
  return a.os === b.os && a.architecture === b.architecture &&
    (a.variant ?? "") === (b.variant ?? "");
}

/**
 * Removes platforms that strictly match an earlier one, keeping the first
 * of each (as given, not normalized) in order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dedupePlatforms } from "./platform.ts";
 * const list = dedupePlatforms([
 *   { os: "linux", architecture: "x86_64" },
 *   { os: "linux", architecture: "amd64" },
 *   { os: "linux", architecture: "arm64" },
 * ]);
 * assert.ok(list.length === 2 && list[0].architecture === "x86_64");
 * ```
 */
export function dedupePlatforms(list: readonly Platform[]): Platform[] {
  const out: Platform[] = [];
  for (const p of list) {
    if (!out.some((q) => platformMatches(p, q))) out.push(p);
  }
  return out;
}
