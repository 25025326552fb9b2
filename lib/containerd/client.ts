/**
 * A small gRPC client for containerd over its unix socket
 * (`npm:@grpc/grpc-js`), carrying the namespace (and lease) metadata on
 * every call and turning gRPC failures into one-line errors of
 * `lib/errors.ts`.
 *
 * One {@link ContainerdClient} owns one HTTP/2 channel; `withNamespace()`
 * and `withLease()` give views that share it. The channel is opened on the
 * first call and closed by `close()` (a client never keeps the process
 * alive once closed). Opening it asks containerd's version with a deadline
 * ({@link CONNECT_TIMEOUT_MS}), so a socket that is not containerd's gRPC
 * socket fails in bounded time (`cannot connect to containerd at SOCK: no
 * answer in 10 s (is it containerd's gRPC socket?)`); the channel is then
 * closed, and later calls fail the same way at once. grpc-js never prints
 * to stdout; its own log lines are dropped unless `debug` is set (then they
 * go to stderr).
 *
 * **Deno permissions** (measured with Deno 2.9.6): talking to the socket
 * needs all three of `--allow-read=SOCK`, `--allow-write=SOCK` and
 * `--allow-net=unix:SOCK` (for `/run/containerd/containerd.sock`:
 * `--allow-read=/run/containerd/containerd.sock
 * --allow-write=/run/containerd/containerd.sock
 * --allow-net=unix:/run/containerd/containerd.sock`). Importing grpc-js
 * reads environment variables, so `--allow-env=GRPC_*` is needed too (or
 * exactly `GRPC_NODE_VERBOSITY, GRPC_VERBOSITY, GRPC_NODE_TRACE,
 * GRPC_TRACE, GRPC_NODE_USE_ALTERNATIVE_RESOLVER,
 * GRPC_NODE_DEBUG_SEND_ERROR_DETAILS,
 * GRPC_EXPERIMENTAL_ENABLE_OUTLIER_DETECTION, GRPC_SSL_CIPHER_SUITES,
 * GRPC_DEFAULT_SSL_ROOTS_FILE_PATH`). No proxy variable is read for a unix
 * socket. Nothing else (no `--allow-sys`, no `--allow-ffi`).
 *
 * ```ts ignore
 * import { ContainerdClient } from "./client.ts";
 * const client = new ContainerdClient({ address: "/run/containerd/containerd.sock" });
 * try {
 *   console.error((await client.version()).version);
 * } finally {
 *   client.close();
 * }
 * ```
 *
 * @module
 */
import type * as grpc from "npm:@grpc/grpc-js@1.14.7";
import { BadInputError, NotFoundError, SociError, UnsupportedError } from "../errors.ts";
import { grpcMethod, type SERVICES } from "./descriptor.ts";

/** containerd's default socket (upstream `--address`, env `CONTAINERD_ADDRESS`). */
export const DEFAULT_ADDRESS = "/run/containerd/containerd.sock";
/** containerd's default namespace (upstream `--namespace`, env `CONTAINERD_NAMESPACE`). */
export const DEFAULT_NAMESPACE = "default";
/** The gRPC metadata key that selects the namespace of a call. */
export const NAMESPACE_HEADER = "containerd-namespace";
/** The gRPC metadata key that puts the writes of a call inside a lease. */
export const LEASE_HEADER = "containerd-lease";

/** gRPC status codes this client tells apart. */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  UNAVAILABLE: 14,
} as const;

type GrpcJs = typeof grpc;
let grpcJs: Promise<GrpcJs> | undefined;

/**
 * grpc-js, loaded on the first connection (not at import: modules that
 * merely import this one need no `--allow-env=GRPC_*` and pay no load time).
 */
function loadGrpc(): Promise<GrpcJs> {
  grpcJs ??= (import("npm:@grpc/grpc-js@1.14.7") as Promise<GrpcJs>).catch((e) => {
    grpcJs = undefined; // let a later call (with more permissions) try again
    if (e instanceof Deno.errors.NotCapable && /env access/.test(e.message)) {
      throw new SociError(
        "talking to containerd needs --allow-env=GRPC_* (grpc-js reads its settings from " +
          "GRPC_* variables)",
        { cause: e },
      );
    }
    throw e;
  });
  return grpcJs;
}

