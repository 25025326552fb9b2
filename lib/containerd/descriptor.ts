/**
 * The protobuf description of the part of containerd's gRPC API that
 * soci-deno uses, as a protobuf.js JSON descriptor, and the method table
 * built from it with `@grpc/proto-loader`.
 *
 * Only the services, methods, messages and fields we call are described:
 * `Version`, `Namespaces` (Get, List), `Images` (Get, List, Create, Update,
 * Delete), `Content` (Info, Update, List, Delete, Read, Write, Abort) and
 * `Leases` (Create, Delete, List, AddResource, DeleteResource,
 * ListResources) and `Introspection` (Plugins), with the well-known `google.protobuf` `Empty`, `Timestamp`
 * and `FieldMask`. Field names and numbers are the API's documented
 * interface (containerd 1.x `api/`); `tasks/check_containerd_proto.ts`
 * compares them with containerd's own `.proto` files when those are
 * extracted locally. Protobuf ignores fields it does not know, so answers
 * from newer daemons decode fine.
 *
 * @module
 */
import type * as ProtoLoader from "npm:@grpc/proto-loader@0.8.1";

/** A field of a message: `[type, number]`, optionally repeated or a `map<string, type>`. */
type Field = { type: string; id: number; rule?: "repeated"; keyType?: string };

const one = (type: string, id: number): Field => ({ type, id });
const many = (type: string, id: number): Field => ({ type, id, rule: "repeated" });
const map = (type: string, id: number): Field => ({ keyType: "string", type, id });
const message = (fields: Record<string, Field> = {}) => ({ fields });
const rpc = (requestType: string, responseType: string, stream: "" | "out" | "both" = "") => ({
  requestType,
  responseType,
  ...(stream === "out" ? { responseStream: true } : {}),
  ...(stream === "both" ? { requestStream: true, responseStream: true } : {}),
});

const EMPTY = "google.protobuf.Empty";
const TIME = "google.protobuf.Timestamp";
const MASK = "google.protobuf.FieldMask";
const DESCRIPTOR = "containerd.types.Descriptor";

/**
 * The protobuf.js JSON descriptor (the `Root.toJSON()` shape) of the
 * containerd API subset soci-deno uses. Message and field names are
 * containerd's (snake_case fields), so decoded messages use them too.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CONTAINERD_PROTO } from "./descriptor.ts";
 * const content = CONTAINERD_PROTO.nested.containerd.nested.services.nested.content.nested.v1.nested;
 * assert.equal(content.ReadContentRequest.fields.offset.id, 2);
 * ```
 */
