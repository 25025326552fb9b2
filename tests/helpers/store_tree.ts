/**
 * Test helpers for the local store: a recursive listing of a directory
 * (type, mode, size and sha256 of every entry) to compare trees before and
 * after an operation, and sha256 through the `sha256sum` tool.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";

/**
 * One line per entry under `dir` (sorted): `path type mode [size sha256]`.
 * Entries whose name matches `skip` are left out (with their subtree).
 */
export async function snapshotTree(dir: string, skip?: RegExp): Promise<string[]> {
  const out: string[] = [];
  async function walk(rel: string): Promise<void> {
    const abs = join(dir, rel);
    for await (const e of Deno.readDir(abs)) {
      if (skip?.test(e.name)) continue;
      const p = rel ? `${rel}/${e.name}` : e.name;
      const info = await Deno.lstat(join(dir, p));
      const mode = (info.mode! & 0o7777).toString(8);
      if (info.isDirectory) {
        out.push(`${p} dir ${mode}`);
        await walk(p);
      } else if (info.isFile) {
        const bytes = await Deno.readFile(join(dir, p));
        const hash = createHash("sha256").update(bytes).digest("hex");
        out.push(`${p} file ${mode} ${info.size} ${hash}`);
      } else {
        out.push(`${p} other ${mode}`);
      }
    }
  }
  await walk("");
  return out.sort();
}

/** `sha256:<hex>` of a file, computed by coreutils `sha256sum`. */
export async function sha256sum(path: string): Promise<string> {
  const { code, stdout } = await new Deno.Command("sha256sum", { args: [path] }).output();
  if (code !== 0) throw new Error(`sha256sum ${path} failed`);
  return "sha256:" + new TextDecoder().decode(stdout).split(" ")[0];
}

/** `sha256:<hex>` of bytes, computed by coreutils `sha256sum` (via a temp file). */
export async function sha256sumBytes(bytes: Uint8Array): Promise<string> {
  const f = await Deno.makeTempFile();
  try {
    await Deno.writeFile(f, bytes);
    return await sha256sum(f);
  } finally {
    await Deno.remove(f);
  }
}

/** Runs a command and returns its exit code and stdout/stderr bytes. */
export async function run(
  cmd: string,
  args: string[],
): Promise<{ code: number; stdout: Uint8Array; stderr: string }> {
  const o = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  return { code: o.code, stdout: o.stdout, stderr: new TextDecoder().decode(o.stderr) };
}

/**
 * Makes `path` unwritable, also for root: `chattr +i` when running as root
 * (the immutable flag stops root too), else mode 0444 for a file or 0555 for
 * a directory. Returns the function that undoes it; throws when the file
 * system cannot do it (tests that need it are ignored unless
 * {@link canLockPaths}).
 */
export async function lockPath(path: string): Promise<() => Promise<void>> {
  if (Deno.uid() === 0) {
    const r = await run("chattr", ["+i", path]);
    if (r.code !== 0) throw new Error(`chattr +i ${path} failed: ${r.stderr}`);
    return async () => {
      const u = await run("chattr", ["-i", path]);
      if (u.code !== 0) throw new Error(`chattr -i ${path} failed: ${u.stderr}`);
    };
  }
  const info = await Deno.stat(path);
  const mode = info.mode! & 0o7777;
  await Deno.chmod(path, info.isDirectory ? 0o555 : 0o444);
  return async () => await Deno.chmod(path, mode);
}

/** Whether {@link lockPath} works on this machine's temporary directory (probed once). */
export const canLockPaths: boolean = await (async () => {
  const probe = await Deno.makeTempDir({ prefix: "soci-lock-probe-" });
  try {
    const unlock = await lockPath(probe);
    await unlock();
    return true;
  } catch {
    return false;
  } finally {
    await Deno.remove(probe, { recursive: true }).catch(() => {});
  }
})();