/**
 * How long the first call of a new connection waits for containerd's
 * answer, in milliseconds. Before any other call, the connection asks
 * containerd's version with this deadline, so that a socket that accepts
 * and never answers (containerd's ttrpc socket, another program's socket)
 * fails in bounded time instead of hanging. Later calls get no such
 * deadline (a long content read is never cut).
 */
export const CONNECT_TIMEOUT_MS = 10_000;

/** Channel options: large receive limit, a wide flow-control window for fast reads, no proxy. */
const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  "grpc.max_receive_message_length": 16 << 20,
  "grpc-node.flow_control_window": 16 << 20,
  "grpc.enable_http_proxy": 0,
};

/**
 * A failure reported by containerd that is not "not found" or "bad
 * argument" (those are `NotFoundError` and `BadInputError`), with the gRPC
 * status code.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ContainerdError, GrpcStatus } from "./client.ts";
 * const e = new ContainerdError("containerd: content sha256:ab: already exists", GrpcStatus.ALREADY_EXISTS);
 * assert.equal(e.kind, "containerd");
 * assert.equal(e.code, 6);
 * ```
 */
export class ContainerdError extends SociError {
  /** Always `containerd`. */
  override readonly kind = "containerd";
  /** The gRPC status code. */
  readonly code: number;
  /** An error with the gRPC status `code`; `options.cause` keeps the grpc-js error. */
  constructor(message: string, code: number, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** Options of {@link ContainerdClient}. */
export interface ContainerdClientOptions {
  /** The socket path, or `unix://PATH` (default {@link DEFAULT_ADDRESS}). */
  address?: string;
  /** The namespace of every call (default {@link DEFAULT_NAMESPACE}). */
  namespace?: string;
  /** Deadline of each unary call in milliseconds (0 or absent: none; streams are not bounded). */
  timeoutMs?: number;
  /**
   * Deadline of the version call that opens the connection, in
   * milliseconds (default {@link CONNECT_TIMEOUT_MS}; must be positive).
   */
  connectTimeoutMs?: number;
  /** Let grpc-js log its errors to stderr (otherwise they are dropped). */
  debug?: boolean;
  /** The lease the writes of every call are made in (`containerd-lease` metadata). */
  lease?: string;
}

/**
 * The socket path of an address: `unix://PATH` and `unix:PATH` lose their
 * prefix (as upstream strips `unix://`); anything else is taken as a path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { socketPath } from "./client.ts";
 * assert.equal(socketPath("unix:///run/containerd/containerd.sock"), "/run/containerd/containerd.sock");
 * assert.equal(socketPath("/tmp/c.sock"), "/tmp/c.sock");
 * ```
 */
export function socketPath(address: string): string {
  if (address.startsWith("unix://")) return address.slice("unix://".length);
  if (address.startsWith("unix:")) return address.slice("unix:".length);
  return address;
}

/** The grpc-js error shape: a status code and the server's text. */
interface GrpcFailure {
  code: number;
  details: string;
}

function isGrpcFailure(e: unknown): e is GrpcFailure & Error {
  return e instanceof Error && typeof (e as Partial<GrpcFailure>).code === "number" &&
    typeof (e as Partial<GrpcFailure>).details === "string";
}

/**
 * The gRPC status code of an error made by this client (or of grpc-js),
 * `undefined` for other errors.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ContainerdError, grpcCode } from "./client.ts";
 * assert.equal(grpcCode(new ContainerdError("x", 9)), 9);
 * assert.equal(grpcCode(new Error("x")), undefined);
 * ```
 */
export function grpcCode(e: unknown): number | undefined {
  if (e instanceof ContainerdError) return e.code;
  if (isGrpcFailure(e)) return e.code;
  if (e instanceof Error && e.cause !== undefined && e.cause !== e) return grpcCode(e.cause);
  return undefined;
}

/** The flags a Deno program needs to use the socket at `socket`. */
function permissionHint(socket: string): string {
  return `--allow-read=${socket} --allow-write=${socket} --allow-net=unix:${socket}`;
}

/** The shared state of a client and its views: the channel and the socket check. */
class Connection {
  readonly socket: string;
  readonly timeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly debug: boolean;
  #client?: grpc.Client;
  #checked?: Promise<void>;
  #channel?: Promise<{ grpc: GrpcJs; client: grpc.Client }>;
  #closed = false;

  constructor(socket: string, timeoutMs: number, connectTimeoutMs: number, debug: boolean) {
    this.socket = socket;
    this.timeoutMs = timeoutMs;
    this.connectTimeoutMs = connectTimeoutMs;
    this.debug = debug;
  }

  /**
   * grpc-js and the channel, made on first use after checking that the
   * socket exists, and answered by containerd (see {@link CONNECT_TIMEOUT_MS}).
   * A connection whose first call failed stays failed: later calls throw
   * the same (grpc-js) error at once, and its channel is closed.
   */
  async open(): Promise<{ grpc: GrpcJs; client: grpc.Client }> {
    this.#checkOpen();
    this.#checked ??= this.#check();
    await this.#checked;
    this.#channel ??= this.#connect();
    const channel = await this.#channel;
    this.#checkOpen();
    return channel;
  }

  #checkOpen(): void {
    if (this.#closed) throw new SociError(`containerd client for ${this.socket} is closed`);
  }

  /** Loads grpc-js, makes the channel and asks containerd's version (the first call). */
  async #connect(): Promise<{ grpc: GrpcJs; client: grpc.Client }> {
    let g: GrpcJs;
    try {
      g = await loadGrpc();
    } catch (e) {
      this.#channel = undefined; // let a later call (with more permissions) try again
      throw e;
    }
    this.#checkOpen();
    // grpc-js logs through console.error (stderr) only; dropped unless debugging.
    g.setLogger({ error: (...args: unknown[]) => console.error(...args) });
    g.setLogVerbosity(this.debug ? g.logVerbosity.INFO : g.logVerbosity.NONE);
    const client = this.#client = new g.Client(
      `unix://${this.socket}`,
      g.credentials.createInsecure(),
      CHANNEL_OPTIONS,
    );
    try {
      await this.#probe(g, client);
    } catch (e) {
      client.close(); // nothing is left connecting: the process can exit
      if (this.#client === client) this.#client = undefined;
      throw e;
    }
    return { grpc: g, client };
  }

  /**
   * containerd's `Version` with a deadline of {@link connectTimeoutMs} (or
   * the unary-call timeout when it is shorter); no answer by then is a
   * one-line `SociError` naming the socket.
   */
  async #probe(g: GrpcJs, client: grpc.Client): Promise<void> {
    const m = await grpcMethod("version", "Version");
    const limit = this.timeoutMs > 0
      ? Math.min(this.timeoutMs, this.connectTimeoutMs)
      : this.connectTimeoutMs;
    try {
      await new Promise<void>((resolve, reject) => {
        client.makeUnaryRequest(
          m.path,
          m.requestSerialize as (v: unknown) => Buffer,
          m.responseDeserialize as (b: Buffer) => unknown,
          {},
          new g.Metadata(),
          { deadline: Date.now() + limit },
          (err) => err ? reject(err) : resolve(),
        );
      });
    } catch (e) {
      if (isGrpcFailure(e) && e.code === GrpcStatus.DEADLINE_EXCEEDED) {
        throw new SociError(
          `cannot connect to containerd at ${this.socket}: no answer in ${seconds(limit)} ` +
            `(is it containerd's gRPC socket?)`,
          { cause: e },
        );
      }
      throw e;
    }
  }

