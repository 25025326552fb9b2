/**
 * Developer check (not a test, not for CI): compares the hand-written
 * protobuf descriptor of `lib/containerd/descriptor.ts` with containerd's
 * own `.proto` files, as shipped by Debian's
 * `golang-github-containerd-containerd-dev` (1.6.x): every message, field
 * (name, number, type, label), enum value and method we describe must be
 * there with the same meaning. Fields that containerd has and we leave out
 * are listed for information only.
 *
 * The package is not needed at run time and stays out of CI. To check:
 *
 * ```sh
 * mkdir -p .scratch/containerd-dev && cd .scratch/containerd-dev
 * apt-get download golang-github-containerd-containerd-dev
 * dpkg-deb -x golang-github-containerd-containerd-dev_*.deb .
 * cd ../.. && deno run -A tasks/check_containerd_proto.ts
 * ```
 *
 * The folder holding `github.com/containerd/containerd/api` is taken from
 * the first argument, else `$CONTAINERD_API_SRC`, else
 * `.scratch/containerd-dev/usr/share/gocode/src`, else
 * `/usr/share/gocode/src` (the package installed). When none exists it says
 * so and exits 0 without checking anything. Exit 1 when the descriptors
 * differ.
 *
 * @module
 */
import { fromJSON, loadSync, type PackageDefinition } from "npm:@grpc/proto-loader@0.8.1";
import process from "node:process";
import { CONTAINERD_PROTO } from "../lib/containerd/descriptor.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const API = "github.com/containerd/containerd/api";
const FILES = [
  "services/version/v1/version.proto",
  "services/namespaces/v1/namespace.proto",
  "services/images/v1/images.proto",
  "services/content/v1/content.proto",
  "services/leases/v1/leases.proto",
  "services/introspection/v1/introspection.proto",
  "types/descriptor.proto",
];

