// The registry transport where the network says no: refused connections
// and unknown hosts (no retry storm), a registry restarting mid-work (waited
// for), TLS spoken to the plain-HTTP Debian registry and plain HTTP to a
// TLS one (one attempt, one line with the fix), and the `--debug` trace
// (request ids that pair requests and answers, also across clients and for
// cut bodies; no secrets). Real registry, real closed ports, no mocks.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { RegistryError } from "../lib/errors.ts";
import { RegistryClient } from "../lib/registry/client.ts";
import { TransientRegistryError } from "../lib/registry/retry.ts";
import { startRegistry } from "./helpers/registry.ts";
import { closedPort, linesOf, runSoci } from "./helpers/registry_e2e_cli.ts";
import { pseudoRandomBytes } from "./helpers/registry_oci_layout.ts";
import { startFaultProxy } from "./helpers/fault_proxy.ts";
import { rejects } from "./helpers/rejects.ts";

const sha256 = (b: Uint8Array) => "sha256:" + createHash("sha256").update(b).digest("hex");
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The id (`#n`) of a trace line. */
function idOf(line: string): string {
  const m = /^http (?:req|res|err) (#\d+) /.exec(line);
  assert.ok(m, `no request id in: ${line}`);
  return m[1];
}

/** Trace lines of one kind (`req`, `res`, `err`, `retry`). */
function kind(lines: string[], k: string): string[] {
  return lines.filter((l) => l.startsWith(`http ${k} `));
}

/** The waits announced by `http retry … in <ms> ms` lines. */
function waits(lines: string[]): number[] {
  return kind(lines, "retry").map((l) => Number(/ in (\d+) ms$/.exec(l)![1]));
}

Deno.test("a port fetch never connects to (the fetch standard's bad ports): one line, no retry", async () => {
  const trace: string[] = [];
  const client = new RegistryClient("127.0.0.1:1", {
    plainHttp: true,
    debug: (l) => trace.push(l),
  });
  try {
    const e = await rejects(client.manifests.get("app", "v1"));
    assert.ok(e instanceof RegistryError && !(e instanceof TransientRegistryError), String(e));
    assert.equal(
      e.message,
      "cannot reach registry 127.0.0.1:1: Fetch failed: Requests to port 1 are blocked",
    );
    assert.equal(kind(trace, "req").length, 1, trace.join("\n"));
    assert.deepEqual(kind(trace, "retry"), []);
  } finally {
    client.close();
  }
});

Deno.test("a registry host no URL can hold (256.1.1.1) is a one-line input error", () => {
  assert.throws(() => new RegistryClient("256.1.1.1"), {
    name: "BadInputError",
    message: "invalid registry host: 256.1.1.1",
  });
});

Deno.test("refused connection: two quick retries, then one clear line", async () => {
  const port = closedPort();
  const trace: string[] = [];
  const client = new RegistryClient(`127.0.0.1:${port}`, {
    plainHttp: true,
    debug: (l) => trace.push(l),
  });
  try {
    const e = await rejects(client.manifests.get("app", "v1"));
    assert.ok(e instanceof RegistryError, String(e));
    assert.ok(!(e instanceof TransientRegistryError), "exhausted retries are final");
    assert.match(
      e.message,
      new RegExp(`^cannot reach registry 127\\.0\\.0\\.1:${port}: .*Connection refused`),
    );
    assert.ok(!e.message.includes("\n"));
    // The default policy allows 5 retries; a host that never answered gets 2.
    assert.equal(client.retryPolicy.maxRetries, 5);
    const reqs = kind(trace, "req");
    assert.equal(reqs.length, 3, trace.join("\n"));
    assert.deepEqual(kind(trace, "err").map(idOf), reqs.map(idOf));
    // The waits are the policy's first two backoffs (200 ms doubling, +25 % jitter at most).
    const w = waits(trace);
    assert.equal(w.length, 2, trace.join("\n"));
    assert.ok(w[0] >= 200 && w[0] <= 250 && w[1] >= 400 && w[1] <= 500, String(w));
  } finally {
    client.close();
  }
});

Deno.test("unknown host name: two quick retries, then one clear line", async () => {
  const trace: string[] = [];
  // `.invalid` never resolves (RFC 6761).
  const client = new RegistryClient("registry.invalid:5000", {
    plainHttp: true,
    retryDelayMs: 1,
    debug: (l) => trace.push(l),
  });
  try {
    const e = await rejects(client.blobs.head("app", sha256(new Uint8Array(1))));
    assert.ok(e instanceof RegistryError, String(e));
    assert.match(e.message, /^cannot reach registry registry\.invalid:5000: /);
    assert.equal(kind(trace, "req").length, 3, trace.join("\n"));
  } finally {
    client.close();
  }
});

Deno.test("a registry that answered once is waited for while it restarts", async () => {
  const reg = await startRegistry();
  const trace: string[] = [];
  let restarted: Deno.ChildProcess | undefined;
  let refusals = 0;
  const client = new RegistryClient(reg.host, {
    plainHttp: true,
    retryDelayMs: 100,
    debug: (l) => {
      trace.push(l);
      // After the third refusal (one more than a host that never answered
      // is allowed), the same registry comes back on the same port and storage.
      if (l.startsWith("http err ") && /refused/i.test(l) && ++refusals === 3) {
        restarted = new Deno.Command("/usr/bin/docker-registry", {
          args: ["serve", join(reg.dir, "config.yml")],
          stdin: "null",
          stdout: "null",
          stderr: "null",
        }).spawn();
      }
    },
  });
  try {
    const blob = pseudoRandomBytes(1000, 3);
    await client.blobs.upload("app", { digest: sha256(blob), size: blob.length }, blob);
    // Stop the registry process (its folder stays) and wait until the port refuses.
    Deno.kill(reg.pid, "SIGTERM");
    for (;;) {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port: reg.port })).close();
        await new Promise((r) => setTimeout(r, 10));
      } catch {
        break;
      }
    }
    const before = trace.length;
    assert.equal(await client.blobs.head("app", sha256(blob)), blob.length);
    const mine = trace.slice(before);
    assert.ok(restarted, mine.join("\n"));
    assert.ok(kind(mine, "err").length >= 3, mine.join("\n"));
    assert.ok(/ 200 OK$/.test(kind(mine, "res").at(-1)!), mine.join("\n"));
  } finally {
    client.close();
    if (restarted) {
      Deno.kill(restarted.pid, "SIGTERM");
      await restarted.status;
    }
    await reg.stop();
  }
});

