/**
 * Keeping a message on one line of a terminal: names that come from an image
 * (tar names, link targets) or from the command line may hold newlines or
 * escape sequences, and an error message must neither span lines nor drive
 * the terminal.
 *
 * @module
 */

/** Control characters: C0, DEL, C1, and the Unicode line and paragraph separators. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

const NAMED: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/**
 * `text` with every control character written as an escape (`\n`, `\r`,
 * `\t`, else `\xNN` or `\uNNNN`), so that it prints as one line and sends
 * nothing to the terminal but text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { escapeControls } from "./escape_controls.ts";
 * assert.equal(escapeControls("a\nb\x1b[2Jc"), "a\\nb\\x1b[2Jc");
 * assert.equal(escapeControls("usr/bin/ü"), "usr/bin/ü");
 * ```
 */
export function escapeControls(text: string): string {
  return text.replace(CONTROL, (c) => {
    const named = NAMED[c];
    if (named !== undefined) return named;
    const code = c.charCodeAt(0);
    return code < 0x100
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}
