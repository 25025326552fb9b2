/**
 * A live progress display for several concurrent tasks (one line per layer:
 * short digest, bytes done / total, percentage, rate), redrawn in place on
 * stderr with ANSI escapes at most ~10 times a second. It draws nothing when
 * stderr is not a terminal or the output is quiet, so piped and CI output
 * stay clean. Lines printed through the same {@link Output} while the display
 * is shown appear above it.
 *
 * @module
 */
import { formatBytes } from "./bytes.ts";
import type { LiveRegion, Output } from "./output.ts";

/** Options of {@link Progress}. */
export interface ProgressOptions {
  /** Minimal time between two redraws, in ms (default 100). */
  intervalMs?: number;
  /** Force the display on or off (default: stderr is a terminal and not quiet). */
  enabled?: boolean;
  /** Terminal size override (default: `Deno.consoleSize()` of stderr, else 80x24). */
  size?: { columns: number; rows: number };
  /** Clock in ms, for tests (default `performance.now`). */
  now?: () => number;
}

/**
 * The text form of a digest for narrow displays: `sha256:` and the first 12
 * hex digits; other strings are returned unchanged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { shortDigest } from "./progress.ts";
 * assert.ok(shortDigest("sha256:" + "ab".repeat(32)) === "sha256:abababababab");
 * ```
 */
export function shortDigest(digest: string): string {
  const m = /^([a-z0-9]+):([0-9a-f]{12})[0-9a-f]*$/.exec(digest);
  return m ? `${m[1]}:${m[2]}` : digest;
}

/** One task of a {@link Progress} display (usually one layer). */
export class ProgressTask {
  /** What the line shows first (a short digest). */
  readonly label: string;
  /** Bytes (or units) done so far. */
  done = 0;
  /** Expected total, when known. */
  total: number | undefined;
  /** Final state: `undefined` while running, else the text shown instead of the rate. */
  status: string | undefined;
  /** When the task was added (ms, the display's clock). */
  readonly started: number;
  /** When the task ended (ms), if it has. */
  ended: number | undefined;
  readonly #owner: Progress;

  /** Use {@link Progress.task} instead. */
  constructor(owner: Progress, label: string, total: number | undefined, started: number) {
    this.#owner = owner;
    this.label = label;
    this.total = total;
    this.started = started;
  }

  /** Adds `n` to the amount done. */
  advance(n: number): void {
    this.done += n;
    this.#owner.changed();
  }

  /** Sets the amount done. */
  set(done: number): void {
    this.done = done;
    this.#owner.changed();
  }

  /** Marks the task finished; `status` replaces the rate (default `done`). */
  complete(status = "done"): void {
    if (this.total !== undefined && this.done < this.total && status === "done") {
      this.done = this.total;
    }
    this.status = status;
    this.ended = this.#owner.clock();
    this.#owner.changed();
  }
}

/**
 * A multi-line progress display on stderr. Create it, add one task per unit
 * of work, update the tasks, then call {@link Progress.finish}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Progress } from "./progress.ts";
 * import { MemoryOutput } from "./output.ts";
 * const out = new MemoryOutput(); // stderr is not a terminal: nothing is drawn
 * const p = new Progress(out);
 * const t = p.task("sha256:" + "0".repeat(64), 2048);
 * t.advance(1024);
 * t.complete();
 * p.finish();
 * assert.ok(out.stderr === "");
 * ```
 */
export class Progress implements LiveRegion {
  /** Whether anything is drawn at all. */
  readonly enabled: boolean;
  readonly #out: Output;
  readonly #interval: number;
  readonly #size: { columns: number; rows: number } | undefined;
  /** The display's clock (ms). */
  readonly clock: () => number;
  readonly #tasks: ProgressTask[] = [];
  #drawn = 0;
  #lastDraw = -Infinity;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #finished = false;

  /** Creates a display on `out`'s stderr; it is inert when not {@link Progress.enabled}. */
  constructor(out: Output, options: ProgressOptions = {}) {
    this.#out = out;
    this.#interval = options.intervalMs ?? 100;
    this.#size = options.size;
    this.clock = options.now ?? (() => performance.now());
    this.enabled = options.enabled ?? (out.errIsTty && !out.quiet);
    if (this.enabled) out.setLive(this);
  }

  /** Adds a task; `label` is shortened with {@link shortDigest}. */
  task(label: string, total?: number): ProgressTask {
    const t = new ProgressTask(this, shortDigest(label), total, this.clock());
    this.#tasks.push(t);
    this.changed();
    return t;
  }