export const CONTAINERD_PROTO = {
  nested: {
    google: {
      nested: {
        protobuf: {
          nested: {
            Empty: message(),
            Timestamp: message({ seconds: one("int64", 1), nanos: one("int32", 2) }),
            FieldMask: message({ paths: many("string", 1) }),
          },
        },
      },
    },
    containerd: {
      nested: {
        types: {
          nested: {
            Descriptor: message({
              media_type: one("string", 1),
              digest: one("string", 2),
              size: one("int64", 3),
              annotations: map("string", 5),
            }),
          },
        },
        services: {
          nested: {
            version: {
              nested: {
                v1: {
                  nested: {
                    Version: { methods: { Version: rpc(EMPTY, "VersionResponse") } },
                    VersionResponse: message({
                      version: one("string", 1),
                      revision: one("string", 2),
                    }),
                  },
                },
              },
            },
            namespaces: {
              nested: {
                v1: {
                  nested: {
                    Namespaces: {
                      methods: {
                        Get: rpc("GetNamespaceRequest", "GetNamespaceResponse"),
                        List: rpc("ListNamespacesRequest", "ListNamespacesResponse"),
                      },
                    },
                    Namespace: message({ name: one("string", 1), labels: map("string", 2) }),
                    GetNamespaceRequest: message({ name: one("string", 1) }),
                    GetNamespaceResponse: message({ namespace: one("Namespace", 1) }),
                    ListNamespacesRequest: message({ filter: one("string", 1) }),
                    ListNamespacesResponse: message({ namespaces: many("Namespace", 1) }),
                  },
                },
              },
            },
            images: {
              nested: {
                v1: {
                  nested: {
                    Images: {
                      methods: {
                        Get: rpc("GetImageRequest", "GetImageResponse"),
                        List: rpc("ListImagesRequest", "ListImagesResponse"),
                        Create: rpc("CreateImageRequest", "CreateImageResponse"),
                        Update: rpc("UpdateImageRequest", "UpdateImageResponse"),
                        Delete: rpc("DeleteImageRequest", EMPTY),
                      },
                    },
                    Image: message({
                      name: one("string", 1),
                      labels: map("string", 2),
                      target: one(DESCRIPTOR, 3),
                      created_at: one(TIME, 7),
                      updated_at: one(TIME, 8),
                    }),
                    GetImageRequest: message({ name: one("string", 1) }),
                    GetImageResponse: message({ image: one("Image", 1) }),
                    CreateImageRequest: message({ image: one("Image", 1) }),
                    CreateImageResponse: message({ image: one("Image", 1) }),
                    UpdateImageRequest: message({
                      image: one("Image", 1),
                      update_mask: one(MASK, 2),
                    }),
                    UpdateImageResponse: message({ image: one("Image", 1) }),
                    ListImagesRequest: message({ filters: many("string", 1) }),
                    ListImagesResponse: message({ images: many("Image", 1) }),
                    DeleteImageRequest: message({ name: one("string", 1), sync: one("bool", 2) }),
                  },
                },
              },
            },
            content: {
              nested: {
                v1: {
                  nested: {
                    Content: {
                      methods: {
                        Info: rpc("InfoRequest", "InfoResponse"),
                        Update: rpc("UpdateRequest", "UpdateResponse"),
                        List: rpc("ListContentRequest", "ListContentResponse", "out"),
                        Delete: rpc("DeleteContentRequest", EMPTY),
                        Read: rpc("ReadContentRequest", "ReadContentResponse", "out"),
                        Write: rpc("WriteContentRequest", "WriteContentResponse", "both"),
                        Abort: rpc("AbortRequest", EMPTY),
                      },
                    },
                    Info: message({
                      digest: one("string", 1),
                      size: one("int64", 2),
                      created_at: one(TIME, 3),
                      updated_at: one(TIME, 4),
                      labels: map("string", 5),
                    }),
                    InfoRequest: message({ digest: one("string", 1) }),
                    InfoResponse: message({ info: one("Info", 1) }),
                    UpdateRequest: message({ info: one("Info", 1), update_mask: one(MASK, 2) }),
                    UpdateResponse: message({ info: one("Info", 1) }),
                    ListContentRequest: message({ filters: many("string", 1) }),
                    ListContentResponse: message({ info: many("Info", 1) }),
                    DeleteContentRequest: message({ digest: one("string", 1) }),
                    ReadContentRequest: message({
                      digest: one("string", 1),
                      offset: one("int64", 2),
                      size: one("int64", 3),
                    }),
                    ReadContentResponse: message({
                      offset: one("int64", 1),
                      data: one("bytes", 2),
                    }),
                    WriteAction: { values: { STAT: 0, WRITE: 1, COMMIT: 2 } },
                    WriteContentRequest: message({
                      action: one("WriteAction", 1),
                      ref: one("string", 2),
                      total: one("int64", 3),
                      expected: one("string", 4),
                      offset: one("int64", 5),
                      data: one("bytes", 6),
                      labels: map("string", 7),
                    }),
                    WriteContentResponse: message({
                      action: one("WriteAction", 1),
                      started_at: one(TIME, 2),
                      updated_at: one(TIME, 3),
                      offset: one("int64", 4),
                      total: one("int64", 5),
                      digest: one("string", 6),
                    }),
                    AbortRequest: message({ ref: one("string", 1) }),
                  },
                },
              },
            },
            introspection: {
              nested: {
                v1: {
                  nested: {
                    Introspection: {
                      methods: { Plugins: rpc("PluginsRequest", "PluginsResponse") },
                    },
                    Plugin: message({
                      type: one("string", 1),
                      id: one("string", 2),
                      exports: map("string", 5),
                    }),
                    PluginsRequest: message({ filters: many("string", 1) }),
                    PluginsResponse: message({ plugins: many("Plugin", 1) }),
                  },
                },
              },
            },
            leases: {
              nested: {
                v1: {
                  nested: {
                    Leases: {
                      methods: {
                        Create: rpc("CreateRequest", "CreateResponse"),
                        Delete: rpc("DeleteRequest", EMPTY),
                        List: rpc("ListRequest", "ListResponse"),
                        AddResource: rpc("AddResourceRequest", EMPTY),
                        DeleteResource: rpc("DeleteResourceRequest", EMPTY),
                        ListResources: rpc("ListResourcesRequest", "ListResourcesResponse"),
                      },
                    },
                    Lease: message({
                      id: one("string", 1),
                      created_at: one(TIME, 2),
                      labels: map("string", 3),
                    }),
                    CreateRequest: message({ id: one("string", 1), labels: map("string", 3) }),
                    CreateResponse: message({ lease: one("Lease", 1) }),
                    DeleteRequest: message({ id: one("string", 1), sync: one("bool", 2) }),
                    ListRequest: message({ filters: many("string", 1) }),
                    ListResponse: message({ leases: many("Lease", 1) }),
                    Resource: message({ id: one("string", 1), type: one("string", 2) }),
                    AddResourceRequest: message({
                      id: one("string", 1),
                      resource: one("Resource", 2),
                    }),
                    DeleteResourceRequest: message({
                      id: one("string", 1),
                      resource: one("Resource", 2),
                    }),
                    ListResourcesRequest: message({ id: one("string", 1) }),
                    ListResourcesResponse: message({ resources: many("Resource", 1) }),
                  },
                },
              },
            },
          },
        },
      },
    },
  },
};

