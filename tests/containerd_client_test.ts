/**
 * The containerd gRPC client against a real containerd 1.6 started for
 * these tests (own root, state and socket, CRI disabled). That daemon
 * refuses gRPC messages over 1 MiB, so every write here also shows that the
 * client keeps its messages under 1 MiB. What containerd holds is checked
 * with `ctr`, independently of the client.
 */
import assert from "node:assert/strict";
import {
  CONNECT_TIMEOUT_MS,
  ContainerdClient,
  ContainerdError,
  GrpcStatus,
} from "../lib/containerd/client.ts";
import { ContainerdContent, WRITE_CHUNK } from "../lib/containerd/content.ts";
import {
  GC_ROOT_LABEL,
  SOCI_INDEX_IMAGE_LABEL,
  sociIndexGcLabels,
} from "../lib/containerd/gc_labels.ts";
import { ContainerdImages } from "../lib/containerd/images.ts";
import { ContainerdLeases, GC_EXPIRE_LABEL, withLease } from "../lib/containerd/leases.ts";
import { ContainerdNamespaces } from "../lib/containerd/namespaces.ts";
import { BadInputError, NotFoundError, SociError } from "../lib/errors.ts";
import {
  ctrActiveIngests,
  ctrContentDigests,
  ctrLeaseIds,
  ingestDirEntries,
  outputWithin,
  silentSocket,
  startContainerd,
  type TestContainerd,
} from "./helpers/containerd.ts";
import { noise, sha256 } from "./helpers/create_e2e_images.ts";

const ENC = new TextEncoder();
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";

function blob(text: string): { bytes: Uint8Array; digest: string; size: number } {
  const bytes = ENC.encode(text);
  return { bytes, digest: sha256(bytes), size: bytes.length };
}

/** Runs `fn` against a fresh containerd (1 MiB gRPC receive limit) and a client on it. */
async function withDaemon(
  fn: (c: TestContainerd, client: ContainerdClient) => Promise<void>,
): Promise<void> {
  const c = await startContainerd({ maxRecvMessageSize: 1 << 20 });
  const client = new ContainerdClient({ address: c.socket });
  try {
    await fn(c, client);
  } finally {
    client.close();
    await c.stop();
  }
}

/** Deletes a throw-away lease with `sync`: containerd runs its GC before answering. */
async function collectGarbage(client: ContainerdClient): Promise<void> {
  const leases = new ContainerdLeases(client);
  const lease = await leases.create();
  await leases.delete(lease.id, { sync: true });
}

async function* slices(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let off = 0; off < bytes.length; off += size) yield bytes.slice(off, off + size);
}

