/**
 * A separate process that resolves a registry image, for tests of
 * process-wide settings (`DENO_CERT`, `DOCKER_CONFIG`, `PATH`):
 * `deno run -A registry_cli_probe.ts docker://HOST/REPO:TAG '{"user":"u:p","plainHttp":false}'`.
 * Prints the manifest digest; on failure prints the error message to
 * stderr and exits 1.
 *
 * @module
 */
import { RegistrySource } from "../../lib/image/registry_source.ts";

if (import.meta.main) {
  const opts = JSON.parse(Deno.args[1] ?? "{}");
  try {
    const src = await RegistrySource.open(Deno.args[0], { ...opts, maxRetries: 0 });
    try {
      console.log((await src.resolve()).digest);
    } finally {
      await src.close();
    }
  } catch (e) {
    console.error((e as Error).message);
    Deno.exit(1);
  }
}
