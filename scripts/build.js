#!/usr/bin/env node
// `npm run build` (and `prepare`, which `npm ci` runs): compiles the CLI and the program into dist/
// with tsc (tsconfig.build.json, incremental, type-checked), then records in dist/.build-stamp
// which sources it was built from, so bin/pgha runs dist/ only while it matches them.
//
//   node scripts/build.js              build (quick when little changed)
//   node scripts/build.js --if-stale   do nothing when dist/ already matches the sources and the
//                                      compiler (prepare: `npm ci`, and the first `npx pgha` of a
//                                      checkout, which links the project into npm's npx cache)
//
// Exits with tsc's status. With type errors tsc still writes every file (as ts-node's transpile-only
// mode would run them), so the stamp is written then too and pgha stays fast while you fix them.
"use strict";
const { spawnSync } = require("child_process");
const fs = require("fs");
const path = require("path");
const { BUILD_DIR, buildState, orphanedOutputs, readStamp, removeStamp, sourceFingerprint, writeStamp } = require("./build-state");

const root = path.resolve(__dirname, "..");
const TSCONFIG = "tsconfig.build.json";
const BUILD_INFO = path.join(BUILD_DIR, ".tsbuildinfo");
/** tsc's exit statuses that mean "files were written" (0: clean, 2: with type errors). */
const OUTPUTS_WRITTEN = new Set([0, 2]);

function log(line) {
  process.stderr.write(`[build] ${line}\n`);
}

function compilerVersion() {
  return require(require.resolve("typescript/package.json", { paths: [root] })).version;
}

function tsc() {
  const bin = require.resolve("typescript/bin/tsc", { paths: [root] });
  const r = spawnSync(process.execPath, [bin, "-p", TSCONFIG], { cwd: root, stdio: "inherit" });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

/** Compiled sources whose .js is missing (an incremental build trusts its .tsbuildinfo, not the files). */
function missingOutputs(sources) {
  return Object.keys(sources)
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))
    .map((f) => path.join(BUILD_DIR, f.replace(/\.ts$/, ".js")))
    .filter((js) => !fs.existsSync(path.join(root, js)));
}

function main() {
  if (process.argv.includes("--if-stale")) {
    const state = buildState(root);
    const builtBy = readStamp(root)?.compiler;
    if (state.fresh && builtBy === compilerVersion()) return 0;
    log(`dist/ is out of date (${state.fresh ? `built by tsc ${builtBy ?? "?"}, now ${compilerVersion()}` : state.reason}): building`);
  }
  const started = Date.now();
  // While tsc writes, dist/ matches nothing: a pgha started meanwhile runs the sources.
  removeStamp(root);
  // Taken before tsc reads anything: a file saved during the build makes the stamp disagree.
  const sources = sourceFingerprint(root);
  // Outputs of sources that are gone would still be loaded (hosts.js before hosts/index.js).
  const orphans = orphanedOutputs(root, sources);
  for (const file of orphans) fs.rmSync(path.join(root, file), { force: true });
  if (orphans.length > 0) log(`removed ${orphans.length} compiled file(s) whose source is gone, e.g. ${orphans[0]}`);
  let status = tsc();
  if (OUTPUTS_WRITTEN.has(status) && missingOutputs(sources).length > 0) {
    log(`${missingOutputs(sources)[0]} is missing (deleted after the last build?): building everything again`);
    fs.rmSync(path.join(root, BUILD_INFO), { force: true });
    status = tsc();
  }
  if (!OUTPUTS_WRITTEN.has(status)) {
    log(`tsc exited with ${status} without writing dist/; pgha runs the TypeScript sources until a build succeeds`);
    return status;
  }
  const missing = missingOutputs(sources);
  if (missing.length > 0) {
    log(`tsc did not write ${missing.join(", ")} (is it outside tsconfig.build.json's include?); pgha runs the TypeScript sources`);
    return 1;
  }
  writeStamp(root, sources, compilerVersion());
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  log(status === 0 ? `dist/ built in ${seconds} s` : `dist/ built in ${seconds} s, with the type errors above (npm run typecheck)`);
  return status;
}

process.exitCode = main();