Deno.test("containerd client: version, namespaces, unreachable sockets", async () => {
  await withDaemon(async (c, client) => {
    const v = await client.version();
    assert.match(await c.ctr(["version"]), new RegExp(`Server:\\s+Version:\\s+${v.version}`));
    const namespaces = new ContainerdNamespaces(client);
    assert.equal(await namespaces.exists("soci-nowhere"), false);
    await c.ctr(["namespaces", "create", "soci-here"]);
    assert.ok((await namespaces.list()).includes("soci-here"));
    assert.equal(await namespaces.exists("soci-here"), true);
  });
  const missing = new ContainerdClient({ address: "unix:///nonexistent/soci/containerd.sock" });
  await assert.rejects(
    missing.version(),
    (e: Error) =>
      e instanceof SociError &&
      e.message ===
        "containerd socket /nonexistent/soci/containerd.sock does not exist: is containerd " +
          "running? (set --address or CONTAINERD_ADDRESS)",
  );
  missing.close();
  // A socket file nobody listens on (containerd stopped): connection refused.
  const dir = await Deno.makeTempDir({ prefix: "soci-ctrd-stale-" });
  try {
    const path = `${dir}/stale.sock`;
    const bind =
      "import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.close()";
    const made = await new Deno.Command("python3", { args: ["-c", bind, path] }).output();
    assert.equal(made.code, 0);
    const stale = new ContainerdClient({ address: path });
    await assert.rejects(
      stale.version(),
      (e: Error) =>
        e instanceof SociError &&
        e.message === `cannot connect to containerd at ${path}: connection refused (is ` +
            `containerd running? set --address or CONTAINERD_ADDRESS)`,
    );
    stale.close();
    await Deno.writeTextFile(`${dir}/file`, "");
    const file = new ContainerdClient({ address: `${dir}/file` });
    await assert.rejects(file.version(), /file is not a unix socket \(set --address/);
    file.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("containerd client: a socket that never answers fails the first call at the connect deadline, in one line, once", async () => {
  assert.equal(CONNECT_TIMEOUT_MS, 10_000);
  assert.throws(
    () => new ContainerdClient({ address: "/x.sock", connectTimeoutMs: 0 }),
    BadInputError,
  );
  await withDaemon(async (c) => {
    const dir = await Deno.makeTempDir({ prefix: "soci-ctrd-silent-" });
    const silent = silentSocket(`${dir}/silent.sock`);
    const digest = sha256(ENC.encode("anything"));
    const drain = async (client: ContainerdClient) => {
      for await (const _ of new ContainerdContent(client).read(digest)) {
        // nothing comes
      }
    };
    try {
      assert.ok((await Deno.stat(c.ttrpcSocket)).isSocket);
      for (const sock of [silent.path, c.ttrpcSocket]) {
        const line = `cannot connect to containerd at ${sock}: no answer in 0.3 s (is it ` +
          "containerd's gRPC socket?)";
        const is = (e: Error) => e instanceof SociError && e.message === line;
        const client = new ContainerdClient({ address: sock, connectTimeoutMs: 300 });
        let t = performance.now();
        await assert.rejects(client.version(), is);
        let took = performance.now() - t;
        assert.ok(took >= 250 && took < 10_000, `${sock}: first call took ${took} ms`);
        // The connection stays failed (and closed): later calls, views and
        // streams fail the same way at once.
        t = performance.now();
        await assert.rejects(new ContainerdNamespaces(client.withNamespace("x")).list(), is);
        await assert.rejects(drain(client), is);
        took = performance.now() - t;
        assert.ok(took < 250, `${sock}: later calls took ${took} ms`);
        client.close();
        // A first call that is a stream gets the deadline too.
        const streaming = new ContainerdClient({ address: sock, connectTimeoutMs: 300 });
        await assert.rejects(drain(streaming), is);
        streaming.close();
      }
      assert.ok(silent.accepted() >= 2, `${silent.accepted()} connections`);
    } finally {
      await silent.close();
    }
    // A socket that hangs up: grpc-js's "No connection established. Last
    // error: … Resolution note: …" becomes one short line.
    const hangUp = silentSocket(`${dir}/hangup.sock`, { hangUp: true });
    try {
      const client = new ContainerdClient({ address: hangUp.path });
      await assert.rejects(
        client.version(),
        (e: Error) =>
          e instanceof SociError &&
          e.message === `cannot connect to containerd at ${hangUp.path}: the connection was ` +
              "closed by the other end (is containerd running? set --address or CONTAINERD_ADDRESS)",
      );
      client.close();
    } finally {
      await hangUp.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("containerd client: calls after the first have no deadline: a slowly consumed read completes", async () => {
  await withDaemon(async (_c, client) => {
    const big = noise(3 * (1 << 20) + 7, 11);
    const digest = sha256(big);
    await new ContainerdContent(client).write({ digest, size: big.length }, big, {
      labels: { [GC_ROOT_LABEL]: "test" },
    });
    const slow = new ContainerdClient({ address: client.socket, connectTimeoutMs: 300 });
    try {
      await slow.version();
      // Each chunk is held longer than the connect deadline.
      const chunks: Uint8Array[] = [];
      for await (const chunk of new ContainerdContent(slow).read(digest)) {
        chunks.push(chunk.slice());
        await new Promise((r) => setTimeout(r, 400));
      }
      assert.ok(chunks.length >= 3, `${chunks.length} chunks`);
      const got = new Uint8Array(big.length);
      let off = 0;
      for (const chunk of chunks) {
        got.set(chunk, off);
        off += chunk.length;
      }
      assert.equal(off, big.length);
      assert.equal(sha256(got), digest);
      // And a call after a pause longer than the deadline.
      await new Promise((r) => setTimeout(r, 400));
      assert.equal((await new ContainerdContent(slow).info(digest)).size, big.length);
    } finally {
      slow.close();
    }
  });
});

Deno.test("containerd content: write, read, ranged read, labels, list, delete", async () => {
  await withDaemon(async (c, client) => {
    const content = new ContainerdContent(client);
    // Larger than one gRPC message: written in WRITE_CHUNK pieces, read in 1 MiB answers.
    const big = noise(3 * (1 << 20) + 12345, 7);
    const bigDigest = sha256(big);
    const res = await withLease(
      client,
      (leased) =>
        new ContainerdContent(leased).write({ digest: bigDigest, size: big.length }, big, {
          labels: { [GC_ROOT_LABEL]: "test", "test.soci/kind": "big" },
        }),
    );
    assert.deepEqual(res, { digest: bigDigest, size: big.length, existed: false });
    assert.deepEqual(await c.ctrBytes(["content", "get", bigDigest]), big);
    const info = await content.info(bigDigest);
    assert.equal(info.size, big.length);
    assert.deepEqual(info.labels, { [GC_ROOT_LABEL]: "test", "test.soci/kind": "big" });
    assert.ok(info.createdAt instanceof Date && info.createdAt.getTime() > Date.now() - 3600_000);

    const chunks: Uint8Array[] = [];
    for await (const chunk of content.read(bigDigest)) chunks.push(chunk);
    assert.ok(chunks.length >= 4, `${chunks.length} chunks`);
    for (const chunk of chunks) assert.ok(chunk.length <= 1 << 20, `chunk of ${chunk.length}`);
    assert.deepEqual(await content.readBytes(bigDigest), big);
    const at = (1 << 20) - 10;
    assert.deepEqual(
      await content.readBytes(bigDigest, { offset: at, size: 100_000 }),
      big.subarray(at, at + 100_000),
    );
    // A size past the end stops at the end; an offset past the end is bad input.
    assert.deepEqual(
      await content.readBytes(bigDigest, { offset: big.length - 5, size: 50 }),
      big.subarray(big.length - 5),
    );
    await assert.rejects(
      content.readBytes(bigDigest, { offset: big.length + 1 }),
      (e: Error) => e instanceof BadInputError && /read past object length/.test(e.message),
    );
    // Leaving a read early cancels it; the channel stays usable.
    for await (const _ of content.read(bigDigest)) break;
    assert.equal((await content.info(bigDigest)).size, big.length);

    // Small chunks from a ReadableStream are gathered; the write is still verified.
    const streamed = noise(2 * WRITE_CHUNK + 999, 8);
    const streamedDigest = sha256(streamed);
    await content.write(
      { digest: streamedDigest, size: streamed.length },
      ReadableStream.from(slices(streamed, 10_000)),
      { labels: { [GC_ROOT_LABEL]: "test", "test.soci/kind": "streamed" } },
    );
    assert.deepEqual(await c.ctrBytes(["content", "get", streamedDigest]), streamed);

    // Labels: set and remove some, keep the others; replace all.
    let updated = await content.updateLabels(bigDigest, { "test.soci/kind": null, "x.y/z": "1" });
    assert.deepEqual(updated.labels, { [GC_ROOT_LABEL]: "test", "x.y/z": "1" });
    assert.match(await c.ctr(["content", "ls"]), /x\.y\/z=1/);
    updated = await content.setLabels(bigDigest, { [GC_ROOT_LABEL]: "again" });
    assert.deepEqual(updated.labels, { [GC_ROOT_LABEL]: "again" });

    // List with a label filter.
    const kinds = await content.list([`labels."test.soci/kind"==streamed`]);
    assert.deepEqual(kinds.map((i) => i.digest), [streamedDigest]);
    const all = (await content.list()).map((i) => i.digest).sort();
    assert.deepEqual(all, (await ctrContentDigests(c)).sort());

    // Delete.
    await content.delete(streamedDigest);
    assert.ok(!(await ctrContentDigests(c)).includes(streamedDigest));
    await assert.rejects(
      content.info(streamedDigest),
      (e: Error) =>
        e instanceof NotFoundError &&
        e.message === `blob ${streamedDigest} not found in containerd namespace default`,
    );
    await assert.rejects(content.delete(streamedDigest), NotFoundError);
    await assert.rejects(
      async () => {
        for await (const _ of content.read(streamedDigest)) { /* nothing */ }
      },
      /not found in containerd namespace default/,
    );
  });
});

Deno.test("containerd content: bad data is refused and leaves no ingest", async () => {
  await withDaemon(async (c, client) => {
    const content = new ContainerdContent(client);
    const good = blob("the real bytes\n");
    const other = blob("other bytes!!!\n");
    assert.equal(good.size, other.size);
    await assert.rejects(
      content.write({ digest: good.digest, size: good.size }, other.bytes),
      (e: Error) =>
        e instanceof BadInputError &&
        e.message === `blob data does not match its descriptor: expected ${good.digest} ` +
            `(${good.size} bytes), got ${other.digest} (${other.size} bytes)`,
    );
    await assert.rejects(
      content.write({ digest: good.digest, size: good.size + 1 }, good.bytes),
      /does not match its descriptor/,
    );
    await assert.rejects(
      content.write({ digest: good.digest, size: good.size - 1 }, good.bytes),
      /is larger than its expected/,
    );
    await assert.rejects(
      content.write({ digest: "sha256:nope", size: 1 }, good.bytes),
      BadInputError,
    );
    assert.ok(!(await ctrContentDigests(c)).includes(good.digest));
    assert.deepEqual(await ctrActiveIngests(c), []);
    assert.deepEqual(await ingestDirEntries(c), []);
  });
});

Deno.test("containerd content: an existing blob answers ALREADY_EXISTS; labels are set", async () => {
  await withDaemon(async (c, client) => {
    const b = blob(`shared blob ${Date.now()}\n`);
    const first = await new ContainerdContent(client).write(b, b.bytes, {
      labels: { [GC_ROOT_LABEL]: "first" },
    });
    assert.equal(first.existed, false);
    // The raw protocol: a second write of the same digest fails at once with ALREADY_EXISTS.
    const call = await client.duplex<Record<string, unknown>, Record<string, unknown>>(
      "content",
      "Write",
    );
    await call.write({ action: "STAT", ref: "raw-second", total: b.size, expected: b.digest });
    await assert.rejects(
      call.next(),
      (e: Error) => e instanceof ContainerdError && e.code === GrpcStatus.ALREADY_EXISTS,
    );
    // Through the client: counted as done, added to the lease, labels set (others kept).
    const leases = new ContainerdLeases(client);
    const lease = await leases.create();
    const second = await new ContainerdContent(client.withLease(lease.id)).write(b, b.bytes, {
      labels: { "test.soci/second": "yes" },
    });
    assert.deepEqual(second, { digest: b.digest, size: b.size, existed: true });
    assert.deepEqual(await leases.listResources(lease.id), [{ id: b.digest, type: "content" }]);
    assert.deepEqual((await new ContainerdContent(client).info(b.digest)).labels, {
      [GC_ROOT_LABEL]: "first",
      "test.soci/second": "yes",
    });
    await leases.delete(lease.id);
    assert.match(await c.ctr(["content", "ls"]), /test\.soci\/second=yes/);
  });
});

Deno.test("containerd content: COMMIT is answered twice; a write ends at the stream's end", async () => {
  await withDaemon(async (c, client) => {
    const b = blob(`double commit ${Date.now()}\n`);
    const call = await client.duplex<Record<string, unknown>, Record<string, string>>(
      "content",
      "Write",
    );
    const ref = "raw-double-commit";
    await call.write({ action: "STAT", ref, total: b.size, expected: b.digest });
    await call.write({ action: "WRITE", ref, offset: 0, data: b.bytes, total: b.size });
    await call.write({
      action: "COMMIT",
      ref,
      offset: b.size,
      total: b.size,
      expected: b.digest,
      labels: { [GC_ROOT_LABEL]: "raw" },
    });
    const answers: string[] = [];
    // Read until two COMMIT answers came (or the stream ended), then close our side.
    for (let a = await call.next(); a !== undefined; a = await call.next()) {
      answers.push(a.action);
      if (answers.filter((x) => x === "COMMIT").length === 2) break;
    }
    call.end();
    assert.equal(await call.next(), undefined);
    assert.deepEqual(answers, ["STAT", "WRITE", "COMMIT", "COMMIT"]);
    assert.ok((await ctrContentDigests(c)).includes(b.digest));
    // The client's own write of another blob finishes and the channel stays usable.
    // (A GC root, as above: an unreferenced blob may be collected before `info` looks.)
    const d = blob(`after double commit ${Date.now()}\n`);
    const labels = { [GC_ROOT_LABEL]: "raw" };
    assert.equal(
      (await new ContainerdContent(client).write(d, d.bytes, { labels })).existed,
      false,
    );
    assert.equal((await new ContainerdContent(client).info(d.digest)).size, d.size);
  });
});

Deno.test("containerd images: create, get, list, update, labels, delete, errors", async () => {
  await withDaemon(async (c, client) => {
    const content = new ContainerdContent(client);
    const images = new ContainerdImages(client);
    const m1 = blob(`{"schemaVersion":2,"n":1}`);
    const m2 = blob(`{"schemaVersion":2,"n":2}`);
    for (const m of [m1, m2]) await content.write(m, m.bytes, { labels: { [GC_ROOT_LABEL]: "t" } });
    const target1 = { mediaType: OCI_MANIFEST, digest: m1.digest, size: m1.size };
    const target2 = { mediaType: OCI_MANIFEST, digest: m2.digest, size: m2.size };
    const name = "docker.io/library/app:1";

    const created = await images.create({ name, target: target1, labels: { a: "1" } });
    assert.equal(created.name, name);
    assert.deepEqual(created.target, target1);
    const row = (await c.ctr(["images", "ls"])).split("\n").find((l) => l.startsWith(`${name} `));
    assert.deepEqual(row?.split(/\s+/).slice(0, 3), [name, OCI_MANIFEST, m1.digest]);
    await assert.rejects(
      images.create({ name, target: target2 }),
      (e: Error) =>
        e instanceof ContainerdError && e.code === GrpcStatus.ALREADY_EXISTS &&
        e.message === `image "${name}" already exists in containerd namespace default`,
    );
    const got = await images.get(name);
    assert.deepEqual(got.target, target1);
    assert.deepEqual(got.labels, { a: "1" });

    // put() moves an existing record and sets labels, keeping the others.
    const moved = await images.put(name, target2, { b: "2" });
    assert.deepEqual(moved.target, target2);
    assert.deepEqual(moved.labels, { a: "1", b: "2" });
    const labelled = await images.updateLabels(name, {
      a: null,
      [SOCI_INDEX_IMAGE_LABEL]: m1.digest,
    });
    assert.deepEqual(labelled.labels, { b: "2", [SOCI_INDEX_IMAGE_LABEL]: m1.digest });
    assert.match(await c.ctr(["images", "ls"]), /containerd\.io\/gc\.ref\.content\.soci-index=/);
    // put() of a new name creates it.
    await images.put("127.0.0.1:5000/team/app:v1", target1);
    assert.deepEqual(
      (await images.list()).map((i) => i.name).sort(),
      ["127.0.0.1:5000/team/app:v1", name],
    );
    assert.deepEqual((await images.list([`name==${name}`])).map((i) => i.target.digest), [
      m2.digest,
    ]);

    await images.delete(name);
    assert.equal((await c.ctr(["images", "ls", "-q"])).trim(), "127.0.0.1:5000/team/app:v1");
    await assert.rejects(
      images.get(name),
      (e: Error) =>
        e instanceof NotFoundError &&
        e.message === `image "${name}": not found in containerd namespace default`,
    );
    await assert.rejects(images.delete(name), NotFoundError);
    await assert.rejects(
      new ContainerdImages(client.withNamespace("soci-missing")).get(name),
      (e: Error) =>
        e instanceof NotFoundError &&
        e.message === "containerd namespace soci-missing does not exist (set --namespace or " +
            "CONTAINERD_NAMESPACE)",
    );
    await assert.rejects(
      images.updateLabels("docker.io/library/none:1", { a: "1" }),
      /image "docker.io\/library\/none:1": not found in containerd namespace default/,
    );
  });
});

Deno.test("containerd leases: content written in a deleted lease is collected", async () => {
  await withDaemon(async (c, client) => {
    const leases = new ContainerdLeases(client);
    const lease = await leases.create({ expireAfterMs: 3600_000, labels: { "test.soci/x": "1" } });
    const expire = Date.parse(lease.labels[GC_EXPIRE_LABEL]);
    assert.ok(Math.abs(expire - (Date.now() + 3600_000)) < 120_000, lease.labels[GC_EXPIRE_LABEL]);
    assert.equal(lease.labels["test.soci/x"], "1");
    assert.ok((await ctrLeaseIds(c)).includes(lease.id));
    assert.deepEqual((await leases.list()).map((l) => l.id), [lease.id]);

    const loose = blob(`unreferenced ${Date.now()}\n`);
    const rooted = blob(`rooted ${Date.now()}\n`);
    const leased = new ContainerdContent(client.withLease(lease.id));
    await leased.write(loose, loose.bytes);
    await leased.write(rooted, rooted.bytes, { labels: { [GC_ROOT_LABEL]: "keep" } });
    assert.deepEqual(
      (await leases.listResources(lease.id)).map((r) => r.id).sort(),
      [loose.digest, rooted.digest].sort(),
    );
    // The lease protects the loose blob from a GC run.
    await collectGarbage(client);
    assert.ok((await ctrContentDigests(c)).includes(loose.digest));
    // `ctr leases rm --sync` deletes the lease and collects at once.
    await c.ctr(["leases", "rm", "--sync", lease.id]);
    const left = await ctrContentDigests(c);
    assert.ok(!left.includes(loose.digest), "the unreferenced blob was collected");
    assert.ok(left.includes(rooted.digest), "the gc.root blob was kept");
    assert.deepEqual(await ctrLeaseIds(c), []);
    await assert.rejects(leases.delete(lease.id), NotFoundError);
  });
});

Deno.test("containerd leases: withLease always deletes its lease; GC labels keep SOCI artifacts", async () => {
  await withDaemon(async (c, client) => {
    // On error: the error comes through, the lease is gone.
    await assert.rejects(
      withLease(client, async (leased) => {
        assert.ok((await ctrLeaseIds(c)).includes(leased.lease!));
        throw new Error("build failed");
      }),
      /build failed/,
    );
    assert.deepEqual(await ctrLeaseIds(c), []);

    // A SOCI-like graph: image record → manifest -(soci-index label)→ index → zTOC + config.
    const ztoc = { ...blob(`ztoc bytes ${Date.now()}`), mediaType: "application/octet-stream" };
    const empty = { ...blob("{}"), mediaType: "application/vnd.amazon.soci.index.v1+json" };
    const indexDoc = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: empty.mediaType, digest: empty.digest, size: empty.size },
      layers: [{ mediaType: ztoc.mediaType, digest: ztoc.digest, size: ztoc.size }],
    };
    const index = blob(JSON.stringify(indexDoc));
    const imageConfig = blob(`{"architecture":"amd64","os":"linux","n":${Date.now()}}`);
    const manifest = blob(JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: imageConfig.digest, size: imageConfig.size },
      layers: [],
    }));
    const name = "docker.io/library/gc-test:1";
    const leaseId = await withLease(client, async (leased, lease) => {
      const content = new ContainerdContent(leased);
      await content.write(ztoc, ztoc.bytes);
      await content.write(empty, empty.bytes);
      await content.write(index, index.bytes, { labels: sociIndexGcLabels(indexDoc) });
      await content.write(imageConfig, imageConfig.bytes);
      await content.write(manifest, manifest.bytes, {
        labels: {
          "containerd.io/gc.ref.content.config": imageConfig.digest,
          [SOCI_INDEX_IMAGE_LABEL]: index.digest,
        },
      });
      await new ContainerdImages(leased).put(name, {
        mediaType: OCI_MANIFEST,
        digest: manifest.digest,
        size: manifest.size,
      });
      return lease.id;
    }, { sync: true });
    assert.ok(!(await ctrLeaseIds(c)).includes(leaseId));
    const graph = [ztoc.digest, empty.digest, index.digest, imageConfig.digest, manifest.digest];
    let held = await ctrContentDigests(c);
    for (const d of graph) assert.ok(held.includes(d), `${d} kept while referenced`);

    // Dropping the soci-index label (what `index rm` does) lets GC take the index and its blobs.
    await new ContainerdContent(client).updateLabels(manifest.digest, {
      [SOCI_INDEX_IMAGE_LABEL]: null,
    });
    await collectGarbage(client);
    held = await ctrContentDigests(c);
    for (const d of [ztoc.digest, empty.digest, index.digest]) assert.ok(!held.includes(d), d);
    for (const d of [imageConfig.digest, manifest.digest]) assert.ok(held.includes(d), d);

    // Removing the image record frees the rest.
    await new ContainerdImages(client).delete(name, { sync: true });
    held = await ctrContentDigests(c);
    for (const d of graph) assert.ok(!held.includes(d), d);
  });
});

Deno.test("containerd leases: a SIGKILLed writer leaves nothing once its lease expires", async () => {
  await withDaemon(async (c, client) => {
    const expiryMs = 3000;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("./helpers/containerd_killed_writer.ts", import.meta.url).pathname,
        c.socket,
        String(expiryMs),
      ],
      env: { DENO_NO_UPDATE_CHECK: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let line = "";
    while (!line.includes("\n")) {
      const r = await reader.read();
      if (r.done) break;
      line += r.value;
    }
    const started = Date.now();
    child.kill("SIGKILL");
    await child.status;
    reader.releaseLock();
    await child.stdout.cancel().catch(() => {});
    const err = new TextDecoder().decode(
      (await new Response(child.stderr).arrayBuffer()) as ArrayBuffer,
    );
    const m = /^READY (\S+) (sha256:[0-9a-f]{64})/.exec(line);
    assert.ok(m, `writer did not get ready: ${line} ${err}`);
    const [, leaseId, committed] = m;
    // Killed mid-write: the lease, its committed blob and a partial ingest remain.
    assert.ok((await ctrLeaseIds(c)).includes(leaseId));
    assert.ok((await ctrContentDigests(c)).includes(committed));
    assert.equal((await ctrActiveIngests(c)).length, 1);
    assert.equal((await ingestDirEntries(c)).length, 1);
    // The lease protects them from GC until it expires.
    await collectGarbage(client);
    assert.ok((await ctrContentDigests(c)).includes(committed));
    // After the expiry, a GC run removes the lease, the blob and the ingest.
    await new Promise((r) => setTimeout(r, Math.max(0, expiryMs + 1500 - (Date.now() - started))));
    await collectGarbage(client);
    assert.deepEqual(await ctrLeaseIds(c), []);
    assert.ok(!(await ctrContentDigests(c)).includes(committed));
    assert.deepEqual(await ctrActiveIngests(c), []);
    assert.deepEqual(await ingestDirEntries(c), []);
  });
});

Deno.test("containerd client: never prints, never keeps the process alive", async () => {
  await withDaemon(async (c) => {
    const bytes = ENC.encode("x".repeat(3 << 20));
    const dir = await Deno.makeTempDir({ prefix: "soci-ctrd-quiet-" });
    try {
      const stale = `${dir}/stale.sock`;
      const bind =
        "import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.close()";
      assert.equal(
        (await new Deno.Command("python3", { args: ["-c", bind, stale] }).output()).code,
        0,
      );
      // A socket that accepts and never answers: the failed first call
      // leaves nothing running either.
      await using silent = silentSocket(`${dir}/silent.sock`);
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL("./helpers/containerd_quiet_client.ts", import.meta.url).pathname,
          c.socket,
          sha256(bytes),
          stale,
          silent.path,
        ],
        env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      // The process must end by itself; it is killed (and the test fails) after 60 s.
      const { out, killed } = await outputWithin(child, 60_000);
      assert.equal(killed, false, "the client kept the process alive");
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      assert.equal(new TextDecoder().decode(out.stdout), "done\n");
      assert.equal(new TextDecoder().decode(out.stderr), "");
      assert.equal(silent.accepted(), 1);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("containerd content: concurrent writes of one blob both succeed, one copy is kept", async () => {
  await withDaemon(async (c, client) => {
    const data = noise(3 << 20, 11);
    const desc = { digest: sha256(data), size: data.length };
    const content = new ContainerdContent(client);
    const results = await Promise.all([
      content.write(desc, ReadableStream.from(slices(data, 64 << 10)), {
        labels: { [GC_ROOT_LABEL]: "a" },
      }),
      content.write(desc, ReadableStream.from(slices(data, 64 << 10)), {
        labels: { "test.soci/b": "b" },
      }),
    ]);
    for (const r of results) assert.deepEqual({ digest: r.digest, size: r.size }, desc);
    assert.equal((await ctrContentDigests(c)).filter((d) => d === desc.digest).length, 1);
    assert.deepEqual(await c.ctrBytes(["content", "get", desc.digest]), data);
    // Whichever committed second set its labels on the blob the first one wrote.
    const labels = (await content.info(desc.digest)).labels;
    assert.equal(labels[GC_ROOT_LABEL], "a");
    assert.equal(labels["test.soci/b"], "b");
    assert.deepEqual(await ctrActiveIngests(c), []);
  });
});
