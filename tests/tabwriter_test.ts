// Go text/tabwriter behaviour (C§8.1): expected texts are derived by hand from
// the rules "column width = max(minwidth 8, widest cell in the column block + padding 4)",
// "a column block is a run of consecutive lines that have a cell in that column",
// "the last cell of a line is not in any column". Pad counts below are written out.
import assert from "node:assert/strict";
import { formatTable, tabwrite, TabWriter } from "../lib/ui/table.ts";

/** `text` followed by `n` spaces (n computed by hand in each test). */
const sp = (text: string, n: number) => text + " ".repeat(n);

Deno.test("tabwriter: two columns, every cell tab-terminated, trailing spaces kept", () => {
  // col0: max(8, 10 + 4) = 14; col1: max(8, 4 + 4) = 8; col2: max(8, 31 + 4) = 35
  const got = tabwrite(
    "DIGEST\tSIZE\tIMAGE REF\t\n" +
      "sha256:abc\t1234\tdocker.io/library/alpine:latest\t\n",
  );
  assert.equal(
    got,
    sp("DIGEST", 8) + sp("SIZE", 4) + sp("IMAGE REF", 26) + "\n" +
      sp("sha256:abc", 4) + sp("1234", 4) + sp("docker.io/library/alpine:latest", 4) + "\n",
  );
});

Deno.test("tabwriter: the soci index list table of C§8.1", () => {
  const d1 = "sha256:" + "0".repeat(64); // 71 runes
  const d2 = "sha256:" + "f".repeat(64);
  const media = "application/vnd.oci.image.manifest.v1+json"; // 42 runes
  const got = formatTable([
    ["DIGEST", "SIZE", "IMAGE REF", "PLATFORM", "MEDIA TYPE", "MANIFEST VERSION", "CREATED"],
    [d1, "1234", "docker.io/library/alpine:latest", "linux/amd64", media, "v1", "5s ago"],
    [d2, "987654", "", "linux/arm64/v8", media, "v2", "n/a"],
  ]);
  // widths: 71+4=75, 6+4=10, 31+4=35, 14+4=18, 42+4=46, 16+4=20, 7+4=11
  const expected = [
    sp("DIGEST", 69) + sp("SIZE", 6) + sp("IMAGE REF", 26) + sp("PLATFORM", 10) +
    sp("MEDIA TYPE", 36) + sp("MANIFEST VERSION", 4) + sp("CREATED", 4),
    sp(d1, 4) + sp("1234", 6) + sp("docker.io/library/alpine:latest", 4) + sp("linux/amd64", 7) +
    sp(media, 4) + sp("v1", 18) + sp("5s ago", 5),
    sp(d2, 4) + sp("987654", 4) + sp("", 35) + sp("linux/arm64/v8", 4) + sp(media, 4) +
    sp("v2", 18) + sp("n/a", 8),
  ].join("\n") + "\n";
  assert.equal(got, expected);
});

Deno.test("tabwriter: a line with fewer cells ends the column block", () => {
  // Lines 0-1 form the column-0 block (width 14); line 2 has no tab and ends it;
  // line 3 starts a new block (width 8). Column 1 exists only on lines 0 and 3.
  const got = tabwrite(
    "a\tb\tc\n" +
      "aaaaaaaaaa\tx\n" +
      "b\n" +
      "ccc\tdddddddddddd\te\n",
  );
  assert.equal(
    got,
    sp("a", 13) + sp("b", 7) + "c\n" +
      sp("aaaaaaaaaa", 4) + "x\n" +
      "b\n" +
      sp("ccc", 5) + sp("dddddddddddd", 4) + "e\n",
  );
});

Deno.test("tabwriter: nested blocks, column 1 restarts while column 0 continues", () => {
  // Column 0 spans all four lines (width 8). Column 1: lines 0-1 (width 10+4=14),
  // then line 2 has a single terminated cell, so line 3 starts a new block (width 8).
  // A simplification with one width per column would pad "yy" to 14.
  const got = tabwrite("x\ty\t\n" + "x\tyyyyyyyyyy\t\n" + "x\tz\n" + "x\tyy\t\n");
  assert.equal(
    got,
    sp("x", 7) + sp("y", 13) + "\n" +
      sp("x", 7) + sp("yyyyyyyyyy", 4) + "\n" +
      sp("x", 7) + "z\n" +
      sp("x", 7) + sp("yy", 6) + "\n",
  );
});