  /** Called by tasks when they change: schedules a redraw (throttled). */
  changed(): void {
    if (!this.enabled || this.#finished || this.#timer !== undefined) return;
    const wait = Math.max(0, this.#lastDraw + this.#interval - this.clock());
    const timer = setTimeout(() => {
      this.#timer = undefined;
      this.#draw();
    }, wait);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  /** {@link LiveRegion}: erases the drawn lines. */
  clear(): void {
    if (!this.enabled || this.#drawn === 0) return;
    this.#out.writeErr(this.#eraseSequence());
    this.#drawn = 0;
  }

  /** {@link LiveRegion}: schedules drawing the display again. */
  redraw(): void {
    this.changed();
  }

  /**
   * Stops the display: the final state of every task is printed once (or,
   * with `keep: false`, the display is erased) and the output is detached.
   */
  finish(options: { keep?: boolean } = {}): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.enabled) return;
    this.#out.setLive(undefined);
    let text = this.#drawn > 0 ? this.#eraseSequence() : "";
    this.#drawn = 0;
    if (options.keep ?? true) {
      const { columns } = this.#terminalSize();
      for (const l of this.#lines(this.#tasks, this.clock(), columns)) text += l + "\n";
    }
    if (text !== "") this.#out.writeErr(text);
  }

  #eraseSequence(): string {
    // Up to the first drawn line, column 1, then clear to the end of the screen.
    return `\x1b[${this.#drawn}A\r\x1b[J`;
  }

  #terminalSize(): { columns: number; rows: number } {
    if (this.#size) return this.#size;
    let size = { columns: 0, rows: 0 };
    try {
      size = Deno.consoleSize();
    } catch {
      // not a terminal after all: use the defaults
    }
    // A pseudo-terminal may report 0x0 (e.g. under script(1)).
    return { columns: size.columns || 80, rows: size.rows || 24 };
  }

  #fit(line: string, columns: number): string {
    const chars = [...line];
    // Keep one column free so the terminal never wraps the line.
    return chars.length < columns ? line : chars.slice(0, Math.max(0, columns - 1)).join("");
  }

  /** The fields of a task's line: label, amount, percentage, rate or status. */
  #fields(t: ProgressTask, now: number): [string, string, string, string] {
    let amount = formatBytes(t.done);
    let pct = "";
    if (t.total !== undefined) {
      amount += " / " + formatBytes(t.total);
      const p = t.total > 0 ? Math.floor((t.done * 100) / t.total) : 100;
      pct = `${Math.min(p, 100)}%`;
    }
    let tail: string;
    if (t.status !== undefined) {
      tail = t.status;
    } else {
      const secs = (now - t.started) / 1000;
      tail = secs > 0 ? formatBytes(t.done / secs) + "/s" : "";
    }
    return [t.label, amount, pct, tail];
  }

  /** Lines for `tasks`, columns aligned over all tasks (so lines do not jump around). */
  #lines(tasks: readonly ProgressTask[], now: number, columns: number): string[] {
    const all = this.#tasks.map((t) => this.#fields(t, now));
    const width = [0, 0, 0];
    for (const f of all) {
      for (let i = 0; i < 3; i++) width[i] = Math.max(width[i], [...f[i]].length);
    }
    const pad = (s: string, w: number) => s + " ".repeat(w - [...s].length);
    return tasks.map((t) => {
      const [label, amount, pct, tail] = all[this.#tasks.indexOf(t)];
      const parts = [pad(label, width[0]), pad(amount, width[1])];
      if (width[2] > 0) parts.push(pct.padStart(Math.max(4, width[2])));
      if (tail !== "") parts.push(tail);
      return this.#fit(parts.join("  ").trimEnd(), columns);
    });
  }

  #draw(): void {
    if (!this.enabled || this.#finished) return;
    const now = this.clock();
    this.#lastDraw = now;
    const { columns, rows } = this.#terminalSize();
    // Never taller than the screen, or the cursor cannot get back up.
    const max = Math.max(1, rows - 2);
    let shown: ProgressTask[] = this.#tasks;
    let summary: string | undefined;
    if (shown.length > max) {
      const running = this.#tasks.filter((t) => t.status === undefined);
      shown = running.slice(0, max - 1);
      const rest = this.#tasks.length - shown.length;
      const finished = this.#tasks.length - running.length;
      summary = `… ${rest} more (${finished} finished)`;
    }
    let text = this.#drawn > 0 ? this.#eraseSequence() : "";
    const lines = this.#lines(shown, now, columns);
    if (summary !== undefined) lines.push(this.#fit(summary, columns));
    for (const l of lines) text += l + "\n";
    this.#out.writeErr(text);
    this.#drawn = lines.length;
  }
}
