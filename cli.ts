/**
 * The `soci` command-line entry point: parses the arguments, dispatches to the
 * command tree of `lib/commands/mod.ts`, and turns errors into one-line
 * `soci: <message>` reports with exit status 1.
 *
 * ```sh
 * deno run -A cli.ts --help
 * deno run -A cli.ts index ls --root ./state
 * ```
 *
 * @module
 */
// First: starts the scan workers a scanning command will want (see the module).
import "./lib/commands/early_start.ts";
import denoConfig from "./deno.json" with { type: "json" };
import { SociError, UsageError } from "./lib/errors.ts";
import { CommandLineError, parseCommandLine, type ParsedCommandLine } from "./lib/commands/args.ts";
import { helpText } from "./lib/commands/help_text.ts";
import { type Command, createContext } from "./lib/commands/command.ts";
import { commands as defaultCommands } from "./lib/commands/mod.ts";

export type {
  Command,
  CommandContext,
  FlagSpec,
  FlagType,
  FlagValue,
} from "./lib/commands/command.ts";
export type { LiveRegion, Output } from "./lib/ui/output.ts";
import { formatDuration } from "./lib/go/duration.ts";
import { ConsoleOutput, type Output } from "./lib/ui/output.ts";
import { osErrorText } from "./lib/ui/os_error.ts";
import { grantedEnv } from "./lib/util/env.ts";
import { globalFlags } from "./lib/commands/global_flags.ts";

export { globalFlags };

/** How long an aborted action (`--timeout`) may take to stop cleanly. */
const GRACE_MS = 5000;

/** The package version, from `deno.json`. */
export const VERSION: string = denoConfig.version;

/** The source revision; `<unknown>` unless stamped at release time. */
export const REVISION = "<unknown>";

/** Options of {@link main}, mainly for tests. */
export interface MainOptions {
  /** Command tree (default: `commands` of `lib/commands/mod.ts`). */
  commands?: Command[];
  /** Output (default: the console; `quiet` follows a command's `--quiet` flag). */
  out?: Output;
  /** Environment lookup (default: `Deno.env` where permission is granted, never prompting). */
  env?: (name: string) => string | undefined;
  /** Listen for Ctrl-C (SIGINT), SIGTERM and SIGHUP to stop the command cleanly (default true). */
  signals?: boolean;
}

/** The signals that stop a command cleanly, with their exit status and message. */
const STOP_SIGNALS = {
  SIGINT: { status: 130, message: "interrupted" },
  SIGTERM: { status: 143, message: "terminated" },
  // (a closed terminal or ssh session: the same clean stop, not a half-written root)
  SIGHUP: { status: 129, message: "hangup" },
} as const;
type StopSignal = keyof typeof STOP_SIGNALS;

/** Adds the listeners; false where signals cannot be listened for. */
function listenForStops(handlers: Record<StopSignal, () => void>): boolean {
  const added: StopSignal[] = [];
  try {
    for (const name of Object.keys(handlers) as StopSignal[]) {
      Deno.addSignalListener(name, handlers[name]);
      added.push(name);
    }
    return true;
  } catch {
    for (const name of added) Deno.removeSignalListener(name, handlers[name]);
    return false;
  }
}

function isBrokenPipe(e: unknown): boolean {
  for (let c = e, i = 0; c && i < 10; c = (c as Error).cause, i++) {
    if (c instanceof Deno.errors.BrokenPipe) return true;
    if ((c as { code?: string }).code === "EPIPE") return true;
  }
  return false;
}

/** An error's message (`Output.warn` keeps it on one line). */
function messageOf(e: unknown): string {
  return osErrorText(e instanceof Error ? (e.message || e.name) : String(e));
}

function debugText(e: unknown): string {
  let text = "";
  for (let c = e, i = 0; c !== undefined && i < 10; c = (c as Error).cause, i++) {
    const part = c instanceof Error ? (c.stack ?? `${c.name}: ${c.message}`) : String(c);
    text += (i === 0 ? "" : "Caused by: ") + part + "\n";
    if (!(c instanceof Error)) break;
  }
  return text;
}

/**
 * Runs the CLI with `args` (without the program name) and returns the exit
 * status: 0 on success, 1 on any error (printed as `soci: <message>`, with a
 * stack trace only under `--debug`), 141 when stdout was closed early
 * (`soci … | head`), silently.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { main } from "./cli.ts";
 * const status = await main(["--version"]); // prints "soci version <version> <unknown>"
 * assert.ok(status === 0);
 * ```
 */
export async function main(args: string[], options: MainOptions = {}): Promise<number> {
  const env = options.env ?? grantedEnv;
  const root: Command = {
    name: "soci",
    usage: "build, inspect and push SOCI indexes for container images",
    flags: globalFlags,
    subcommands: options.commands ?? defaultCommands,
  };
  const errOut = options.out ?? new ConsoleOutput();
  let debug = args.includes("--debug") || args.includes("-debug");
  let path: readonly Command[] = [root];
  // Usage errors: one line naming the help to read (upstream prints the whole help).
  const usageFailure = (e: UsageError, at: readonly Command[]) => {
    errOut.warn(`soci: ${messageOf(e)} (see "${at.map((c) => c.name).join(" ")} --help")`);
    return 1;
  };
  try {
    let parsed;
    try {
      parsed = parseCommandLine(root, args, { env });
    } catch (e) {
      if (e instanceof CommandLineError) return usageFailure(e, e.path);
      throw e;
    }
    path = parsed.path;
    debug = parsed.flags.debug === true;
    if (parsed.flags.version === true) {
      errOut.line(`soci version ${VERSION} ${REVISION}`);
      return 0;
    }
    const cmd = path[path.length - 1];
    if (parsed.help || !cmd.action) {
      await errOut.write(new TextEncoder().encode(helpText(path, { version: VERSION })));
      return 0;
    }
    const out = !options.out && parsed.flags.quiet === true
      ? new ConsoleOutput({ quiet: true })
      : errOut;
    return await runAction(cmd, parsed, out, env, options.signals !== false);
  } catch (e) {
    if (isBrokenPipe(e)) return 141;
    try {
      if (debug) errOut.writeErr(debugText(e));
      if (e instanceof UsageError) return usageFailure(e, path);
      errOut.warn(`soci: ${messageOf(e)}`);
    } catch {
      // stderr is gone too: nothing left to report to.
    }
    return 1;
  }
}

