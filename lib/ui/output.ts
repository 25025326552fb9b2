/**
 * Where commands print: informational lines and tables to stdout, warnings to
 * stderr, `--json` documents in Go's `MarshalIndent` layout, raw bytes
 * (`ztoc get-file`) exactly as given. A live display (progress bars) can be
 * attached; lines printed while it is shown appear above it.
 *
 * @module
 */
import { marshalIndentGo } from "../go/json_indent.ts";
import { escapeUnprintable } from "../go/quote.ts";

/** A block of lines redrawn in place at the bottom of the terminal (see `progress.ts`). */
export interface LiveRegion {
  /** Erases the region from the terminal (it is redrawn later). */
  clear(): void;
  /** Draws the region again after other text was printed. */
  redraw(): void;
}

/** The output channel every command writes to. */
export interface Output {
  /** stdout is a terminal. */
  readonly isTty: boolean;
  /** stderr is a terminal (progress displays are drawn there). */
  readonly errIsTty: boolean;
  /** The user asked for quiet output (`-q`): no progress, minimal text. */
  readonly quiet: boolean;
  /** Prints `text` and a newline to stdout. */
  line(text?: string): void;
  /** Prints each text and a newline to stdout, as {@link line} would, in few large writes. */
  printLines(texts: readonly string[]): void;
  /**
   * Prints `text` and a newline to stderr, what a terminal would not show
   * as text escaped (see `escapeUnprintable`): a warning or an error is one
   * line, whatever names it carries.
   */
  warn(text: string): void;
  /** Prints `value` as Go's `json.MarshalIndent(v, "", "  ")` plus a newline to stdout. */
  json(value: unknown): void;
  /** Writes bytes to stdout exactly as given; await it before printing anything else. */
  write(bytes: Uint8Array): Promise<void>;
  /** Writes raw text to stderr (no newline added); used by live displays. */
  writeErr(text: string): void;
  /** Attaches (or with `undefined` detaches) the live region kept below printed lines. */
  setLive(region: LiveRegion | undefined): void;
}

const encoder = new TextEncoder();

/** Writes all of `bytes` to a sync writer (handles short writes). */
function writeAllSync(w: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += w.writeSync(bytes.subarray(off));
}

/** Options of {@link ConsoleOutput}. */
export interface ConsoleOutputOptions {
  /** Quiet mode (default false). */
  quiet?: boolean;
}

/**
 * The real terminal/pipe output, on `Deno.stdout` and `Deno.stderr`. Writes
 * are synchronous, so output order is the call order; a closed stdout pipe
 * raises `Deno.errors.BrokenPipe`, which the CLI turns into a quiet exit.
 *
 * @example
 * ```ts
 * import { ConsoleOutput } from "./output.ts";
 * const out = new ConsoleOutput();
 * out.line("hello");
 * ```
 */
export class ConsoleOutput implements Output {
  readonly isTty: boolean;
  readonly errIsTty: boolean;
  readonly quiet: boolean;
  #live: LiveRegion | undefined;

  /** Creates the console output; TTY state is read from the process' stdout/stderr. */
  constructor(options: ConsoleOutputOptions = {}) {
    this.isTty = Deno.stdout.isTerminal();
    this.errIsTty = Deno.stderr.isTerminal();
    this.quiet = options.quiet ?? false;
  }

  #around(fn: () => void): void {
    const live = this.#live;
    if (live === undefined) return fn();
    live.clear();
    try {
      fn();
    } finally {
      live.redraw();
    }
  }

  line(text = ""): void {
    this.#around(() => writeAllSync(Deno.stdout, encoder.encode(text + "\n")));
  }

  printLines(texts: readonly string[]): void {
    // One write per ~64 KiB of text: a write per line costs more than the text.
    for (let start = 0; start < texts.length;) {
      let end = start;
      let size = 0;
      while (end < texts.length && size < 65536) size += texts[end++].length + 1;
      const chunk = texts.slice(start, end).join("\n") + "\n";
      this.#around(() => writeAllSync(Deno.stdout, encoder.encode(chunk)));
      start = end;
    }
  }

  warn(text: string): void {
    const line = escapeUnprintable(text);
    this.#around(() => writeAllSync(Deno.stderr, encoder.encode(line + "\n")));
  }

  json(value: unknown): void {
    this.line(marshalIndentGo(value).slice(0, -1));
  }

  async write(bytes: Uint8Array): Promise<void> {
    const live = this.#live;
    live?.clear();
    try {
      let off = 0;
      while (off < bytes.length) off += await Deno.stdout.write(bytes.subarray(off));
    } finally {
      live?.redraw();
    }
  }

  writeErr(text: string): void {
    writeAllSync(Deno.stderr, encoder.encode(text));
  }

  setLive(region: LiveRegion | undefined): void {
    this.#live = region;
  }
}

/** Options of {@link MemoryOutput}. */
export interface MemoryOutputOptions {
  /** Pretend stdout is a terminal (default false). */
  isTty?: boolean;
  /** Pretend stderr is a terminal (default false). */
  errIsTty?: boolean;
  /** Quiet mode (default false). */
  quiet?: boolean;
}

/**
 * A test double that records everything in memory: `stdout`/`stderr` hold
 * the exact text in write order; `lines` and `warnings` hold the texts of
 * `line()`/`printLines()`/`warn()` calls.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryOutput } from "./output.ts";
 * const out = new MemoryOutput();
 * out.line("a");
 * out.json({ b: 1 });
 * assert.ok(out.stdout === 'a\n{\n  "b": 1\n}\n');
 * ```
 */
export class MemoryOutput implements Output {
  readonly isTty: boolean;
  readonly errIsTty: boolean;
  readonly quiet: boolean;
  /** Texts passed to `line()` and `printLines()` (and `json()`, encoded). */
  readonly lines: string[] = [];
  /** Texts passed to `warn()`. */
  readonly warnings: string[] = [];
  /** Raw stdout chunks, in order. */
  readonly chunks: Uint8Array[] = [];
  /** All stderr text, in order (warnings and live-display text). */
  stderr = "";
  #live: LiveRegion | undefined;

  /** Creates an empty recorder. */
  constructor(options: MemoryOutputOptions = {}) {
    this.isTty = options.isTty ?? false;
    this.errIsTty = options.errIsTty ?? false;
    this.quiet = options.quiet ?? false;
  }

  /** All stdout bytes decoded as UTF-8. */
  get stdout(): string {
    const total = this.chunks.reduce((n, c) => n + c.length, 0);
    const all = new Uint8Array(total);
    let off = 0;
    for (const c of this.chunks) {
      all.set(c, off);
      off += c.length;
    }
    return new TextDecoder().decode(all);
  }

  #around(fn: () => void): void {
    this.#live?.clear();
    fn();
    this.#live?.redraw();
  }

  line(text = ""): void {
    this.#around(() => {
      this.lines.push(text);
      this.chunks.push(encoder.encode(text + "\n"));
    });
  }

  printLines(texts: readonly string[]): void {
    for (const t of texts) this.line(t);
  }

  warn(text: string): void {
    const line = escapeUnprintable(text);
    this.#around(() => {
      this.warnings.push(line);
      this.stderr += line + "\n";
    });
  }

  json(value: unknown): void {
    this.line(marshalIndentGo(value).slice(0, -1));
  }

  write(bytes: Uint8Array): Promise<void> {
    this.#around(() => this.chunks.push(bytes.slice()));
    return Promise.resolve();
  }

  writeErr(text: string): void {
    this.stderr += text;
  }

  setLive(region: LiveRegion | undefined): void {
    this.#live = region;
  }
}