  async #check(): Promise<void> {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(this.socket);
    } catch (e) {
      this.#checked = undefined;
      if (e instanceof Deno.errors.NotFound) {
        throw new SociError(
          `containerd socket ${this.socket} does not exist: is containerd running? ` +
            `(set --address or CONTAINERD_ADDRESS)`,
        );
      }
      if (e instanceof Deno.errors.NotCapable) {
        throw new SociError(
          `reaching containerd at ${this.socket} needs ${permissionHint(this.socket)}`,
        );
      }
      if (e instanceof Deno.errors.PermissionDenied) {
        throw new SociError(`cannot reach containerd socket ${this.socket}: permission denied`);
      }
      throw new SociError(`cannot reach containerd socket ${this.socket}: ${(e as Error).message}`);
    }
    if (!info.isSocket) {
      this.#checked = undefined;
      throw new SociError(
        `${this.socket} is not a unix socket (set --address or CONTAINERD_ADDRESS to containerd's socket)`,
      );
    }
  }

  close(): void {
    this.#closed = true;
    this.#client?.close();
    this.#client = undefined;
  }
}

/**
 * grpc-js's text of a failure as one short line: without its `Resolution
 * note: …` tail, its `No connection established. Last error:` preamble and
 * its timestamps; line breaks become spaces.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { briefDetails } from "./client.ts";
 * assert.equal(
 *   briefDetails(
 *     "No connection established. Last error: read ECONNRESET (2025-01-02T03:04:05.678Z). " +
 *       "Resolution note: ",
 *   ),
 *   "read ECONNRESET",
 * );
 * assert.equal(briefDetails("content sha256:ab: not found"), "content sha256:ab: not found");
 * ```
 */
