/**
 * The local store after a crash and under concurrency (hardening issue,
 * defects 4 and 5): `create`, `index rm` and `rebuild-db` are SIGKILLed at
 * each of the store's commit points, and every listing must then show the
 * state before or the state after the command — whole, with every listed
 * blob present and intact — without `rebuild-db`; the next writer leaves
 * no garbage and an `index.json` equal to the DB. Concurrent `create`,
 * `index rm` and `rebuild-db` on one root never bring back what was
 * removed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { sha256Digest } from "../lib/oci/digest.ts";
import { layoutIndexOf } from "../lib/store/layout_index.ts";
import { LocalStore } from "../lib/store/local_store.ts";

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const SAMPLE = join(REPO, "fixtures", "sample-image");
const KILLER = join(REPO, "tests", "helpers", "store_killer.ts");
const dec = new TextDecoder();

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (out.code !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout);
}

function soci(root: string, args: string[]) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", join(REPO, "cli.ts"), "--root", root, ...args],
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
}

/** Runs the killer until it reports `at <step>`, then SIGKILLs it. */
async function killAt(root: string, op: string, step: string, arg = ""): Promise<void> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", KILLER, root, op, step, arg],
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { done, value } = await reader.read();
    if (done) break;
    text += dec.decode(value);
  }
  if (text.trim() === `at ${step}`) child.kill("SIGKILL");
  reader.releaseLock();
  const status = await child.status;
  const err = dec.decode((await new Response(child.stderr).arrayBuffer()) as ArrayBuffer);
  assert.equal(text.trim(), `at ${step}`, `${op} never reached ${step}: ${err}`);
  assert.equal(status.signal, "SIGKILL");
}

/** What the store shows, read the way reading commands read it (read-only). */
interface Shown {
  indexes: string[];
  ztocs: string[];
  images: string[];
}

async function shown(root: string): Promise<Shown> {
  using store = LocalStore.open(root, { readOnly: true });
  const indexes = store.db.listIndexes().map((r) => r.digest).sort();
  const ztocs = store.db.listZtocs().map((r) => r.digest).sort();
  const images = (await store.images()).map((i) => `${i.name}@${i.target.digest}`).sort();
  // Everything listed is there and intact.
  for (const d of [...indexes, ...ztocs, ...(await store.images()).map((i) => i.target.digest)]) {
    const bytes = await store.readBlob(d);
    assert.equal(sha256Digest(bytes), d, `blob ${d} is damaged`);
  }
  // Every listed index's zTOCs are listed too.
  for (const d of indexes) {
    const doc = JSON.parse(dec.decode(await store.readBlob(d)));
    for (const l of doc.layers) {
      if (l.mediaType === "application/octet-stream") {
        assert.ok(ztocs.includes(l.digest), `zTOC ${l.digest} of ${d} is not listed`);
      }
    }
  }
  return { indexes, ztocs, images };
}

/** After the next writer: no garbage, no pending work, index.json = the DB's view. */
async function converged(root: string): Promise<void> {
  using store = LocalStore.open(root);
  assert.deepEqual(await store.gc(), [], "garbage left after recovery");
  assert.deepEqual(store.db.listPending(), new Map());
  assert.deepEqual(await Deno.readFile(store.indexPath), layoutIndexOf(store.db));
  const ingest = join(root, "content", "ingest");
  const left = await Array.fromAsync(Deno.readDir(ingest)).catch(() => []);
  assert.deepEqual(left, [], "staging left behind");
}

/** A second image: the sample with another config (same layers). */
async function otherImage(dir: string): Promise<string> {
  const layout = join(dir, "other");
  await run("skopeo", ["copy", "-q", `oci:${SAMPLE}:latest`, `oci:${layout}:v2`]);
  await run("umoci", ["config", "--image", `${layout}:v2`, "--config.label", "which=other"]);
  return `oci:${layout}:v2`;
}

async function copyRoot(from: string, to: string): Promise<void> {
  await run("cp", ["-a", from, to]);
}

