/**
 * Registry credentials: the `--user USER[:PASS]` flag, the Docker CLI
 * config file (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`:
 * `auths`, `credsStore`, `credHelpers`) and `docker-credential-<name>`
 * helpers. Secrets are kept out of every message this module produces.
 *
 * @module
 */
import { join } from "node:path";
import { BadInputError, RegistryError } from "../errors.ts";
import { JsonObject, JsonSyntaxError, type JsonValue, parseJson } from "../go/json_parse.ts";
import { describeJsonKind, JsonStructReader, structFields } from "../go/json_struct.ts";
import { grantedEnv } from "../util/env.ts";

/**
 * Credentials for one registry. `username`+`password` are used for Basic
 * auth and for the token endpoint; `identityToken` is an OAuth2 refresh
 * token (Docker's `identitytoken`); `registryToken` is a bearer token used
 * as is.
 */
export interface Credentials {
  /** User name (Basic auth and token endpoint). */
  username?: string;
  /** Password (Basic auth and token endpoint). */
  password?: string;
  /** OAuth2 refresh token (Docker `identitytoken`, helper username `<token>`). */
  identityToken?: string;
  /** Bearer token sent as is (Docker `registrytoken`). */
  registryToken?: string;
}

/** Where credentials may come from, for {@link resolveCredentials}. */
export interface CredentialOptions {
  /** `--user USER[:PASS]` text; when given, nothing else is consulted. */
  user?: string;
  /**
   * Folder holding `config.json`. Default: `$DOCKER_CONFIG`, else
   * `$HOME/.docker`.
   */
  configDir?: string;
  /**
   * Runs a credential helper: gets the program name
   * (`docker-credential-<name>`) and the server URL written to its stdin,
   * returns its exit code and stdout. Default: `Deno.Command` (searches
   * `PATH`; needs `--allow-run`).
   */
  runHelper?: (program: string, input: string) => Promise<{ code: number; stdout: string }>;
}

/**
 * Splits the `--user` flag value the way upstream does: at the first `:`
 * unless it is the first character; without `:` the password is empty.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseUserFlag } from "./credentials.ts";
 * const c = parseUserFlag("alice:s3:cret");
 * assert.ok(c.username === "alice" && c.password === "s3:cret");
 * assert.ok(parseUserFlag("bob").password === "");
 * ```
 */
export function parseUserFlag(text: string): Credentials {
  const i = text.indexOf(":");
  if (i > 0) return { username: text.slice(0, i), password: text.slice(i + 1) };
  return { username: text, password: "" };
}

/** The key Docker uses for Docker Hub in config files and helpers. */
const DOCKER_HUB_KEY = "https://index.docker.io/v1/";

function isDockerHub(host: string): boolean {
  return host === "docker.io" || host === "index.docker.io" || host === "registry-1.docker.io";
}

/** Docker's `ConvertToHostname`: drop the scheme and anything after the host. */
function toHostname(key: string): string {
  let s = key;
  if (s.startsWith("http://")) s = s.slice(7);
  else if (s.startsWith("https://")) s = s.slice(8);
  const slash = s.indexOf("/");
  return slash >= 0 ? s.slice(0, slash) : s;
}

/** One `auths` entry of a Docker config file (Docker's `AuthConfig` members soci uses). */
export interface DockerAuthEntry {
  /** base64 of `user:password`. */
  auth: string;
  /** User name. */
  username: string;
  /** Password. */
  password: string;
  /** OAuth2 refresh token. */
  identitytoken: string;
  /** Bearer token. */
  registrytoken: string;
}

/** What soci reads from a Docker CLI config file; nil maps are `null`. */
export interface DockerConfig {
  /** `auths`: registry (a host, or a URL such as Docker Hub's key) to its entry. */
  auths: Map<string, DockerAuthEntry> | null;
  /** `credsStore`: the default credential helper's name, or "". */
  credsStore: string;
  /** `credHelpers`: registry host to credential helper name. */
  credHelpers: Map<string, string> | null;
}