interface FieldProto {
  name: string;
  number: number;
  label: string;
  type: string;
  typeName: string;
}
interface MessageProto {
  name: string;
  field: FieldProto[];
  nestedType: MessageProto[];
  enumType: { name: string; value: { name: string; number: number }[] }[];
}
interface MethodDef {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestType: { type: { name: string } };
  responseType: { type: { name: string } };
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function findSource(): string | undefined {
  const candidates = [
    Deno.args[0],
    Deno.env.get("CONTAINERD_API_SRC"),
    `${ROOT}.scratch/containerd-dev/usr/share/gocode/src`,
    "/usr/share/gocode/src",
  ].filter((p): p is string => !!p);
  return candidates.find((dir) => exists(`${dir}/${API}/services/content/v1/content.proto`));
}

function isMessage(v: unknown): v is { format: string; type: MessageProto } {
  return typeof v === "object" && v !== null &&
    (v as { format?: string }).format === "Protocol Buffer 3 DescriptorProto";
}

function isEnum(v: unknown): v is { format: string; type: MessageProto["enumType"][number] } {
  return typeof v === "object" && v !== null &&
    (v as { format?: string }).format === "Protocol Buffer 3 EnumDescriptorProto";
}

function isService(v: unknown): v is Record<string, MethodDef> {
  if (typeof v !== "object" || v === null || "format" in v) return false;
  const first = Object.values(v)[0] as Partial<MethodDef> | undefined;
  return typeof first?.path === "string";
}

/** Differences between our package definition and containerd's, as readable lines. */
function compare(ours: PackageDefinition, theirs: PackageDefinition): {
  errors: string[];
  omitted: string[];
} {
  const errors: string[] = [];
  const omitted: string[] = [];
  for (const [name, def] of Object.entries(ours)) {
    if (name.startsWith("google.protobuf.")) continue;
    const real = theirs[name];
    if (real === undefined) {
      errors.push(`${name}: not in containerd's .proto files`);
      continue;
    }
    if (isMessage(def)) {
      if (!isMessage(real)) {
        errors.push(`${name}: is a message here, not there`);
        continue;
      }
      const fields = new Map(real.type.field.map((f) => [f.name, f]));
      for (const f of def.type.field) {
        const r = fields.get(f.name);
        if (!r) {
          errors.push(`${name}.${f.name}: no such field in containerd`);
          continue;
        }
        for (const key of ["number", "label", "type", "typeName"] as const) {
          // Map entry types are named after the field in both; compare their shape via the name.
          if (f[key] !== r[key]) {
            errors.push(`${name}.${f.name}: ${key} is ${f[key]} here, ${r[key]} in containerd`);
          }
        }
        fields.delete(f.name);
      }
      for (const r of fields.values()) omitted.push(`${name}.${r.name} = ${r.number}`);
    } else if (isEnum(def)) {
      if (!isEnum(real)) {
        errors.push(`${name}: is an enum here, not there`);
        continue;
      }
      const values = new Map(real.type.value.map((v) => [v.name, v.number]));
      for (const v of def.type.value) {
        if (values.get(v.name) !== v.number) {
          errors.push(`${name}.${v.name}: ${v.number} here, ${values.get(v.name)} in containerd`);
        }
      }
    } else if (isService(def)) {
      if (!isService(real)) {
        errors.push(`${name}: is a service here, not there`);
        continue;
      }
      for (const [method, m] of Object.entries(def)) {
        const r = real[method];
        if (!r) {
          errors.push(`${name}/${method}: no such method in containerd`);
          continue;
        }
        const shape = (x: MethodDef) =>
          `${x.path} ${x.requestType.type.name}${x.requestStream ? " stream" : ""} -> ` +
          `${x.responseType.type.name}${x.responseStream ? " stream" : ""}`;
        if (shape(m) !== shape(r)) errors.push(`${name}/${method}: ${shape(m)} here, ${shape(r)}`);
      }
    }
  }
  return { errors, omitted };
}

const src = findSource();
if (src === undefined) {
  console.log(
    "NOT CHECKED: containerd's .proto files were not found. Extract Debian's " +
      "golang-github-containerd-containerd-dev (see this file's header) and run again.",
  );
  Deno.exit(0);
}
const options = { keepCase: true, longs: Number, enums: String, defaults: true };
// The .proto files import gogoproto weakly; proto-loader warns that it is missing and goes on.
const emitWarning = process.emitWarning;
process.emitWarning = () => {};
// introspection.proto imports google/rpc/status.proto, which neither the package nor
// proto-loader ships: a stand-in with the message's three fields is enough to load it.
const extra = await Deno.makeTempDir({ prefix: "soci-proto-" });
await Deno.mkdir(`${extra}/google/rpc`, { recursive: true });
await Deno.writeTextFile(
  `${extra}/google/rpc/status.proto`,
  [
    'syntax = "proto3";',
    "package google.rpc;",
    'import "google/protobuf/any.proto";',
    "message Status { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3; }",
    "",
  ].join("\n"),
);
let theirs: PackageDefinition;
try {
  theirs = loadSync(FILES.map((f) => `${API}/${f}`), { ...options, includeDirs: [src, extra] });
} finally {
  process.emitWarning = emitWarning;
  await Deno.remove(extra, { recursive: true });
}
type Json = Parameters<typeof fromJSON>[0];
const ours = fromJSON(CONTAINERD_PROTO as unknown as Json, options);
const { errors, omitted } = compare(ours, theirs);
const described = Object.keys(ours).filter((n) => !n.startsWith("google.protobuf.")).length;
console.log(`containerd .proto files: ${src}/${API}`);
console.log(`described here: ${described} messages, enums and services`);
if (omitted.length > 0) {
  console.log(`fields containerd has that we leave out (${omitted.length}):`);
  for (const line of omitted) console.log(`  ${line}`);
}
if (errors.length > 0) {
  console.log(`MISMATCHES (${errors.length}):`);
  for (const line of errors) console.log(`  ${line}`);
  Deno.exit(1);
}
console.log("OK: every message, field, enum value and method matches containerd's API");