/** One gRPC method: its path and how to encode the request and decode the answer. */
export interface GrpcMethod {
  /** `/package.Service/Method`. */
  path: string;
  /** The request message as protobuf bytes. */
  requestSerialize: (value: unknown) => Uint8Array;
  /** A decoded answer: snake_case fields, int64 as numbers, enums as names, bytes as Buffer views. */
  responseDeserialize: (bytes: Uint8Array) => unknown;
  /** True for client-streaming methods. */
  requestStream: boolean;
  /** True for server-streaming methods. */
  responseStream: boolean;
}

/** The fully qualified service names of {@link CONTAINERD_PROTO}. */
export const SERVICES = {
  version: "containerd.services.version.v1.Version",
  namespaces: "containerd.services.namespaces.v1.Namespaces",
  images: "containerd.services.images.v1.Images",
  content: "containerd.services.content.v1.Content",
  leases: "containerd.services.leases.v1.Leases",
  introspection: "containerd.services.introspection.v1.Introspection",
} as const;

let methods: Promise<Map<string, GrpcMethod>> | undefined;

/**
 * A method of the described API, `service` being a key of {@link SERVICES}
 * (`content`) and `name` the method (`Read`). The table is built once, on
 * first use (`@grpc/proto-loader` is loaded then, not at import, so that
 * importing this module costs nothing). Unknown methods throw.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { grpcMethod } from "./descriptor.ts";
 * const read = await grpcMethod("content", "Read");
 * assert.equal(read.path, "/containerd.services.content.v1.Content/Read");
 * assert.ok(read.responseStream && !read.requestStream);
 * const bytes = read.requestSerialize({ digest: "sha256:ab", offset: 5, size: 7 });
 * assert.deepEqual([...bytes.subarray(0, 2)], [0x0a, 9]);
 * ```
 */
export async function grpcMethod(
  service: keyof typeof SERVICES,
  name: string,
): Promise<GrpcMethod> {
  methods ??= buildMethods();
  const m = (await methods).get(`${SERVICES[service]}/${name}`);
  if (!m) throw new Error(`containerd API method ${SERVICES[service]}/${name} is not described`);
  return m;
}

async function buildMethods(): Promise<Map<string, GrpcMethod>> {
  const { fromJSON } = await import("npm:@grpc/proto-loader@0.8.1");
  type Json = Parameters<typeof fromJSON>[0];
  const def = fromJSON(CONTAINERD_PROTO as unknown as Json, {
    longs: Number,
    enums: String,
    defaults: true,
    arrays: true,
    objects: true,
  });
  const out = new Map<string, GrpcMethod>();
  for (const service of Object.values(SERVICES)) {
    const svc = def[service] as Record<string, ProtoLoader.MethodDefinition<unknown, unknown>>;
    for (const [name, m] of Object.entries(svc)) {
      out.set(`${service}/${name}`, {
        path: m.path,
        requestSerialize: m.requestSerialize as (v: unknown) => Uint8Array,
        responseDeserialize: m.responseDeserialize as (b: Uint8Array) => unknown,
        requestStream: m.requestStream,
        responseStream: m.responseStream,
      });
    }
  }
  return out;
}
