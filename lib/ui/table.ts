/**
 * Go's `text/tabwriter` (elastic tabstops), reproduced exactly for the
 * settings upstream `soci` uses (C§8.1: min width 8, tab width 8, padding 4,
 * pad char space, no flags).
 *
 * Text is cut into cells by `\t` (or `\v`); a line ends at `\n` (or `\f`,
 * which also ends every column block). Only tab-terminated cells belong to a
 * column; the last cell of a line is written as is. A *column block* is a run
 * of consecutive lines that all have a cell in that column; its width is
 * `max(minWidth, widest cell + padding)` counted in Unicode code points, and
 * blocks nest column by column, so a column's width can change in the middle
 * of a table when a shorter line interrupts it.
 *
 * Cells given to {@link formatTable} are shown with {@link escapeCell}:
 * text from layers (file names) can hold newlines, tabs and terminal escape
 * sequences, which are written escaped, never raw.
 *
 * @module
 */
import { displayName, escapeCell } from "../go/quote.ts";

export { displayName, escapeCell };

/** Settings of a {@link TabWriter}; the defaults are upstream soci's. */
export interface TabWriterOptions {
  /** Minimal cell width including padding (default 8). */
  minWidth?: number;
  /** Width of a tab when padding with tabs (default 8). */
  tabWidth?: number;
  /** Added to the widest cell of a column (default 4). */
  padding?: number;
  /** Padding character: `" "` (default) or `"\t"`. */
  padChar?: string;
}

interface Cell {
  text: string;
  /** Width in code points (Go: runes). */
  width: number;
}

type Line = Cell[];

function runeCount(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/**
 * A Go-compatible tabwriter: `write` text with `\t`-terminated cells, then
 * `flush` to get the aligned text (everything written since the last flush).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TabWriter } from "./table.ts";
 * const w = new TabWriter();
 * w.write("DIGEST\tSIZE\t\n");
 * w.write("sha256:ab\t12\t\n");
 * assert.ok(w.flush() ===
 *   "DIGEST       SIZE    \n" +
 *   "sha256:ab    12      \n");
 * ```
 */
export class TabWriter {
  readonly #minWidth: number;
  readonly #tabWidth: number;
  readonly #padding: number;
  readonly #padChar: string;
  /** Completed lines of the current segment. */
  #lines: Line[] = [[]];
  /** Text of the cell being built. */
  #cell = "";
  /** Formatted output of segments already closed by `\f`. */
  #done: string[] = [];
  /** Column widths of the enclosing blocks while formatting. */
  #widths: number[] = [];
  #out: string[] = [];

  /** Creates a writer; see {@link TabWriterOptions} for the defaults. */
  constructor(options: TabWriterOptions = {}) {
    this.#minWidth = options.minWidth ?? 8;
    this.#tabWidth = options.tabWidth ?? 8;
    this.#padding = options.padding ?? 4;
    this.#padChar = options.padChar ?? " ";
    if (this.#padChar.length !== 1) throw new RangeError("padChar must be one character");
  }

  /** Adds text; cells end at `\t`/`\v`, lines at `\n`/`\f`. */
  write(text: string): void {
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const ch = text.charCodeAt(i);
      // \t \v \n \f
      if (ch === 9 || ch === 11 || ch === 10 || ch === 12) {
        this.#cell += text.slice(start, i);
        start = i + 1;
        this.#terminateCell();
        if (ch === 10 || ch === 12) {
          this.#lines.push([]);
          if (ch === 12) this.#flushSegment();
        }
      }
    }
    this.#cell += text.slice(start);
  }

  /** Formats everything written so far and returns it; the writer is then empty. */
  flush(): string {
    if (this.#cell.length > 0) this.#terminateCell();
    this.#flushSegment();
    const out = this.#done.join("");
    this.#done = [];
    return out;
  }

  #terminateCell(): void {
    const cell = this.#cell;
    this.#lines[this.#lines.length - 1].push({ text: cell, width: runeCount(cell) });
    this.#cell = "";
  }

  #flushSegment(): void {
    this.#out = [];
    this.#widths = [];
    this.#format(0, this.#lines.length);
    this.#done.push(this.#out.join(""));
    this.#out = [];
    this.#lines = [[]];
  }

  /** Go's `format`: find column blocks at depth `widths.length` within [line0, line1). */
  #format(line0: number, line1: number): void {
    const column = this.#widths.length;
    for (let cur = line0; cur < line1; cur++) {
      if (column >= this.#lines[cur].length - 1) continue;
      // A cell exists in this column: lines before it are written at this depth.
      this.#writeLines(line0, cur);
      line0 = cur;
      let width = this.#minWidth;
      for (; cur < line1; cur++) {
        const line = this.#lines[cur];
        if (column >= line.length - 1) break;
        const w = line[column].width + this.#padding;
        if (w > width) width = w;
      }
      this.#widths.push(width);
      this.#format(line0, cur);
      this.#widths.pop();
      line0 = cur;
    }
    this.#writeLines(line0, line1);
  }

  #writeLines(line0: number, line1: number): void {
    const last = this.#lines.length - 1;
    for (let i = line0; i < line1; i++) {
      const line = this.#lines[i];
      for (let j = 0; j < line.length; j++) {
        const c = line[j];
        this.#out.push(c.text);
        if (j < this.#widths.length) this.#pad(c.width, this.#widths[j]);
      }
      // The final, unterminated line gets no newline.
      if (i !== last) this.#out.push("\n");
    }
  }

  #pad(textWidth: number, cellWidth: number): void {
    if (this.#padChar === "\t") {
      if (this.#tabWidth === 0) return;
      const cw = Math.ceil(cellWidth / this.#tabWidth) * this.#tabWidth;
      this.#out.push("\t".repeat(Math.ceil((cw - textWidth) / this.#tabWidth)));
      return;
    }
    this.#out.push(this.#padChar.repeat(cellWidth - textWidth));
  }
}

/**
 * Formats tabwriter text in one call (see {@link TabWriter}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tabwrite } from "./table.ts";
 * assert.ok(tabwrite("a\tb\t\n") === "a       b       \n");
 * ```
 */
export function tabwrite(text: string, options?: TabWriterOptions): string {
  const w = new TabWriter(options);
  w.write(text);
  return w.flush();
}

/**
 * Formats rows the way upstream's list commands print them: every cell
 * followed by `\t`, every row by `\n`, through the tabwriter; so every cell,
 * the last included, is padded and lines carry trailing spaces. Cells are
 * shown with {@link escapeCell}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatTable } from "./table.ts";
 * assert.ok(formatTable([["DIGEST", "SIZE"], ["sha256:0123456789", "5"]]) ===
 *   "DIGEST               SIZE    \n" +
 *   "sha256:0123456789    5       \n");
 * ```
 */
export function formatTable(
  rows: readonly (readonly string[])[],
  options?: TabWriterOptions,
): string {
  const w = new TabWriter(options);
  for (const row of rows) w.write(row.map((c) => escapeCell(c) + "\t").join("") + "\n");
  return w.flush();
}
