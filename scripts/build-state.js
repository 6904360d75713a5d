// Whether dist/ (the compiled CLI and program, `npm run build`) was built from the sources as they
// are now. bin/pgha asks before every run, so it has to be cheap and plain JavaScript: it stats
// the compiled sources (a few ms) and compares them with the list the build recorded in
// dist/.build-stamp. Any difference counts — an edited, added, removed or renamed file, an mtime
// that went backwards (a checkout, `cp -p`) — so a build that no longer matches is never run.
// Templates and other files read at run time are not compiled, so they are not part of it.
"use strict";
const fs = require("fs");
const path = require("path");

const BUILD_DIR = "dist";
const STAMP = path.join(BUILD_DIR, ".build-stamp");
/** What bin/pgha runs from a build. */
const COMPILED_ENTRY = path.join(BUILD_DIR, "src", "cli", "main.js");
/** What tsc compiles (tsconfig.build.json's include) and the compiler options that shape its output. */
const SOURCE_DIRS = ["src", "components", "bench", "policies"];
const SOURCE_FILES = ["index.ts", "tsconfig.json", "tsconfig.build.json"];
const SKIP_DIRS = new Set(["node_modules", BUILD_DIR]);

/** Every file below root/rel (paths relative to root), not descending into directories named in `skip`. */
function filesUnder(root, rel, skip = new Set()) {
  const files = [];
  const walk = (dir) => {
    let entries;
    try {
      entries = fs.readdirSync(path.join(root, dir), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const child = path.join(dir, e.name);
      if (!e.isDirectory()) files.push(child);
      else if (!skip.has(e.name)) walk(child);
    }
  };
  walk(rel);
  return files;
}

/** relative path → "size:mtimeMs" for every compiled source under root (sorted by path). */
function sourceFingerprint(root) {
  const files = {};
  const add = (rel) => {
    let st;
    try {
      st = fs.statSync(path.join(root, rel));
    } catch {
      return; // absent (e.g. no tsconfig.build.json in an old tree): absence is part of the state
    }
    if (st.isFile()) files[rel.split(path.sep).join("/")] = `${st.size}:${st.mtimeMs}`;
  };
  for (const d of SOURCE_DIRS) for (const f of filesUnder(root, d, SKIP_DIRS)) if (f.endsWith(".ts")) add(f);
  for (const f of SOURCE_FILES) add(f);
  return Object.fromEntries(Object.entries(files).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Compares a recorded fingerprint with the current one. Pure: returns undefined when they are
 * equal, else the first difference as a short phrase ("src/cli/main.ts changed").
 */
function fingerprintDifference(built, now) {
  for (const [file, sig] of Object.entries(now)) {
    if (!(file in built)) return `${file} is new`;
    if (built[file] !== sig) return `${file} changed`;
  }
  for (const file of Object.keys(built)) if (!(file in now)) return `${file} was removed`;
  return undefined;
}

/**
 * Compiled files in dist/ whose source no longer exists (a .ts deleted, renamed, or turned into a
 * folder), as paths relative to root. tsc never deletes them, and Node would still load them:
 * once src/sandbox/hosts.ts became src/sandbox/hosts/index.ts, `require("./hosts")` in dist/
 * would resolve to the old dist/src/sandbox/hosts.js before the folder. The build deletes them.
 */
function orphanedOutputs(root, sources) {
  const orphans = [];
  for (const file of filesUnder(root, BUILD_DIR)) {
    const compiled = /^(.*)\.js(?:\.map)?$/.exec(file);
    if (!compiled) continue;
    const source = `${path.relative(BUILD_DIR, compiled[1]).split(path.sep).join("/")}.ts`;
    if (!(source in sources)) orphans.push(file.split(path.sep).join("/"));
  }
  return orphans.sort();
}

function readStamp(root) {
  try {
    const stamp = JSON.parse(fs.readFileSync(path.join(root, STAMP), "utf8"));
    return stamp && typeof stamp.sources === "object" ? stamp : undefined;
  } catch {
    return undefined;
  }
}

/**
 * { fresh: true } when dist/ was built from exactly the current sources; otherwise
 * { fresh: false, built: false } (no build, or one that did not finish) or
 * { fresh: false, built: true, reason } (a build of other sources).
 */
function buildState(root) {
  const stamp = readStamp(root);
  if (!stamp || !fs.existsSync(path.join(root, COMPILED_ENTRY))) return { fresh: false, built: false, reason: "no build in dist/" };
  const reason = fingerprintDifference(stamp.sources, sourceFingerprint(root));
  return reason === undefined ? { fresh: true, built: true } : { fresh: false, built: true, reason };
}

/**
 * What bin/pgha runs, from the build's state and PGHA_RUNTIME (pure):
 *   { run: "js" }                       the build matches the sources
 *   { run: "ts", note? }                the sources through ts-node; a note for stderr when a build
 *                                       exists but no longer matches (no build at all: just slower)
 *   { run: "refuse", note }             PGHA_RUNTIME=js without a matching build, or a bad value
 */
function chooseRuntime(state, runtimeEnv) {
  const wanted = runtimeEnv ?? "";
  if (!["", "js", "ts"].includes(wanted)) return { run: "refuse", note: `PGHA_RUNTIME must be js, ts or unset, not ${JSON.stringify(wanted)}` };
  if (wanted === "ts") return { run: "ts" };
  if (state.fresh) return { run: "js" };
  if (wanted === "js") return { run: "refuse", note: `PGHA_RUNTIME=js but dist/ does not match the sources (${state.reason}): run npm run build` };
  if (!state.built) return { run: "ts" };
  return { run: "ts", note: `dist/ is out of date (${state.reason}); running the TypeScript sources — npm run build makes pgha fast again` };
}

/** Records that dist/ holds the build of `sources` (taken before the compiler started) by tsc `compiler`. */
function writeStamp(root, sources, compiler) {
  const file = path.join(root, STAMP);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify({ format: "pgha-build/1", builtAt: new Date().toISOString(), compiler, sources }, null, 1) + "\n");
  fs.renameSync(tmp, file); // atomic: a concurrent bin/pgha sees the old stamp or the new one
}

function removeStamp(root) {
  fs.rmSync(path.join(root, STAMP), { force: true });
}

module.exports = { BUILD_DIR, STAMP, COMPILED_ENTRY, sourceFingerprint, fingerprintDifference, orphanedOutputs, buildState, chooseRuntime, readStamp, writeStamp, removeStamp };