Deno.test("tabwriter: widths count runes, not bytes or UTF-16 units", () => {
  // "日本語" = 3 runes (9 bytes), "🐳🐳" = 2 runes (4 UTF-16 units), "abcdéfghi" = 9 runes.
  // col0 = max(8, 9 + 4) = 13; col1 = 8.
  const got = formatTable([["日本語", "x"], ["🐳🐳", "y"], ["abcdéfghi", "z"]]);
  assert.equal(
    got,
    sp("日本語", 10) + sp("x", 7) + "\n" +
      sp("🐳🐳", 11) + sp("y", 7) + "\n" +
      sp("abcdéfghi", 4) + sp("z", 7) + "\n",
  );
});

Deno.test("tabwriter: empty cells, a cell wider than min width by exactly padding", () => {
  // Empty cells still take the min width; "12345678" (8) needs 8 + 4 = 12.
  assert.equal(tabwrite("\t\tx\n"), " ".repeat(16) + "x\n");
  assert.equal(tabwrite("12345678\t\n1\t\n"), sp("12345678", 4) + "\n" + sp("1", 11) + "\n");
  // min width wins for short cells: "abcd" + 4 = 8 exactly.
  assert.equal(tabwrite("abcd\t|\n"), "abcd    |\n");
});

Deno.test("tabwriter: unterminated last line is written without a newline", () => {
  assert.equal(tabwrite("a\tb"), sp("a", 7) + "b");
  assert.equal(tabwrite("abc"), "abc");
  assert.equal(tabwrite(""), "");
});

Deno.test("tabwriter: \\f ends all column blocks (written as \\n)", () => {
  const joined = tabwrite("a\tb\naaaaaaaaaaaa\tc\n");
  assert.equal(joined, sp("a", 15) + "b\n" + sp("aaaaaaaaaaaa", 4) + "c\n");
  const split = tabwrite("a\tb\faaaaaaaaaaaa\tc\n");
  assert.equal(split, sp("a", 7) + "b\n" + sp("aaaaaaaaaaaa", 4) + "c\n");
});

Deno.test("tabwriter: \\v terminates a cell like \\t", () => {
  assert.equal(tabwrite("a\vb\n"), sp("a", 7) + "b\n");
});

Deno.test("tabwriter: incremental writes split anywhere give the same result", () => {
  const text = "NAME\tSIZE\t\nlonger-name\t1\t\nx\t22\t\n";
  const whole = tabwrite(text);
  const w = new TabWriter();
  for (const ch of text) w.write(ch);
  assert.equal(w.flush(), whole);
  // flush empties the writer
  assert.equal(w.flush(), "");
  assert.equal(
    whole,
    sp("NAME", 11) + sp("SIZE", 4) + "\n" + sp("longer-name", 4) + sp("1", 7) + "\n" +
      sp("x", 14) + sp("22", 6) + "\n",
  );
});

Deno.test("tabwriter: tab padding rounds the cell width up to a tab stop", () => {
  // minwidth 0, tabwidth 8, padding 1: width = max(2, 9) + 1 = 10 → 16 with tabs.
  // "ab": 16 - 2 = 14 → 2 tabs; "abcdefghi": 16 - 9 = 7 → 1 tab.
  const got = tabwrite("ab\tc\nabcdefghi\td\n", {
    minWidth: 0,
    tabWidth: 8,
    padding: 1,
    padChar: "\t",
  });
  assert.equal(got, "ab\t\tc\nabcdefghi\td\n");
});

Deno.test("tabwriter: other settings (padding 2, min width 0)", () => {
  assert.equal(
    tabwrite("a\tbb\t\nccc\td\t\n", { minWidth: 0, padding: 2 }),
    sp("a", 4) + sp("bb", 2) + "\n" + sp("ccc", 2) + sp("d", 3) + "\n",
  );
});