export function briefDetails(details: string): string {
  const brief = details
    .replace(/\.?\s*Resolution note:[\s\S]*$/, "")
    .replace(/^No connection established\. Last error: /, "")
    .replace(/^(?:[A-Z]\w*)?Error: /, "")
    .replace(/\s*\(\d{4}-\d\d-\d\dT[\d:.]+Z\)/g, "")
    .replace(/\s+/g, " ")
    .trim();
  return brief === "" ? "no connection" : brief;
}

/** `10 s`, `0.5 s`: a duration in milliseconds as seconds, for messages. */
function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

/** Why a call was made, to word its errors: `image "x"`, `blob sha256:…`. */
export interface CallContext {
  /** What the call is about, e.g. `blob sha256:ab…`; a NOT_FOUND says `<what> not found …`. */
  what?: string;
}

/** A bidirectional stream with awaited writes (back-pressure) and pulled answers. */
export interface DuplexCall<Req, Res> {
  /** Sends a message; resolves when grpc-js can take more (after `drain`). Throws the call's error. */
  write(message: Req): Promise<void>;
  /** Half-closes the request side. */
  end(): void;
  /** The next answer, or `undefined` at the end of the stream; throws the call's (mapped) error. */
  next(): Promise<Res | undefined>;
  /** Cancels the call (no error is raised for the cancellation itself). */
  cancel(): void;
}

/**
 * A containerd connection plus the namespace (and lease) its calls carry.
 * Calls go through the service classes (`ContainerdContent`,
 * `ContainerdImages`, `ContainerdLeases`, `ContainerdNamespaces`); this class
 * holds the channel, the metadata and the error mapping.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ContainerdClient } from "./client.ts";
 * const client = new ContainerdClient({ address: "unix:///tmp/none.sock", namespace: "ci" });
 * const leased = client.withLease("build-1");
 * assert.equal(leased.socket, "/tmp/none.sock");
 * assert.equal(leased.namespace, "ci");
 * assert.equal(leased.lease, "build-1");
 * client.close();
 * ```
 */
export class ContainerdClient {
  /** The socket path. */
  readonly socket: string;
  /** The namespace every call carries. */
  readonly namespace: string;
  /** The lease writes are made in, if any. */
  readonly lease?: string;
  readonly #conn: Connection;
  readonly #owner: boolean;

