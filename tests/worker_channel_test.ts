/**
 * `WorkerChannel` and `startWorker` (lib/util/worker_channel.ts), which the
 * scan and verify pools run on: answers in order, a worker that fails or
 * is killed wakes whoever waits with one failure answer, and a worker that
 * does not say `ready` first is refused.
 */
import assert from "node:assert/strict";
import { startWorker, WorkerChannel, WorkerUnavailable } from "../lib/util/worker_channel.ts";

type Answer = { type: string; n?: number; message?: string };
const failure = (message: string): Answer => ({ type: "error", message });

/** A module worker running `code`, and a function that revokes its URL. */
function workerUrl(code: string): { url: URL; revoke: () => void } {
  const href = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
  return { url: new URL(href), revoke: () => URL.revokeObjectURL(href) };
}

/**
 * Runs `test` with a channel (failures named `name`) to a module worker
 * running `code`; the worker is killed (if still alive) and its URL
 * revoked afterwards.
 */
async function withChannel(
  code: string,
  test: (c: WorkerChannel<Answer>) => Promise<void>,
  name?: string,
): Promise<void> {
  const { url, revoke } = workerUrl(code);
  const c = new WorkerChannel<Answer>(new Worker(url, { type: "module" }), failure, name);
  try {
    await test(c);
  } finally {
    c.kill("done");
    revoke();
  }
}

Deno.test("WorkerChannel: answers come in order, queued before they are asked for", async () => {
  await withChannel(
    "self.onmessage = (e) => { for (let i = 0; i < e.data; i++) self.postMessage({ type: 'n', n: i }); };",
    async (c) => {
      c.worker.postMessage(5);
      const got: number[] = [];
      for (let i = 0; i < 5; i++) got.push((await c.next()).n!);
      assert.deepEqual(got, [0, 1, 2, 3, 4]);
    },
  );
});

Deno.test("WorkerChannel: an uncaught error in the worker ends it and wakes the waiter", async () => {
  await withChannel("self.onmessage = () => { throw new Error('boom 42'); };", async (c) => {
    const waiting = c.next(); // asked before anything can come
    c.worker.postMessage(1);
    const m = await waiting;
    assert.equal(m.type, "error");
    assert.match(m.message!, /^test worker failed: .*boom 42/);
    assert.equal(c.dead, true);
    // Killing it again adds nothing: the failure was answered once.
    c.kill("again");
    c.push({ type: "marker" });
    assert.deepEqual(await c.next(), { type: "marker" });
  }, "test worker");
});

Deno.test("WorkerChannel: kill terminates the worker and answers the failure once", async () => {
  await withChannel(
    "self.onmessage = (e) => self.postMessage({ type: 'echo', n: e.data });",
    async (c) => {
      c.worker.postMessage(3);
      assert.deepEqual(await c.next(), { type: "echo", n: 3 });
      c.kill("stopped here");
      c.kill("twice");
      assert.deepEqual(await c.next(), { type: "error", message: "stopped here" });
      assert.equal(c.dead, true);
      // Terminated: what is posted now is never answered.
      c.worker.postMessage(4);
      const late = await Promise.race([
        c.next(),
        new Promise<"none">((r) => setTimeout(() => r("none"), 200)),
      ]);
      assert.equal(late, "none");
    },
  );
});

Deno.test("startWorker: ready once the worker says so; its later answers follow", async () => {
  const { url, revoke } = workerUrl(
    "self.postMessage({ type: 'ready' }); self.onmessage = (e) => self.postMessage({ type: 'echo', n: e.data });",
  );
  const { channel, ready } = startWorker<Answer>(url, failure);
  try {
    await ready;
    channel.worker.postMessage(9);
    assert.deepEqual(await channel.next(), { type: "echo", n: 9 });
  } finally {
    channel.kill("done");
    revoke();
  }
});

Deno.test("startWorker: a first answer other than ready refuses the worker", async () => {
  for (
    const [code, reason] of [
      ["self.postMessage({ type: 'error', message: 'cannot load zlib' });", /cannot load zlib/],
      ["self.postMessage({ type: 'hello' });", /no ready message/],
      ["throw new Error('module failed');", /worker failed: .*module failed/],
    ] as const
  ) {
    const { url, revoke } = workerUrl(code);
    try {
      const { channel, ready } = startWorker<Answer>(url, failure);
      await assert.rejects(ready, (e: unknown) => {
        assert.ok(e instanceof WorkerUnavailable, String(e));
        assert.match((e as Error).message, reason);
        return true;
      });
      assert.equal(channel.dead, true);
    } finally {
      revoke();
    }
  }
});
