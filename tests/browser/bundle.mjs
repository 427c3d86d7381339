// Better Auth's client for a test page: `source` (an ES module that sets window.authClient)
// bundled by esbuild into one script, from this folder's node_modules.
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = fileURLToPath(new URL(".", import.meta.url));

/** The script's text. */
export async function bundleClient(source) {
  const out = await build({
    stdin: { contents: source, resolveDir: here, loader: "js" },
    bundle: true,
    format: "iife",
    platform: "browser",
    write: false,
    logLevel: "error",
  });
  return out.outputFiles[0].text;
}