function zeroAuthEntry(): DockerAuthEntry {
  return { auth: "", username: "", password: "", identitytoken: "", registrytoken: "" };
}

const AUTH_ENTRY_FIELDS = structFields<DockerAuthEntry>({
  auth: (r, t, v, p) => t.auth = r.string(v, p, t.auth),
  username: (r, t, v, p) => t.username = r.string(v, p, t.username),
  password: (r, t, v, p) => t.password = r.string(v, p, t.password),
  identitytoken: (r, t, v, p) => t.identitytoken = r.string(v, p, t.identitytoken),
  registrytoken: (r, t, v, p) => t.registrytoken = r.string(v, p, t.registrytoken),
});

const CONFIG_FIELDS = structFields<DockerConfig>({
  auths: (r, t, v, p) =>
    t.auths = r.map(v, p, t.auths, (x, q) => {
      const entry = zeroAuthEntry();
      r.struct(x, q, entry, AUTH_ENTRY_FIELDS);
      return entry;
    }),
  credsStore: (r, t, v, p) => t.credsStore = r.string(v, p, t.credsStore),
  credHelpers: (r, t, v, p) => t.credHelpers = r.stringMap(v, p, t.credHelpers),
});

/**
 * Reads a Docker CLI config file's `auths`, `credsStore` and `credHelpers`
 * the way Docker's Go code does (`json.Unmarshal` rules: member names match
 * case-insensitively, later duplicates win, other members are ignored).
 * `path` is only used in messages. Malformed JSON is a `BadInputError` that
 * says where (line and column), never what: the text around the error may
 * be a password. A member of the wrong type is a `BadInputError` naming the
 * member, without map keys.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BadInputError } from "../errors.ts";
 * import { parseDockerConfig } from "./credentials.ts";
 * const enc = new TextEncoder();
 * const c = parseDockerConfig(enc.encode('{"Auths":{"h:1":{"auth":"dTpw"}},"credsStore":"pass"}'), "c.json");
 * assert.equal(c.auths?.get("h:1")?.auth, "dTpw");
 * assert.equal(c.credsStore, "pass");
 * assert.throws(() => parseDockerConfig(enc.encode('{\n "auths": x}'), "c.json"),
 *   (e) => e instanceof BadInputError &&
 *     e.message === "docker config c.json is not valid JSON (line 2, column 11)");
 * ```
 */
export function parseDockerConfig(bytes: Uint8Array, path: string): DockerConfig {
  const what = `docker config ${path}`;
  let value: JsonValue;
  try {
    value = parseJson(bytes, what);
  } catch (e) {
    if (!(e instanceof JsonSyntaxError)) throw e;
    // The syntax error's text shows the offending character, which may be
    // part of a password: only say where it is.
    const { line, column } = lineColumn(bytes, e.offset);
    throw new BadInputError(`${what} is not valid JSON (line ${line}, column ${column})`);
  }
  if (value !== null && !(value instanceof JsonObject)) {
    throw new BadInputError(`${what}: expected a JSON object, got ${describeJsonKind(value)}`);
  }
  const config: DockerConfig = { auths: null, credsStore: "", credHelpers: null };
  new JsonStructReader(what, { hideMapKeys: true }).struct(value, "", config, CONFIG_FIELDS);
  return config;
}

/** Whether Deno grants `desc` without asking. */
function granted(desc: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(desc).state === "granted";
  } catch {
    return false;
  }
}

/**
 * Why the docker config was not read for credentials in this process, when
 * Deno's permissions are the reason (`undefined` otherwise): neither
 * `DOCKER_CONFIG` nor `HOME` may be read, or its `config.json` may not be.
 * For the hint of a 401 answer when no credentials were found.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dockerConfigUnread } from "./credentials.ts";
 * const why = dockerConfigUnread();
 * assert.ok(why === undefined || why.startsWith("the docker config "));
 * ```
 */
