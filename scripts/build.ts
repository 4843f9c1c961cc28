// `npm run build` (after tsc): the CLI as one bundled, tree-shaken, minified ESM file, which is what the image,
// the package's bin, `npm run bench` and the end-to-end tests run (ADR 8). Loading one file instead of about
// two thousand module files is what brings the controller's resident memory down; BENCHMARKS.md has the figures.
//
//   node scripts/build.ts              dist/cli/azure-route-controller.js (+ .js.map)
//   node scripts/build.ts --split      per-command chunks in dist/cli-split/ instead (code splitting: each
//                                      command's modules in chunks loaded on use); measured against the one
//                                      file in BENCHMARKS.md ("Memory: one flag at a time"), which ships
//   node scripts/build.ts --metafile   also writes dist/cli/bundle-meta.json (esbuild's input/output sizes)
//
// The bundle sits two levels below package.json, like dist/cli/main.js, so src/cli/build-info.ts finds
// ../../package.json and ../build-info.json from either.
import { build, type Plugin } from 'esbuild';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
export const BUNDLE = 'dist/cli/azure-route-controller.js';

const { values } = parseArgs({
  options: { split: { type: 'boolean', default: false }, metafile: { type: 'boolean', default: false } },
});

// Some CommonJS dependencies call require() for Node built-ins; an ESM bundle has no require of its own.
const banner = [
  "import { createRequire as __arcCreateRequire } from 'node:module';",
  'const require = __arcCreateRequire(import.meta.url);',
].join('\n');

// V8 holds a script's source as a string for as long as the script lives: one byte per character when every
// character is ASCII, two for all of them when even one is not. esbuild escapes non-ASCII characters in strings
// but leaves regular expression literals as they are, and one dependency has typographic quotes in one, which
// doubled the 4.8 MB bundle's source to 9.6 MB of heap (BENCHMARKS.md). So non-ASCII characters in dependencies'
// regular expressions are escaped as they are loaded (\uXXXX means the same character in a regex), and the build
// fails if any non-ASCII character is left in the output.
const asciiOnly: Plugin = {
  name: 'ascii-only',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]powershell-utils[\\/].*\.js$/ }, (args) => ({
      contents: readFileSync(args.path, 'utf8').replace(
        /[\u0080-\uffff]/g,
        (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
      ),
      loader: 'js',
    }));
  },
};

// Node's global FormData is Node's own copy of undici (745 KB of JavaScript), loaded and evaluated the first
// time anything reads the global: 16 MB of resident memory in a fresh process (BENCHMARKS.md, "Where the memory
// goes"). The Azure SDK's HTTP runtime reads it on every request, only to ask whether the body is a FormData
// ("typeof FormData !== 'undefined' && body instanceof FormData"). This CLI never sends one, so in those modules
// the name is bound to undefined and the test is false without loading anything. Other modules are untouched
// (client-node uses the undici package's own FormData, imported by name). If an upgrade moves the test, the
// build fails rather than silently loading the global again.
const FORM_DATA_PROBES =
  /[\\/]node_modules[\\/]@typespec[\\/]ts-http-runtime[\\/]dist[\\/]esm[\\/](formData|client[\\/]sendRequest)\.js$/;
const FORM_DATA_PROBE = 'typeof FormData !== "undefined" && body instanceof FormData';
const noGlobalFormData: Plugin = {
  name: 'no-global-form-data',
  setup(b) {
    b.onLoad({ filter: FORM_DATA_PROBES }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      if (!source.includes(FORM_DATA_PROBE)) {
        throw new Error(
          `build: ${args.path} no longer reads the global FormData as expected ("${FORM_DATA_PROBE}"); re-check scripts/build.ts's no-global-form-data plugin`,
        );
      }
      return { contents: `const FormData = undefined;\n${source}`, loader: 'js' };
    });
  },
};

// Importing node:http as an ES module loads Node's own copy of undici too: the module facade reads every
// export of node:http once, and three of them (WebSocket, CloseEvent, MessageEvent) are getters that load it
// (the FormData note above: 16 MB). Through require() nothing is read until it is used. So in the bundle,
// `import ... from 'node:http'` becomes a module that require()s it and re-exports what the dependencies
// import by name; a name not in the list fails the build, and the three getters are left out on purpose.
const HTTP_EXPORTS = [
  'Agent',
  'ClientRequest',
  'IncomingMessage',
  'STATUS_CODES',
  'Server',
  'ServerResponse',
  'createServer',
  'get',
  'request',
  'validateHeaderName',
  'validateHeaderValue',
  'METHODS',
];
const httpThroughRequire: Plugin = {
  name: 'http-through-require',
  setup(b) {
    // Only ES imports: a require('node:http') in a CommonJS dependency stays as it is (it already is lazy).
    b.onResolve({ filter: /^(node:)?http$/ }, (args) =>
      args.kind === 'import-statement' || args.kind === 'dynamic-import'
        ? { path: 'node:http', namespace: 'http-through-require' }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'http-through-require' }, () => ({
      contents: [
        "import { createRequire } from 'node:module';",
        "const http = createRequire(import.meta.url)('node:http');",
        'export default http;',
        ...HTTP_EXPORTS.map((name) => `export const ${name} = http.${name};`),
      ].join('\n'),
      loader: 'js',
    }));
  },
};

const result = await build({
  absWorkingDir: ROOT,
  entryPoints: { 'azure-route-controller': 'src/cli/main.ts' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22.19',
  minify: true,
  // Names stay: error classes are reported by name (err.name) and stack traces stay readable.
  keepNames: true,
  sourcemap: 'linked',
  // Paths in the map relative to the repository, not to this machine.
  sourceRoot: undefined,
  banner: { js: banner },
  charset: 'ascii',
  plugins: [asciiOnly, noGlobalFormData, httpThroughRequire],
  legalComments: 'none',
  ...(values.split
    ? { splitting: true, outdir: 'dist/cli-split', chunkNames: '[name]-[hash]', entryNames: '[name]' }
    : { outfile: BUNDLE }),
  metafile: true,
  logLevel: 'warning',
  // Written below, each file under a temporary name and then renamed: a test process that checks the bundle
  // while another rebuilds it (test/support/cli.ts) sees the old file or the new one, never half of one.
  write: false,
});

for (const file of result.outputFiles) {
  const nonAscii = file.path.endsWith('.js') ? /[\u0080-\uffff]/.exec(file.text) : null;
  if (nonAscii) {
    const at = nonAscii.index;
    throw new Error(
      `build: ${file.path} has a non-ASCII character (${JSON.stringify(file.text.slice(at - 40, at + 10))}): V8 would hold the whole bundle as a two-byte string; escape it in scripts/build.ts's ascii-only plugin`,
    );
  }
  mkdirSync(dirname(file.path), { recursive: true });
  const temporary = `${file.path}.${process.pid}.tmp`;
  writeFileSync(temporary, file.contents, { mode: file.path.endsWith('.js') ? 0o755 : 0o644 });
  renameSync(temporary, file.path);
}

if (values.metafile) writeFileSync(`${ROOT}dist/cli/bundle-meta.json`, JSON.stringify(result.metafile));
const outputs = Object.entries(result.metafile.outputs).filter(([path]) => !path.endsWith('.map'));
const bytes = outputs.reduce((sum, [, o]) => sum + o.bytes, 0);
process.stderr.write(
  `build: ${outputs.length} file(s), ${(bytes / 1e6).toFixed(2)} MB, from ${Object.keys(result.metafile.inputs).length} inputs\n`,
);
