/**
 * End-to-end tests of the `soci ztoc` commands run as subprocesses
 * (`deno run -A cli.ts …`): `get-file` prints exactly a file's bytes (or
 * writes them with `-o`), and bad input of every kind ends with exit code 1,
 * one `soci: ` line on stderr naming the problem, no stack trace, and no
 * output or temp file left behind.
 */
import assert from "node:assert/strict";
import { decodeZtoc } from "../lib/ztoc/codec.ts";
import { goTar, type GoTarEntry } from "./helpers/tar_go_writer.ts";
import {
  listDir,
  parseZinfoBlob,
  randomBytes,
  type RunResult,
  sameBytes,
  sh,
  soci,
  textBytes,
  withTempDir,
} from "./helpers/ztoc_e2e_tools.ts";

const ENC = new TextEncoder();

/** The layer files of these tests: a multi-span tar with links and an empty file. */
function layerEntries(): GoTarEntry[] {
  return [
    { name: "etc/", typeflag: "5", mode: 0o755 },
    { name: "etc/hosts", data: ENC.encode("127.0.0.1 localhost\n") },
    { name: "etc/empty" },
    { name: "bin/random", data: randomBytes(900_000, 1), mode: 0o755 },
    { name: "usr/text", data: textBytes(1_200_000, 2) },
    { name: "usr/no-newline", data: ENC.encode("no trailing newline") },
    { name: "usr/lib/link", typeflag: "2", linkname: "../text" },
    { name: "hard", typeflag: "1", linkname: "bin/random" },
    { name: "usr/tail", data: textBytes(300_000, 3) },
  ];
}

function dataOf(name: string): Uint8Array {
  const e = layerEntries().find((x) => x.name === name);
  return e?.data ?? new Uint8Array(0);
}

/** Asserts the failure contract: exit 1, one `soci: ` stderr line matching `want`, no trace. */
function assertFails(r: RunResult, want: string | RegExp, label: string): void {
  assert.equal(r.code, 1, `${label}: exit code (stderr: ${r.stderr})`);
  assert.ok(r.stderr.endsWith("\n"), `${label}: stderr ends with a newline`);
  const lines = r.stderr.slice(0, -1).split("\n");
  assert.equal(lines.length, 1, `${label}: exactly one stderr line, got:\n${r.stderr}`);
  assert.ok(lines[0].startsWith("soci: "), `${label}: ${lines[0]}`);
  if (typeof want === "string") assert.equal(lines[0], want, `${label}: ${lines[0]}`);
  else assert.match(lines[0], want, `${label}: ${lines[0]}`);
  assert.doesNotMatch(r.stderr, /\bat .*\.ts:\d+|Error:|Stack backtrace/, `${label}: no trace`);
}

Deno.test("ztoc get-file: stdout and -o are exactly the file's bytes (gzip, members, tar)", async (t) => {
  await withTempDir(async (dir) => {
    const root = `${dir}/root`;
    const tar = goTar(layerEntries());
    await Deno.writeFile(`${dir}/l.tar`, tar);
    const half = 1_000_001;
    await Deno.writeFile(`${dir}/a`, tar.subarray(0, half));
    await Deno.writeFile(`${dir}/b`, tar.subarray(half));
    await sh("gzip -n -c l.tar > l.tar.gz; (gzip -n -c a; gzip -n -9 -c b) > m.tar.gz", dir);
    const wanted: Array<[string, Uint8Array]> = [
      ["etc/hosts", dataOf("etc/hosts")],
      ["etc/empty", new Uint8Array(0)],
      ["bin/random", dataOf("bin/random")],
      ["usr/no-newline", dataOf("usr/no-newline")],
      ["usr/lib/link", dataOf("usr/text")],
      ["hard", dataOf("bin/random")],
      ["usr/tail", dataOf("usr/tail")],
    ];
    for (const layer of ["l.tar.gz", "m.tar.gz", "l.tar"]) {
      await t.step(layer, async () => {
        const ztoc = `${dir}/${layer}.ztoc`;
        const b = await soci([
          "ztoc",
          "build",
          "--span-size",
          "65536",
          "-o",
          ztoc,
          `${dir}/${layer}`,
        ], root);
        assert.equal(b.code, 0, b.stderr);
        assert.match(
          new TextDecoder().decode(b.stdout),
          /^ztoc sha256:[0-9a-f]{64} \(\d+ bytes, \d+ spans, 9 files\) written to /,
        );
        const z = decodeZtoc(await Deno.readFile(ztoc));
        const spans = z.compressionAlgorithm === "gzip"
          ? parseZinfoBlob(z.checkpoints).cps.length
          : z.maxSpanId + 1;
        assert.ok(spans > 10, `${spans} spans`);
        for (const [name, want] of wanted) {
          const r = await soci(
            ["ztoc", "get-file", "--layer", `${dir}/${layer}`, ztoc, name],
            root,
          );
          assert.equal(r.code, 0, `${name}: ${r.stderr}`);
          assert.equal(r.stderr, "", name);
          assert.equal(r.stdout.length, want.length, `${name}: stdout length`);
          assert.ok(sameBytes(r.stdout, want), `${name}: stdout bytes`);
        }
        // -o writes the same bytes and prints nothing (flags after the arguments too).
        for (const [name, want] of [wanted[2], wanted[3], wanted[1]]) {
          const out = `${dir}/out-${name.replaceAll("/", "_")}`;
          const r = await soci(
            ["ztoc", "get-file", ztoc, name, "--layer", `${dir}/${layer}`, "-o", out],
            root,
          );
          assert.equal(r.code, 0, r.stderr);
          assert.equal(r.stdout.length, 0);
          assert.ok(sameBytes(await Deno.readFile(out), want), `${name}: -o bytes`);
          await Deno.remove(out);
        }
      });
    }
  });
});

