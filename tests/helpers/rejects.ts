/**
 * The error a promise rejects with, for tests that look at it closely
 * (`assert.rejects` only matches it).
 *
 * @module
 */

/** Awaits `p` and returns what it rejected with; throws when it fulfils. */
export async function rejects(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a rejection");
}