export function dockerConfigUnread(): string | undefined {
  const dir = defaultConfigDir();
  if (dir === undefined) {
    return granted({ name: "env", variable: "HOME" })
      ? undefined
      : "the docker config was not looked for (Deno may not read HOME or DOCKER_CONFIG: " +
        "--allow-env)";
  }
  const path = join(dir, "config.json");
  return granted({ name: "read", path })
    ? undefined
    : `the docker config ${path} was not read (Deno may not read it: --allow-read)`;
}

function defaultConfigDir(): string | undefined {
  const fromEnv = grantedEnv("DOCKER_CONFIG");
  if (fromEnv) return fromEnv;
  const home = grantedEnv("HOME");
  return home ? join(home, ".docker") : undefined;
}

async function readConfig(dir: string): Promise<DockerConfig | undefined> {
  const path = join(dir, "config.json");
  // Not allowed to look at it (no --allow-read for it): no stored credentials,
  // rather than a permission prompt or a failure for anonymous registries.
  try {
    if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") return undefined;
  } catch {
    return undefined;
  }
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new BadInputError(`cannot read docker config ${path}: ${(e as Error).message}`);
  }
  return parseDockerConfig(bytes, path);
}

/** Text as an editor shows it: invalid UTF-8 replaced, a BOM kept. */
const TEXT = new TextDecoder("utf-8", { ignoreBOM: true });

/** 1-based line and column (in UTF-16 code units of the text) of byte offset `at` of `bytes`. */
function lineColumn(bytes: Uint8Array, at: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = bytes.indexOf(0x0a); i >= 0 && i < at; i = bytes.indexOf(0x0a, i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, column: TEXT.decode(bytes.subarray(start, at)).length + 1 };
}

function decodeAuthField(value: string, host: string): Credentials {
  let text: string;
  try {
    text = new TextDecoder().decode(Uint8Array.from(atob(value), (c) => c.charCodeAt(0)));
  } catch {
    throw new BadInputError(`docker config: the "auth" entry for ${host} is not valid base64`);
  }
  const i = text.indexOf(":");
  if (i < 0) {
    throw new BadInputError(`docker config: the "auth" entry for ${host} has no ':' separator`);
  }
  return { username: text.slice(0, i), password: text.slice(i + 1) };
}

function fromAuthsEntry(config: DockerConfig, host: string): Credentials | undefined {
  const auths = config.auths;
  if (!auths) return undefined;
  const wanted = isDockerHub(host) ? "index.docker.io" : host;
  let entry = auths.get(isDockerHub(host) ? DOCKER_HUB_KEY : host);
  if (!entry) {
    for (const [key, value] of auths) {
      if (toHostname(key) === wanted) {
        entry = value;
        break;
      }
    }
  }
  if (!entry) return undefined;
  let creds: Credentials = {};
  if (entry.auth) creds = decodeAuthField(entry.auth, host);
  if (entry.username) creds.username = entry.username;
  if (entry.password) creds.password = entry.password;
  if (entry.identitytoken) creds.identityToken = entry.identitytoken;
  if (entry.registrytoken) creds.registryToken = entry.registrytoken;
  return isEmpty(creds) ? undefined : creds;
}

function isEmpty(c: Credentials): boolean {
  return !c.username && !c.password && !c.identityToken && !c.registryToken;
}

class HelperMissingError extends RegistryError {
  constructor(program: string) {
    super(`credential helper ${program} not found on PATH`);
  }
}

async function defaultRunHelper(
  program: string,
  input: string,
): Promise<{ code: number; stdout: string }> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(program, {
      args: ["get"],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new HelperMissingError(program);
    throw new RegistryError(`cannot run credential helper ${program}: ${(e as Error).message}`);
  }
  // A helper may exit without reading its input (its stdin is then a
  // broken pipe): that is its exit code's business, not a crash here.
  const writer = child.stdin.getWriter();
  try {
    await writer.write(new TextEncoder().encode(input));
  } catch {
    // reported through the exit code below
  }
  try {
    await writer.close();
  } catch {
    // already closed by the helper
  }
  let out: Deno.CommandOutput;
  try {
    out = await child.output();
  } catch (e) {
    throw new RegistryError(
      `credential helper ${program} could not be run to completion: ${(e as Error).message}`,
    );
  }
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
}