Deno.test("ztoc build: bad input fails with one soci: line and leaves no file", async (t) => {
  await withTempDir(async (dir) => {
    const root = `${dir}/root`;
    const tar = goTar(layerEntries());
    await Deno.writeFile(`${dir}/l.tar`, tar);
    await sh("gzip -n -6 -c l.tar > l.tar.gz", dir);
    const gz = await Deno.readFile(`${dir}/l.tar.gz`);
    const garble = (at: number) => {
      const c = gz.slice();
      for (let i = at; i < at + 64; i++) c[i] ^= 0x5a;
      return c;
    };
    const badSum = tar.slice();
    badSum[512 + 5] ^= 1; // the name in the second header (etc/hosts)
    const withGlobal = goTar([
      { name: "a", data: ENC.encode("a") },
      { name: "", typeflag: "g", pax: [["comment", "global"]] },
      { name: "b", data: ENC.encode("b") },
    ]);
    const gzipOf = async (b: Uint8Array, name: string) => {
      await Deno.writeFile(`${dir}/${name}`, b);
      await sh(`gzip -n -c ${name} > ${name}.gz; rm ${name}`, dir);
      return await Deno.readFile(`${dir}/${name}.gz`);
    };
    const cases: Array<[string, Uint8Array, string | RegExp]> = [
      [
        "truncated.tar.gz",
        gz.subarray(0, Math.floor(gz.length / 2)),
        `soci: gzip data is truncated: unexpected end of data at byte ${Math.floor(gz.length / 2)}`,
      ],
      // Garbled deflate data inside the last file: only zlib can tell.
      [
        "corrupt.tar.gz",
        garble(gz.length - 30_000),
        /^soci: gzip data is corrupt at byte \d+: incorrect data check$/,
      ],
      // Garbled deflate data in the middle: the garbage output may reach the tar reader
      // first (as in upstream's Go pipeline); either way the line names what is wrong.
      [
        "corrupt-middle.tar.gz",
        garble(Math.floor(gz.length * 0.6)),
        /^soci: (gzip data is corrupt at byte \d+|archive\/tar: invalid tar header at offset \d+): /,
      ],
      [
        "badsum.tar",
        badSum,
        /^soci: archive\/tar: invalid tar header at offset 512: checksum mismatch/,
      ],
      [
        "badsum.tar.gz",
        await gzipOf(badSum, "badsum2.tar"),
        /^soci: archive\/tar: invalid tar header at offset 512: checksum mismatch/,
      ],
      [
        "junk.bin",
        ENC.encode("this is neither a tar nor gzip ".repeat(40)),
        "soci: data is neither gzip nor tar",
      ],
      ["global.tar", withGlobal, "soci: unsupported input tar entry 'g'"],
      [
        "global.tar.gz",
        await gzipOf(withGlobal, "global2.tar"),
        "soci: unsupported input tar entry 'g'",
      ],
      [
        "truncated.tar",
        tar.subarray(0, 500_000),
        /^soci: unexpected EOF at offset 500000: .*bin\/random/,
      ],
    ];
    for (const f of await listDir(dir)) {
      if (f !== "l.tar" && f !== "l.tar.gz") await Deno.remove(`${dir}/${f}`);
    }
    for (const [name, bytes, want] of cases) {
      await t.step(name, async () => {
        const caseDir = `${dir}/case-${name}`;
        await Deno.mkdir(caseDir);
        await Deno.writeFile(`${caseDir}/${name}`, bytes);
        const r = await soci(
          ["ztoc", "build", "-o", `${caseDir}/out.ztoc`, `${caseDir}/${name}`],
          root,
        );
        assertFails(r, want, name);
        assert.equal(r.stdout.length, 0, `${name}: nothing on stdout`);
        // The default output (<layer>.ztoc) is not left behind either.
        const d = await soci(["ztoc", "build", "--span-size", "1000", `${caseDir}/${name}`], root);
        assertFails(d, want, `${name} (default output)`);
        assert.deepEqual(await listDir(caseDir), [name], `${name}: no output or temp file`);
      });
    }
  });
});

