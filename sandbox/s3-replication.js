#!/usr/bin/env node
// The sandbox's stand-in for S3 Replication (cross-region replication of one key prefix), which
// s3rver does not implement: what the stack configures on AWS with a BucketReplicationConfig
// (components/secondRegionRepository.ts) is done here between the two regions' s3rver data
// directories. Like S3 Replication it is asynchronous and one-way, copies new and overwritten
// objects, replicates deletions (delete markers), and keeps a backlog while either region's
// endpoint is down, catching up when it returns. The nodes never call it: they see two buckets.
//
//   node s3-replication.js <source bucket dir> <source pid file> <dest bucket dir> <dest pid file>
//                          <prefix>[,<prefix>…] <interval ms> <status file>
//
// s3rver stores an object as <key>._S3rver_object plus <key>._S3rver_object.md5 and
// <key>._S3rver_metadata.json, and reads them from disk on every request: the metadata and the
// checksum are copied first and the object last, each through a temporary file and a rename, so
// a reader never sees half an object.
"use strict";
const fs = require("fs");
const path = require("path");

const [srcDir, srcPidFile, dstDir, dstPidFile, prefixList, intervalText, statusFile] = process.argv.slice(2);
if (!statusFile) {
  process.stderr.write("usage: s3-replication.js <src dir> <src pid file> <dst dir> <dst pid file> <prefix> <interval ms> <status file>\n");
  process.exit(2);
}
const intervalMs = Number(intervalText);
const prefixes = (prefixList || "").split(",").filter(Boolean);
const OBJECT = "._S3rver_object";
const SIDE_FILES = [`${OBJECT}.md5`, "._S3rver_metadata.json"];
const tmpDir = path.join(path.dirname(statusFile), "replication-tmp");
fs.mkdirSync(tmpDir, { recursive: true });

function running(pidFile) {
  try {
    const pid = Number(fs.readFileSync(pidFile, "utf8").trim());
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Every object key under the replicated prefixes, with its md5 (as s3rver recorded it). */
function objects(bucketDir) {
  const out = new Map();
  const walk = (dir, rel) => {
    let entries;
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const full = path.join(dir, e.name);
      const key = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(full, key);
      else if (e.name.endsWith(OBJECT)) {
        const k = key.slice(0, -OBJECT.length);
        let md5 = "";
        try {
          md5 = fs.readFileSync(`${full}.md5`, "utf8");
        } catch {
          continue; // being written: the next pass takes it
        }
        out.set(k, md5);
      }
    }
  };
  for (const prefix of prefixes) walk(path.join(bucketDir, prefix), prefix.replace(/\/+$/, ""));
  return out;
}

let seq = 0;
function copyFile(from, to) {
  const tmp = path.join(tmpDir, `${process.pid}-${seq++}`);
  fs.copyFileSync(from, tmp);
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.renameSync(tmp, to);
}

const totals = { copied: 0, deleted: 0, passes: 0 };
function pass() {
  const state = { at: new Date().toISOString(), source: running(srcPidFile), destination: running(dstPidFile), pending: 0 };
  if (state.source && state.destination) {
    const src = objects(srcDir);
    const dst = objects(dstDir);
    for (const [key, md5] of src) {
      if (dst.get(key) === md5) continue;
      try {
        for (const side of SIDE_FILES) copyFile(path.join(srcDir, key + side), path.join(dstDir, key + side));
        copyFile(path.join(srcDir, key + OBJECT), path.join(dstDir, key + OBJECT));
        totals.copied++;
      } catch {
        state.pending++; // deleted or rewritten meanwhile: the next pass sees its new state
      }
    }
    for (const key of dst.keys()) {
      if (src.has(key)) continue;
      for (const suffix of [OBJECT, ...SIDE_FILES]) fs.rmSync(path.join(dstDir, key + suffix), { force: true });
      totals.deleted++;
    }
    state.replicatedAt = state.at;
  } else {
    // A region's endpoint is down: nothing moves, the backlog waits (as S3 Replication retries).
    let last = {};
    try {
      last = JSON.parse(fs.readFileSync(statusFile, "utf8"));
    } catch {}
    state.replicatedAt = last.replicatedAt ?? null;
  }
  totals.passes++;
  fs.writeFileSync(`${statusFile}.tmp`, JSON.stringify({ ...state, ...totals }));
  fs.renameSync(`${statusFile}.tmp`, statusFile);
}

function loop() {
  try {
    pass();
  } catch (e) {
    process.stderr.write(`${new Date().toISOString()} replication pass failed: ${e && e.stack ? e.stack : e}\n`);
  }
  setTimeout(loop, intervalMs);
}
process.on("SIGTERM", () => process.exit(0));
loop();
