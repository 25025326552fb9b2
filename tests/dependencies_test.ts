/**
 * The layering of `lib/` (design.md §2), checked on the real import graph
 * as `deno info --json` reports it: formats import no I/O layer, sources
 * and stores no stages, nothing in `lib/` imports the CLI, and no folder
 * imports one above it. An arrow that breaks the rules fails the test with
 * the importing and the imported file.
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";

const REPO = new URL("..", import.meta.url).pathname;

/**
 * What each part of `lib/` may import (besides itself and npm/node
 * modules). Read bottom-up: formats, then clients, stores and sources,
 * then stages, use cases, the CLI's commands and UI.
 */
const ALLOWED: Record<string, string[]> = {
  errors: [],
  util: ["errors"],
  go: ["errors"],
  oci: ["errors", "go"],
  tar: ["errors"],
  gzip: ["errors", "go"],
  ztoc: ["errors", "util", "go", "oci", "tar", "gzip"],
  soci: ["errors", "go", "oci", "ztoc"],
  registry: ["errors", "util", "go", "oci"],
  containerd: ["errors", "util", "go", "oci"],
  store: ["errors", "util", "go", "oci", "ztoc", "soci", "containerd"],
  image: ["errors", "util", "go", "oci", "tar", "gzip", "ztoc", "registry", "containerd", "store"],
  stages: ["errors", "util", "go", "oci", "tar", "gzip", "ztoc", "soci", "image", "store"],
  use_cases: [
    "errors",
    "util",
    "go",
    "oci",
    "tar",
    "gzip",
    "ztoc",
    "soci",
    "registry",
    "containerd",
    "image",
    "store",
    "stages",
  ],
  ui: ["errors", "go", "oci"],
  commands: [
    "errors",
    "util",
    "go",
    "oci",
    "tar",
    "gzip",
    "ztoc",
    "soci",
    "registry",
    "containerd",
    "image",
    "store",
    "stages",
    "use_cases",
    "ui",
  ],
};

/** The part of `lib/` a file belongs to (`lib/pipeline.ts` gathers the stages). */
function partOf(file: string): string | undefined {
  const rel = relative(join(REPO, "lib"), file);
  if (rel.startsWith("..")) return undefined;
  if (rel === "errors.ts") return "errors";
  if (rel === "pipeline.ts") return "stages";
  return rel.split("/")[0];
}

async function libFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) out.push(...await libFiles(p));
    else if (e.name.endsWith(".ts")) out.push(p);
  }
  return out.sort();
}

interface InfoModule {
  specifier: string;
  dependencies?: Array<{ code?: { specifier: string }; type?: { specifier: string } }>;
}

/** Every local import arrow among `files` (and what they import), from `deno info --json`. */
async function importArrows(files: string[]): Promise<Array<[string, string]>> {
  // One entry module importing every file, so that one `deno info` sees them all
  // (workers' modules too, which no import reaches).
  const entry = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(
      entry,
      files.map((f) => `import ${JSON.stringify("file://" + f)};`).join("\n") + "\n",
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "--config", join(REPO, "deno.json"), entry],
      cwd: REPO,
      stdout: "piped",
      stderr: "piped",
      env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const info = JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: InfoModule[] };
    const arrows: Array<[string, string]> = [];
    for (const m of info.modules) {
      if (!m.specifier.startsWith("file://") || m.specifier.endsWith(entry)) continue;
      const from = new URL(m.specifier).pathname;
      for (const d of m.dependencies ?? []) {
        for (const target of [d.code?.specifier, d.type?.specifier]) {
          if (target?.startsWith("file://")) arrows.push([from, new URL(target).pathname]);
        }
      }
    }
    return arrows;
  } finally {
    await Deno.remove(entry);
  }
}

Deno.test("lib/ imports only downwards (design.md §2), on the real import graph", async () => {
  const files = await libFiles(join(REPO, "lib"));
  const arrows = await importArrows([...files, join(REPO, "mod.ts"), join(REPO, "cli.ts")]);
  assert.ok(arrows.length > 200, `only ${arrows.length} arrows: is deno info working?`);
  const bad: string[] = [];
  for (const [from, to] of arrows) {
    const a = partOf(from);
    if (a === undefined) continue; // mod.ts, cli.ts: may import anything in lib/
    const b = partOf(to);
    const where = `${relative(REPO, from)} → ${relative(REPO, to)}`;
    if (b === undefined) {
      bad.push(`${where}: lib/ imports something outside lib/ (the CLI?)`);
      continue;
    }
    if (a === b) continue;
    const allowed = ALLOWED[a];
    if (allowed === undefined) bad.push(`${where}: unknown part ${a}/ (add it to the layering)`);
    else if (!allowed.includes(b)) bad.push(`${where}: ${a}/ may not import ${b}/`);
  }
  assert.deepEqual(bad, []);
});

Deno.test("the layering check catches a forbidden arrow", async () => {
  // A format (tar/) importing a store: the kind of arrow the rules forbid.
  const dir = await Deno.makeTempDir({ dir: join(REPO, "lib", "tar") });
  try {
    const file = join(dir, "bad.ts");
    await Deno.writeTextFile(file, 'import "../../store/root.ts";\n');
    const arrows = await importArrows([file]);
    const found = arrows.find(([from]) => from === file);
    assert.ok(found, "the arrow is seen");
    assert.equal(partOf(found[0]), "tar");
    assert.equal(partOf(found[1]), "store");
    assert.equal(ALLOWED.tar.includes("store"), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