Deno.test("TLS to the plain-HTTP registry: one attempt, a hint to use --plain-http", async (t) => {
  const reg = await startRegistry();
  try {
    await t.step("library", async () => {
      const trace: string[] = [];
      const client = new RegistryClient(reg.host, { debug: (l) => trace.push(l) });
      try {
        const e = await rejects(client.manifests.get("app", "v1"));
        assert.ok(e instanceof RegistryError, String(e));
        assert.match(
          e.message,
          new RegExp(
            `^cannot reach registry ${
              esc(reg.host)
            }: .+ \\(is it a plain HTTP registry\\? use --plain-http\\)$`,
          ),
        );
        assert.equal(kind(trace, "req").length, 1, trace.join("\n"));
        assert.deepEqual(kind(trace, "retry"), []);
      } finally {
        client.close();
      }
    });
    await t.step("CLI: one line on stderr", async () => {
      const root = await Deno.makeTempDir({ prefix: "soci-test-tls-" });
      try {
        const r = await runSoci(["--root", root, "create", `docker://${reg.host}/app:v1`]);
        assert.equal(r.code, 1, r.stdout + r.stderr);
        assert.equal(r.stdout, "");
        const lines = linesOf(r.stderr);
        assert.equal(lines.length, 1, r.stderr);
        assert.match(lines[0], /^soci: .*use --plain-http\)$/);
      } finally {
        await Deno.remove(root, { recursive: true });
      }
    });
  } finally {
    await reg.stop();
  }
});

