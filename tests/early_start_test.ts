// Scan workers started at program start (lib/commands/early_start.ts): which
// command lines want them, and that the command's own prestart claims them
// instead of starting more.
import assert from "node:assert/strict";
import { scanWorkersWanted } from "../lib/commands/early_start.ts";
import {
  prestartScanWorker,
  startScanWorker,
  startScanWorkersEarly,
} from "../lib/ztoc/scan_channel.ts";

Deno.test("early start: the scanning commands want workers, others none", () => {
  const cases: Array<[string[], number]> = [
    [["ztoc", "build", "layer.tar.gz"], 1],
    [["--root", "/r", "ztoc", "build", "-o", "x", "l"], 1],
    [["--root=/r", "--debug", "ztoc", "build", "l"], 1],
    [["-n", "ns", "--timeout", "1m", "create", "img"], 2],
    [["convert", "img", "out"], 2],
    [["--content-store", "containerd", "-a", "/s", "create", "img"], 2],
    [["ztoc", "list"], 0],
    [["ztoc", "info", "build"], 0],
    [["index", "list"], 0],
    [["create", "--help"], 0],
    [["-h", "ztoc", "build"], 0],
    [["--", "create"], 0],
    [["--root", "create", "index", "list"], 0],
    [[], 0],
  ];
  for (const [args, want] of cases) {
    assert.equal(scanWorkersWanted(args, 2), want, args.join(" "));
  }
  assert.equal(scanWorkersWanted(["create", "img"], 1), 1);
});

Deno.test("early start: the next prestart claims the early workers and stops unused ones", async () => {
  const real = globalThis.Worker;
  let made = 0;
  globalThis.Worker = class extends real {
    constructor(url: string | URL, options?: WorkerOptions) {
      super(url, options);
      made++;
    }
  };
  try {
    startScanWorkersEarly(2);
    assert.equal(made, 2);
    {
      using _ = prestartScanWorker(2);
      assert.equal(made, 2, "prestart started no more workers");
      const a = startScanWorker();
      await a.ready;
      assert.equal(a.channel.dead, false);
      a.channel.kill("done");
    }
    assert.equal(made, 2);
    // The one not taken was stopped with the block: the next worker is new.
    const b = startScanWorker();
    assert.equal(made, 3);
    await b.ready;
    b.channel.kill("done");
  } finally {
    globalThis.Worker = real;
  }
});
