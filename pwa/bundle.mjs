// Build static/js/shell.bundle.js: the app shell's modules (the ones index.html preloads) in one
// file, so that a phone's first screen fetches one answer instead of eight (docs/performance.md,
// B7 round 8). Run `make bundle` after changing any of them; the bundle is committed.
//
// The bundle names its sources and a hash of them in its first lines. The server serves it, and
// an import map that sends each of those modules' addresses to it, only while the hash matches
// the modules as they are (pwa.shell_bundle); otherwise the modules themselves, so an edit shows
// at the next reload even before the bundle is built again, and a test fails until it is.
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const STATIC = join(dirname(fileURLToPath(import.meta.url)), "static");
const OUT = "js/shell.bundle.js";

// The shell's modules: index.html's <link rel="modulepreload"> of /js/*.js (not the views').
const html = readFileSync(join(STATIC, "index.html"), "utf8");
const shell = [...html.matchAll(/<link rel="modulepreload" href="\/(js\/[\w-]+\.js)">/g)].map((m) => m[1]);
if (!shell.includes("js/app.js")) throw new Error("index.html preloads no js/app.js");
const library = shell.filter((name) => name !== "js/app.js");

// Every export of the shell's modules (views import them by their own addresses, which the import
// map sends here), then the app itself, which starts when evaluated. The views and the developer
// key form stay modules of their own.
const entry = [...library.map((name) => `export * from "./${name}";`), `import "./js/app.js";`].join("\n");

const result = await build({
  stdin: { contents: entry, resolveDir: STATIC, sourcefile: "shell.js", loader: "js" },
  absWorkingDir: STATIC,
  bundle: true,
  format: "esm",
  external: ["./views/*", "./dev-key.js"],
  metafile: true,
  write: false,
  legalComments: "none",
  logLevel: "warning",
});

// What went in, in esbuild's order: each is served as this bundle while the hash holds.
const sources = Object.keys(result.metafile.inputs).filter((name) => name !== "shell.js");
const missing = shell.filter((name) => !sources.includes(name));
if (missing.length) throw new Error(`not in the bundle: ${missing.join(" ")}`);
const hash = createHash("sha256");
for (const name of sources) {
  hash.update(name + "\0");
  hash.update(readFileSync(join(STATIC, name)));
  hash.update("\0");
}
const banner = [
  "// The app shell's modules in one file: built by pwa/bundle.mjs (esbuild), `make bundle`.",
  "// Do not edit; served in their place only while it matches them (pwa.shell_bundle).",
  `// sources: ${sources.join(" ")} sha256:${hash.digest("hex")}`,
  "",
].join("\n");
writeFileSync(join(STATIC, OUT), banner + result.outputFiles[0].text);
console.log(`${OUT}: ${sources.length} modules, ${result.outputFiles[0].text.length} bytes`);