/**
 * Runs the selected command's action with its context: the root resolved
 * (and created when the command needs it), `--timeout`, Ctrl-C, SIGTERM and SIGHUP
 * turned into one abort signal. Returns the exit status (130 after Ctrl-C, 143
 * after SIGTERM, 129 after SIGHUP); other failures are thrown.
 */
async function runAction(
  cmd: Command,
  parsed: ParsedCommandLine,
  out: Output,
  env: (name: string) => string | undefined,
  signals: boolean,
): Promise<number> {
  const flags = parsed.flags;
  const stop = new Stopper(flags.timeout as bigint, signals);
  const ctx = createContext({
    args: parsed.args,
    flags,
    set: parsed.set,
    out,
    signal: stop.signal,
    path: parsed.path.map((c) => c.name),
  });
  try {
    // (loaded here, not at start-up: it needs node:path)
    const { ensureRoot, resolveRoot } = await import("./lib/store/root.ts");
    const needsRoot = typeof cmd.needsRoot === "function"
      ? cmd.needsRoot(ctx)
      : (cmd.needsRoot ?? true);
    // Every action sees the resolved root; only those that need it create
    // it (or fail here when there is none to be had).
    if (needsRoot) {
      flags.root = resolveRoot(flags.root as string || undefined, env);
      await ensureRoot(flags.root);
    } else {
      try {
        flags.root = resolveRoot(flags.root as string || undefined, env);
      } catch {
        // left empty: a command that reads the store reports it then
      }
    }
    const result = await stop.race(Promise.resolve(cmd.action!(ctx)));
    return typeof result === "number" ? result : 0;
  } catch (e) {
    if (stop.stoppedBy !== undefined) {
      const { status, message } = STOP_SIGNALS[stop.stoppedBy];
      out.warn(`soci: ${message}`);
      return status;
    }
    throw e;
  } finally {
    stop.dispose();
  }
}

/**
 * `--timeout`, Ctrl-C, SIGTERM and SIGHUP as one abort signal. On abort the action stops at
 * its next check and cleans up (a store transaction is abandoned, never cut
 * halfway); {@linkcode Stopper.race} waits for that for up to `GRACE_MS`
 * rather than exiting under it. A second signal exits at once.
 */
class Stopper {
  readonly #controller = new AbortController();
  #timer?: ReturnType<typeof setTimeout>;
  #grace?: ReturnType<typeof setTimeout>;
  #listening = false;
  /** The signal that stopped the command (Ctrl-C, SIGTERM, SIGHUP), once one came. */
  stoppedBy: StopSignal | undefined;
  readonly #handlers: Record<StopSignal, () => void> = {
    SIGINT: () => this.#onSignal("SIGINT"),
    SIGTERM: () => this.#onSignal("SIGTERM"),
    SIGHUP: () => this.#onSignal("SIGHUP"),
  };

  constructor(timeout: bigint, signals: boolean) {
    // (setTimeout cannot wait longer than 2^31-1 ms, about 24.8 days: that is no limit)
    if (timeout > 0n && timeout <= 2_147_483_647n * 1_000_000n) {
      const ms = Number((timeout + 999_999n) / 1_000_000n);
      const reason = new SociError(`timed out after ${formatDuration(timeout)} (--timeout)`);
      this.#timer = setTimeout(() => this.#controller.abort(reason), ms);
    }
    if (signals) this.#listening = listenForStops(this.#handlers);
  }

  /** Aborted on timeout, Ctrl-C, SIGTERM or SIGHUP. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  #onSignal(name: StopSignal): void {
    // A second signal: stop now.
    if (this.stoppedBy !== undefined) Deno.exit(STOP_SIGNALS[this.stoppedBy].status);
    this.stoppedBy = name;
    this.#controller.abort(new SociError(STOP_SIGNALS[name].message));
  }

  /** `run`'s result, or after an abort its rejection within the grace period. */
  async race<T>(run: Promise<T>): Promise<T> {
    run.catch(() => {}); // a failure after the grace period is of no interest
    const signal = this.signal;
    const result = await Promise.race([
      run,
      new Promise<never>((_, reject) => {
        const late = () => {
          this.#grace = setTimeout(() => reject(signal.reason), GRACE_MS);
        };
        if (signal.aborted) late();
        else signal.addEventListener("abort", late, { once: true });
      }),
    ]);
    if (this.stoppedBy !== undefined) throw signal.reason;
    return result;
  }

  /** Stops the timers and the signal listener. */
  dispose(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#grace !== undefined) clearTimeout(this.#grace);
    if (this.#listening) {
      for (const name of Object.keys(this.#handlers) as StopSignal[]) {
        Deno.removeSignalListener(name, this.#handlers[name]);
      }
    }
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