Deno.test("ztoc info and get-file: garbage, missing paths and layers that do not match", async (t) => {
  await withTempDir(async (dir) => {
    const root = `${dir}/root`;
    const tar = goTar(layerEntries());
    await Deno.writeFile(`${dir}/l.tar`, tar);
    await sh("gzip -n -6 -c l.tar > l.tar.gz; gzip -n -1 -c l.tar > other.tar.gz", dir);
    const ztoc = `${dir}/l.ztoc`;
    const b = await soci(
      ["ztoc", "build", "--span-size", "65536", "-o", ztoc, `${dir}/l.tar.gz`],
      root,
    );
    assert.equal(b.code, 0, b.stderr);

    await t.step("ztoc info of garbage", async () => {
      for (
        const [name, bytes] of [["rnd", randomBytes(3000, 9)], ["zero", new Uint8Array(0)], [
          "tar",
          tar.subarray(0, 4096),
        ]] as const
      ) {
        await Deno.writeFile(`${dir}/${name}.ztoc`, bytes);
        for (const json of [[], ["--json"]]) {
          const r = await soci(["ztoc", "info", ...json, `${dir}/${name}.ztoc`], root);
          assertFails(
            r,
            new RegExp(`^soci: ${dir}/${name}\\.ztoc is not a zTOC \\(cannot unmarshal ztoc: `),
            `info ${name}`,
          );
          assert.equal(r.stdout.length, 0);
        }
      }
    });

    await t.step("get-file of a path the zTOC does not have", async () => {
      const r = await soci(
        ["ztoc", "get-file", "--layer", `${dir}/l.tar.gz`, ztoc, "etc/nope"],
        root,
      );
      assertFails(r, "soci: file etc/nope does not exist in metadata", "missing path");
      assert.equal(r.stdout.length, 0);
      const o = await soci(
        ["ztoc", "get-file", "--layer", `${dir}/l.tar.gz`, "-o", `${dir}/x`, ztoc, "etc/nope"],
        root,
      );
      assertFails(o, "soci: file etc/nope does not exist in metadata", "missing path -o");
    });

    await t.step("a directory as the zTOC or as --layer, a missing --layer", async () => {
      const sub = `${dir}/sub`;
      await Deno.mkdir(sub);
      const notZtoc = `soci: ${sub}: is a directory, and not a digest ` +
        "(invalid checksum digest format)";
      for (const args of [["info"], ["info", "--table"], ["get-file"]]) {
        const extra = args[0] === "get-file" ? ["etc/hosts"] : [];
        const r = await soci(["ztoc", ...args, sub, ...extra], root);
        assertFails(r, notZtoc, `${args.join(" ")} of a directory`);
        assert.equal(r.stdout.length, 0);
      }
      const before = await listDir(dir);
      for (
        const [layer, want] of [
          [sub, `soci: --layer ${sub}: is a directory`],
          [`${dir}/nope.tar.gz`, `soci: --layer ${dir}/nope.tar.gz: no such file`],
        ]
      ) {
        for (const extra of [[], ["-o", `${dir}/extracted`]]) {
          const r = await soci(
            ["ztoc", "get-file", "--layer", layer, ...extra, ztoc, "etc/hosts"],
            root,
          );
          assertFails(r, want, `--layer ${layer} ${extra.join(" ")}`);
          assert.equal(r.stdout.length, 0);
        }
      }
      assert.deepEqual(await listDir(dir), before, "no output or temp file");
      await Deno.remove(sub);
    });

    await t.step("get-file with a layer that does not match the zTOC", async () => {
      const z = decodeZtoc(await Deno.readFile(ztoc));
      const { cps } = parseZinfoBlob(z.checkpoints);
      const entry = z.toc.find((e) => new TextDecoder().decode(e.name) === "usr/text")!;
      let s = 0;
      while (s + 1 < cps.length && cps[s + 1].out <= entry.uncompressedOffset) s++;
      // Flip one byte inside the first span that holds usr/text.
      const gz = await Deno.readFile(`${dir}/l.tar.gz`);
      const at = Math.floor((cps[s].in + cps[s + 1].in) / 2);
      gz[at] ^= 0x01;
      await Deno.writeFile(`${dir}/flipped.tar.gz`, gz);
      const want = new RegExp(
        `^soci: span ${s} of the layer does not match the zTOC: expected ${z.spanDigests[s]}, ` +
          "got sha256:[0-9a-f]{64}$",
      );
      const before = await listDir(dir);
      for (const extra of [[], ["-o", `${dir}/extracted`]]) {
        const r = await soci(
          ["ztoc", "get-file", "--layer", `${dir}/flipped.tar.gz`, ...extra, ztoc, "usr/text"],
          root,
        );
        assertFails(r, want, `flipped byte ${extra.join(" ")}`);
        assert.equal(r.stdout.length, 0);
      }
      assert.deepEqual(await listDir(dir), before, "no output or temp file");
      // A different compression of the same tar: span 0 already differs.
      const r = await soci([
        "ztoc",
        "get-file",
        "--layer",
        `${dir}/other.tar.gz`,
        ztoc,
        "etc/hosts",
      ], root);
      assertFails(
        r,
        new RegExp(
          `^soci: span 0 of the layer does not match the zTOC: expected ${z.spanDigests[0]}, `,
        ),
        "other layer",
      );
    });
  });
});