  /**
   * Makes a client; nothing is connected until the first call. With
   * `parent`, the new client is a view that shares the parent's channel
   * (its `address`, `timeoutMs`, `connectTimeoutMs` and `debug` are the
   * parent's; closing the view does nothing).
   *
   * @param options socket address, namespace, lease, unary-call and connect timeouts, debug logging
   * @param parent a client whose channel to share
   */
  constructor(options: ContainerdClientOptions = {}, parent?: ContainerdClient) {
    this.namespace = options.namespace ?? DEFAULT_NAMESPACE;
    if (this.namespace === "") throw new BadInputError("containerd namespace must not be empty");
    if (parent === undefined) {
      const connectTimeoutMs = options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
      if (!(connectTimeoutMs > 0)) {
        throw new BadInputError(`invalid containerd connect timeout ${connectTimeoutMs} ms`);
      }
      this.#conn = new Connection(
        socketPath(options.address ?? DEFAULT_ADDRESS),
        options.timeoutMs ?? 0,
        connectTimeoutMs,
        options.debug ?? false,
      );
      this.#owner = true;
    } else {
      this.#conn = parent.#conn;
      this.#owner = false;
    }
    this.socket = this.#conn.socket;
    this.lease = options.lease;
  }

  /** A view of this client (same channel) whose calls carry namespace `namespace`. */
  withNamespace(namespace: string): ContainerdClient {
    return new ContainerdClient({ namespace, lease: this.lease }, this);
  }

  /** A view of this client (same channel) whose writes are made inside lease `id` (none when undefined). */
  withLease(id: string | undefined): ContainerdClient {
    return new ContainerdClient({ namespace: this.namespace, lease: id }, this);
  }

  /** containerd's version and revision (also a cheap "is it there" check). */
  async version(): Promise<{ version: string; revision: string }> {
    return await this.unary("version", "Version", {});
  }

  /**
   * One unary call. Errors are mapped by {@link ContainerdClient.mapError}.
   *
   * @param service the service key (`content`, `images`, …)
   * @param method the method name (`Info`, `Get`, …)
   * @param request the request message (snake_case fields)
   * @param context what the call is about, for error messages
   */
  async unary<Res>(
    service: keyof typeof SERVICES,
    method: string,
    request: unknown,
    context: CallContext = {},
  ): Promise<Res> {
    const m = await grpcMethod(service, method);
    const { client, metadata } = await this.#open();
    const options: grpc.CallOptions = {};
    if (this.#conn.timeoutMs > 0) options.deadline = Date.now() + this.#conn.timeoutMs;
    try {
      return await new Promise<Res>((resolve, reject) => {
        client.makeUnaryRequest(
          m.path,
          m.requestSerialize as (v: unknown) => Buffer,
          m.responseDeserialize as (b: Buffer) => Res,
          request,
          metadata,
          options,
          (err, value) => err ? reject(err) : resolve(value as Res),
        );
      });
    } catch (e) {
      throw this.mapError(e, context);
    }
  }

  /**
   * A server-streaming call as an async generator of answers. Leaving the
   * loop early cancels the call.
   */
  async *serverStream<Res>(
    service: keyof typeof SERVICES,
    method: string,
    request: unknown,
    context: CallContext = {},
  ): AsyncGenerator<Res> {
    const m = await grpcMethod(service, method);
    const { client, metadata } = await this.#open();
    const call = client.makeServerStreamRequest(
      m.path,
      m.requestSerialize as (v: unknown) => Buffer,
      m.responseDeserialize as (b: Buffer) => Res,
      request,
      metadata,
      {},
    );
    let done = false;
    try {
      for await (const message of call as AsyncIterable<Res>) yield message;
      done = true;
    } catch (e) {
      done = true;
      throw this.mapError(e, context);
    } finally {
      if (!done) {
        call.on("error", () => {});
        call.cancel();
      }
    }
  }

  /** Opens a bidirectional stream (used by `Content.Write`). */
  async duplex<Req, Res>(
    service: keyof typeof SERVICES,
    method: string,
    context: CallContext = {},
  ): Promise<DuplexCall<Req, Res>> {
    const m = await grpcMethod(service, method);
    const { client, metadata } = await this.#open();
    const call = client.makeBidiStreamRequest(
      m.path,
      m.requestSerialize as (v: Req) => Buffer,
      m.responseDeserialize as (b: Buffer) => Res,
      metadata,
      {},
    );
    const answers: Res[] = [];
    let failure: Error | undefined;
    let ended = false;
    let cancelled = false;
    let wake: (() => void) | undefined;
    const notify = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    call.on("data", (message: Res) => {
      answers.push(message);
      notify();
    });
    call.on("error", (e: Error) => {
      if (!cancelled) failure ??= this.mapError(e, context);
      ended = true;
      notify();
    });
    call.on("end", () => {
      ended = true;
      notify();
    });
    call.on("drain", notify);
    return {
      write: async (message: Req) => {
        if (failure) throw failure;
        if (ended) throw new ContainerdError(`containerd closed the ${method} stream`, 1);
        if (!call.write(message)) {
          while (!failure && !ended && call.writableNeedDrain) {
            await new Promise<void>((r) => wake = r);
          }
          if (failure) throw failure;
        }
      },
      end: () => {
        if (!ended) call.end();
      },
      next: async () => {
        for (;;) {
          if (answers.length > 0) return answers.shift();
          if (failure) throw failure;
          if (ended) return undefined;
          await new Promise<void>((r) => wake = r);
        }
      },
      cancel: () => {
        if (ended) return;
        cancelled = true;
        call.cancel();
      },
    };
  }

  /**
   * Turns a grpc-js failure into one line of `lib/errors.ts`: an unreachable
   * socket is a `SociError` naming it and `--address`; NOT_FOUND a
   * `NotFoundError` (`<what> not found in containerd namespace <ns>`);
   * INVALID_ARGUMENT / OUT_OF_RANGE a `BadInputError`; UNIMPLEMENTED an
   * `UnsupportedError`; the rest a {@link ContainerdError} with the code.
   * Errors that are already ours pass through.
   */
  mapError(e: unknown, context: CallContext = {}): Error {
    if (!isGrpcFailure(e)) return e instanceof Error ? e : new SociError(String(e));
    const details = briefDetails(e.details || e.message);
    const sock = this.socket;
    const opts = { cause: e };
    switch (e.code) {
      case GrpcStatus.UNAVAILABLE: {
        if (/NotCapable|Requires (read|write|net) access/.test(details)) {
          return new SociError(
            `reaching containerd at ${sock} needs ${permissionHint(sock)}`,
            opts,
          );
        }
        let why = details;
        if (/ENOENT|No such file|os error 2\b/i.test(details)) why = "no such socket";
        else if (/ECONNREFUSED|Connection refused|os error 111\b/i.test(details)) {
          why = "connection refused";
        } else if (/EACCES|Permission denied|os error 13\b/i.test(details)) {
          why = "permission denied";
        } else if (/EPIPE|ECONNRESET|Connection reset|Broken pipe/i.test(details)) {
          why = "the connection was closed by the other end";
        }
        return new SociError(
          `cannot connect to containerd at ${sock}: ${why} (is containerd running? set --address ` +
            `or CONTAINERD_ADDRESS)`,
          opts,
        );
      }
      case GrpcStatus.DEADLINE_EXCEEDED:
        return new SociError(
          `containerd at ${sock} did not answer within ${this.#conn.timeoutMs} ms (--timeout)`,
          opts,
        );
      case GrpcStatus.NOT_FOUND:
        return new NotFoundError(
          context.what
            ? `${context.what} not found in containerd namespace ${this.namespace}`
            : `containerd: ${details}`,
          opts,
        );
      case GrpcStatus.INVALID_ARGUMENT:
      case GrpcStatus.OUT_OF_RANGE:
        return new BadInputError(`containerd: ${details}`, opts);
      case GrpcStatus.UNIMPLEMENTED:
        return new UnsupportedError(`containerd at ${sock} does not support: ${details}`, opts);
      default:
        return new ContainerdError(`containerd: ${details}`, e.code, opts);
    }
  }

  /** Closes the channel (views: nothing; only the client that made it closes it). */
  close(): void {
    if (this.#owner) this.#conn.close();
  }

  /** The channel and fresh metadata (namespace, lease) for one call. */
  async #open(): Promise<{ client: grpc.Client; metadata: grpc.Metadata }> {
    let channel: { grpc: GrpcJs; client: grpc.Client };
    try {
      channel = await this.#conn.open();
    } catch (e) {
      throw this.mapError(e);
    }
    const { grpc: g, client } = channel;
    const metadata = new g.Metadata();
    metadata.set(NAMESPACE_HEADER, this.namespace);
    if (this.lease !== undefined) metadata.set(LEASE_HEADER, this.lease);
    return { client, metadata };
  }
}
