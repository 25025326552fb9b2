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

interface DockerConfigFile {
  auths?: Record<
    string,
    {
      auth?: string;
      username?: string;
      password?: string;
      identitytoken?: string;
      registrytoken?: string;
    }
  >;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

function defaultConfigDir(): string | undefined {
  const fromEnv = Deno.env.get("DOCKER_CONFIG");
  if (fromEnv) return fromEnv;
  const home = Deno.env.get("HOME");
  return home ? join(home, ".docker") : undefined;
}

async function readConfig(dir: string): Promise<DockerConfigFile | undefined> {
  const path = join(dir, "config.json");
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new BadInputError(`cannot read docker config ${path}: ${(e as Error).message}`);
  }
  try {
    const parsed = JSON.parse(text);
    return typeof parsed === "object" && parsed !== null ? parsed : {};
  } catch {
    // JSON.parse's message quotes the text around the error, which may be
    // a password: only say where it is.
    const at = jsonErrorOffset(text);
    const { line, column } = lineColumn(text, at);
    throw new BadInputError(
      `docker config ${path} is not valid JSON (line ${line}, column ${column})`,
    );
  }
}

/** 1-based line and column (in UTF-16 code units) of offset `at` of `text`. */
function lineColumn(text: string, at: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = text.indexOf("\n"); i >= 0 && i < at; i = text.indexOf("\n", i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, column: at - start + 1 };
}

/**
 * Offset of the first character that makes `text` invalid JSON (its
 * length when it ends too early). Only called on text JSON.parse refused.
 */
function jsonErrorOffset(text: string): number {
  let i = 0;
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  class Stop extends Error {}
  const fail = (): never => {
    throw new Stop();
  };
  const expect = (c: string) => {
    if (text[i] !== c) fail();
    i++;
  };
  const string = () => {
    expect('"');
    for (;;) {
      if (i >= text.length) fail();
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return;
      }
      if (c < 0x20) fail();
      if (c === 0x5c) {
        i++;
        const e = text[i];
        if (e === "u") {
          i++;
          for (let k = 0; k < 4; k++, i++) if (!/[0-9a-fA-F]/.test(text[i] ?? "")) fail();
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) fail();
      }
      i++;
    }
  };
  const number = () => {
    const m = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (!m) fail();
    i += m![0].length;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      ws();
      if (text[i] === "}") {
        i++;
        return;
      }
      for (;;) {
        ws();
        string();
        ws();
        expect(":");
        value();
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        expect("}");
        return;
      }
    }
    if (c === "[") {
      i++;
      ws();
      if (text[i] === "]") {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        expect("]");
        return;
      }
    }
    if (c === '"') return string();
    for (const word of ["true", "false", "null"]) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return;
      }
    }
    number();
  };
  try {
    value();
    ws();
    if (i < text.length) fail();
  } catch (e) {
    if (!(e instanceof Stop)) throw e;
  }
  return Math.min(i, text.length);
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

function fromAuthsEntry(config: DockerConfigFile, host: string): Credentials | undefined {
  const auths = config.auths;
  if (!auths) return undefined;
  const wanted = isDockerHub(host) ? "index.docker.io" : host;
  let entry = auths[isDockerHub(host) ? DOCKER_HUB_KEY : host];
  if (!entry) {
    for (const [key, value] of Object.entries(auths)) {
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
  let parsed: { Username?: string; Secret?: string };
  try {
    parsed = JSON.parse(stdout);
  } catch {
    throw new RegistryError(`credential helper ${program} returned invalid JSON for ${host}`);
  }
  if (!parsed.Username && !parsed.Secret) return undefined;
  if (parsed.Username === "<token>") return { identityToken: parsed.Secret ?? "" };
  return { username: parsed.Username ?? "", password: parsed.Secret ?? "" };
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
  const helpers = config.credHelpers ?? {};
  let helper = helpers[host];
  if (helper === undefined) {
    for (const [key, value] of Object.entries(helpers)) {
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