/** The members of a credential helper's answer soci uses. */
const HELPER_FIELDS = structFields<{ username: string; secret: string }>({
  Username: (r, t, v, p) => t.username = r.string(v, p, t.username),
  Secret: (r, t, v, p) => t.secret = r.string(v, p, t.secret),
});

async function fromHelper(
  name: string,
  host: string,
  run: NonNullable<CredentialOptions["runHelper"]>,
): Promise<Credentials | undefined> {
  const program = `docker-credential-${name}`;
  const server = isDockerHub(host) ? DOCKER_HUB_KEY : host;
  const { code, stdout } = await run(program, server);
  if (code !== 0) {
    // Helpers answer "credentials not found in native keychain" when they
    // have nothing for this server: that means anonymous access.
    if (/credentials not found/i.test(stdout)) return undefined;
    // Its message helps, unless it might be the credentials themselves
    // (a JSON answer with a non-zero exit): then it is left out.
    const firstLine = stdout.split("\n")[0].trim().slice(0, 200);
    const safe = firstLine !== "" && !/[{}"]|secret|token|password/i.test(stdout);
    throw new RegistryError(
      `credential helper ${program} failed for ${host} (exit ${code})` +
        (safe ? `: ${firstLine}` : ""),
    );
  }
  // Read as the helpers' Go client does: into a struct with `Username`
  // and `Secret` (names matched case-insensitively).
  const parsed = { username: "", secret: "" };
  try {
    const value = parseJson(stdout, program);
    if (value !== null && !(value instanceof JsonObject)) throw new BadInputError("not an object");
    new JsonStructReader(program, { hideMapKeys: true }).struct(value, "", parsed, HELPER_FIELDS);
  } catch (e) {
    if (!(e instanceof BadInputError)) throw e;
    throw new RegistryError(`credential helper ${program} returned invalid JSON for ${host}`);
  }
  if (!parsed.username && !parsed.secret) return undefined;
  if (parsed.username === "<token>") return { identityToken: parsed.secret };
  return { username: parsed.username, password: parsed.secret };
}

/**
 * Finds the credentials for a registry host, in upstream's order: `--user`
 * if given; else the Docker config (`credHelpers[host]`, else `credsStore`,
 * else `auths`); else `undefined` (anonymous). When the `credsStore` helper
 * knows nothing about the host, or is not installed, the `auths` entry is
 * used; a `credHelpers` helper that knows nothing means anonymous.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveCredentials } from "./credentials.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/config.json`,
 *   JSON.stringify({ auths: { "127.0.0.1:5000": { auth: btoa("u:p") } } }));
 * const c = await resolveCredentials("127.0.0.1:5000", { configDir: dir });
 * assert.ok(c?.username === "u" && c?.password === "p");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function resolveCredentials(
  host: string,
  opts: CredentialOptions = {},
): Promise<Credentials | undefined> {
  if (opts.user !== undefined) return parseUserFlag(opts.user);
  const dir = opts.configDir ?? defaultConfigDir();
  if (!dir) return undefined;
  const config = await readConfig(dir);
  if (!config) return undefined;
  const run = opts.runHelper ?? defaultRunHelper;
  const helpers = config.credHelpers ?? new Map<string, string>();
  let helper = helpers.get(host);
  if (helper === undefined) {
    for (const [key, value] of helpers) {
      if (toHostname(key) === host) {
        helper = value;
        break;
      }
    }
  }
  if (helper) return await fromHelper(helper, host, run);
  if (config.credsStore) {
    try {
      const found = await fromHelper(config.credsStore, host, run);
      if (found) return found;
    } catch (e) {
      // A config copied from another machine often names a store that is
      // not installed here: fall back to the plain `auths` entries.
      if (!(e instanceof HelperMissingError)) throw e;
    }
  }
  return fromAuthsEntry(config, host);
}