Deno.test("plain HTTP to a TLS registry: one attempt, a hint to drop --plain-http", async () => {
  const reg = await startRegistry({ tls: true });
  const trace: string[] = [];
  const client = new RegistryClient(reg.host, { plainHttp: true, debug: (l) => trace.push(l) });
  try {
    const e = await rejects(client.manifests.get("app", "v1"));
    assert.ok(e instanceof RegistryError, String(e));
    assert.equal(e.status, 400);
    assert.equal(
      e.message,
      `${reg.host}: get manifest app:v1: 400 Bad Request: Client sent an HTTP request to an ` +
        "HTTPS server. (the registry speaks HTTPS: drop --plain-http)",
    );
    assert.equal(kind(trace, "req").length, 1, trace.join("\n"));
  } finally {
    client.close();
    await reg.stop();
  }
});

Deno.test("trace: ids pair requests and answers across concurrent requests and clients", async () => {
  const reg = await startRegistry();
  const trace: string[] = [];
  const a = new RegistryClient(reg.host, { plainHttp: true, debug: (l) => trace.push(l) });
  const b = new RegistryClient(reg.host, { plainHttp: true, debug: (l) => trace.push(l) });
  try {
    const blobs = [1, 2, 3, 4, 5, 6].map((i) => pseudoRandomBytes(1000 * i, i));
    await Promise.all(
      blobs.map((x, i) =>
        (i % 2 ? a : b).blobs.upload("app", { digest: sha256(x), size: x.length }, x)
      ),
    );
    await Promise.all(blobs.map((x, i) => (i % 2 ? b : a).blobs.head("app", sha256(x))));
    const reqs = kind(trace, "req");
    const ress = kind(trace, "res");
    // 6 × (POST + PUT) + 6 HEAD, each answered once, under an id no other request has.
    assert.equal(reqs.length, 18, trace.join("\n"));
    assert.equal(new Set(reqs.map(idOf)).size, 18);
    assert.deepEqual(ress.map(idOf).sort(), reqs.map(idOf).sort());
    for (const res of ress) {
      const req = reqs.find((q) => idOf(q) === idOf(res))!;
      assert.ok(trace.indexOf(req) < trace.indexOf(res));
      // The answer matches the request it is paired with.
      const method = req.split(" ")[3];
      const status = res.split(" ")[3];
      const expected = { POST: "202", PUT: "201", HEAD: "200" }[method];
      assert.equal(status, expected, `${req} / ${res}`);
    }
    assert.ok(
      reqs.every((l) => /^http req #\d+ (POST|PUT|HEAD) http:\/\/127\.0\.0\.1:\d+\/v2\//.test(l)),
    );
    // Upload URLs carry the registry's signed state: its value is never traced.
    const puts = reqs.filter((l) => l.split(" ")[3] === "PUT");
    assert.ok(puts.every((l) => l.includes("_state=REDACTED")), puts.join("\n"));
  } finally {
    a.close();
    b.close();
    await reg.stop();
  }
});

Deno.test("trace: a body cut short is an `http err` line with the id of its request", async () => {
  const reg = await startRegistry();
  const proxy = await startFaultProxy({
    upstream: reg.url,
    cutRate: 1,
    faultable: (method, path) => method === "GET" && path.includes("/blobs/"),
  });
  const trace: string[] = [];
  const client = new RegistryClient(proxy.host, {
    plainHttp: true,
    retryDelayMs: 1,
    debug: (l) => trace.push(l),
  });
  try {
    const blob = pseudoRandomBytes(40_000, 8);
    await client.blobs.upload("app", { digest: sha256(blob), size: blob.length }, blob);
    const chunks: Uint8Array[] = [];
    for await (const c of await client.blobs.chunks("app", sha256(blob), { size: blob.length })) {
      chunks.push(c);
    }
    assert.equal(
      sha256(new Uint8Array(await new Blob(chunks as BlobPart[]).arrayBuffer())),
      sha256(blob),
    );
    const gets = kind(trace, "req").filter((l) => l.split(" ")[3] === "GET");
    const errs = kind(trace, "err");
    assert.equal(errs.length, proxy.stats.cut, trace.join("\n"));
    assert.ok(errs.length >= 2);
    // Every cut GET but the last (which completes) is reported under its own id.
    assert.deepEqual(errs.map(idOf), gets.slice(0, errs.length).map(idOf));
  } finally {
    client.close();
    await proxy.stop();
    await reg.stop();
  }
});