Deno.test("a SIGKILL at any commit point of create, index rm or rebuild-db: before or after, whole", async () => {
  const dir = await Deno.makeTempDir({ prefix: "soci-crash-" });
  try {
    const a = `oci:${SAMPLE}:latest`;
    const b = await otherImage(dir);
    // Templates: A indexed; A and B indexed.
    const withA = join(dir, "with-a");
    const withAB = join(dir, "with-ab");
    await run(Deno.execPath(), ["run", "-A", "--quiet", KILLER, withA, "create", "none", a]);
    await copyRoot(withA, withAB);
    await run(Deno.execPath(), ["run", "-A", "--quiet", KILLER, withAB, "create", "none", b]);
    const stateA = await shown(withA);
    const stateAB = await shown(withAB);
    assert.equal(stateA.indexes.length, 1);
    assert.equal(stateAB.indexes.length, 2);
    const indexB = stateAB.indexes.find((d) => !stateA.indexes.includes(d))!;
    // What a completed `index rm` of B's index leaves (B's image stays named).
    const removed = join(dir, "removed");
    await copyRoot(withAB, removed);
    await run(Deno.execPath(), ["run", "-A", "--quiet", KILLER, removed, "rm", "none", indexB]);
    const stateRm = await shown(removed);
    assert.deepEqual(stateRm.indexes, stateA.indexes);

    let n = 0;
    const cases: Array<[string, string, string, Shown, Shown, string]> = [];
    for (const step of ["pending", "blobs", "db", "committed", "index"]) {
      cases.push(["create", step, b, stateA, stateAB, withA]);
    }
    for (const step of ["pending", "db", "committed", "index"]) {
      cases.push(["rm", step, indexB, stateAB, stateRm, withAB]);
    }
    for (const [op, step, arg, before, after, template] of cases) {
      const root = join(dir, `case-${n++}`);
      await copyRoot(template, root);
      await killAt(root, op, step, arg);
      const seen = await shown(root);
      const which = JSON.stringify(seen) === JSON.stringify(before)
        ? "before"
        : JSON.stringify(seen) === JSON.stringify(after)
        ? "after"
        : "neither";
      assert.notEqual(which, "neither", `${op} killed at ${step}: ${JSON.stringify(seen)}`);
      // The commit point is the DB commit: before it, the old state; after it, the new.
      const expected = ["pending", "blobs", "db"].includes(step) ? "before" : "after";
      assert.equal(which, expected, `${op} killed at ${step}`);
      await converged(root);
      assert.deepEqual(await shown(root), expected === "before" ? before : after);
    }

    // rebuild-db after the DB was lost, killed at each of its steps.
    for (const step of ["listed", "db", "views"]) {
      const root = join(dir, `case-${n++}`);
      await copyRoot(withAB, root);
      for (const f of await Array.fromAsync(Deno.readDir(root))) {
        if (f.name.startsWith("artifacts.sqlite")) await Deno.remove(join(root, f.name));
      }
      await killAt(root, "rebuild", step);
      const seen = await shown(root);
      if (step === "views") {
        assert.deepEqual(seen.indexes, stateAB.indexes, `rebuild killed at ${step}`);
      } else {
        assert.deepEqual(seen.indexes, [], `rebuild killed at ${step}`);
      }
      // A rebuild-db run afterwards completes the job; the store then converges.
      await run(Deno.execPath(), ["run", "-A", "--quiet", KILLER, root, "rebuild", "none"]);
      assert.deepEqual(await shown(root), stateAB);
      await converged(root);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("index rm and rebuild-db at the same time never bring a removed index back", async () => {
  const dir = await Deno.makeTempDir({ prefix: "soci-race-" });
  try {
    const template = join(dir, "template");
    const made = await soci(template, [
      "create",
      "-q",
      "--min-layer-size",
      "0",
      `oci:${SAMPLE}:latest`,
    ]);
    assert.equal(made.code, 0, dec.decode(made.stderr));
    const index = dec.decode(made.stdout).trim();
    for (let i = 0; i < 12; i++) {
      const root = join(dir, `r${i}`);
      await copyRoot(template, root);
      const [rm, rebuild] = await Promise.all([
        soci(root, ["index", "rm", index]),
        soci(root, ["rebuild-db"]),
      ]);
      assert.equal(rm.code, 0, dec.decode(rm.stderr));
      assert.equal(rebuild.code, 0, dec.decode(rebuild.stderr));
      const seen = await shown(root);
      assert.deepEqual(seen.indexes, [], `round ${i}: the removed index came back`);
      await converged(root);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("create, index rm and rebuild-db mixed on one root: every command succeeds, the store agrees with itself", async () => {
  const dir = await Deno.makeTempDir({ prefix: "soci-mix-" });
  try {
    const root = join(dir, "root");
    const b = await otherImage(dir);
    const first = await soci(root, ["create", "-q", "--min-layer-size", "0", b]);
    assert.equal(first.code, 0, dec.decode(first.stderr));
    const indexB = dec.decode(first.stdout).trim();
    const results = await Promise.all([
      soci(root, ["create", "-q", "--min-layer-size", "0", `oci:${SAMPLE}:latest`]),
      soci(root, ["index", "rm", indexB]),
      soci(root, ["rebuild-db"]),
      soci(root, ["create", "-q", "--min-layer-size", "0", "--span-size", "64KiB", b]),
      soci(root, ["rebuild-db"]),
    ]);
    for (const r of results) assert.equal(r.code, 0, dec.decode(r.stderr));
    const made = [results[0], results[3]].map((r) => dec.decode(r.stdout).trim()).sort();
    const seen = await shown(root);
    assert.deepEqual(seen.indexes, made);
    await converged(root);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
