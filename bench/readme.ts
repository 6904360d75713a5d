// The README's benchmark tables are generated from bench/results/*.json, so the figures a reader
// sees are the ones a run measured (`npx pgha bench readme` rewrites them and failover.svg; unit
// tests check both are in step with the JSON).
import * as fs from "fs";
import * as path from "path";
import { replaceBetween } from "../src/config/reference";
import { failoverReadmeBlock, failoverSvg, readFailoverResults } from "./failover";
import { backupReadmeBlock, readBackupResults } from "./backup";
import { readmeWithDay2Table } from "./day2";
import { readmeWithPoolingTable } from "./pooling";
import { readmeWithStandbyTable } from "./standby";

export const FAILOVER_BEGIN = "<!-- BEGIN failover table -->";
export const FAILOVER_END = "<!-- END failover table -->";
export const BACKUP_BEGIN = "<!-- BEGIN backup table -->";
export const BACKUP_END = "<!-- END backup table -->";

export function readmeWithBenchTables(readme: string, resultsDir: string): string {
  let out = readme;
  const failover = path.join(resultsDir, "failover.json");
  if (fs.existsSync(failover)) out = replaceBetween(out, FAILOVER_BEGIN, FAILOVER_END, failoverReadmeBlock(readFailoverResults(failover)));
  const backup = path.join(resultsDir, "backup.json");
  if (fs.existsSync(backup)) out = replaceBetween(out, BACKUP_BEGIN, BACKUP_END, backupReadmeBlock(readBackupResults(backup)));
  return readmeWithStandbyTable(readmeWithPoolingTable(readmeWithDay2Table(out, resultsDir), resultsDir), resultsDir);
}

/** failover.svg as bench/results/failover.json draws it (undefined without results). */
export function failoverSvgFromResults(resultsDir: string): string | undefined {
  const failover = path.join(resultsDir, "failover.json");
  return fs.existsSync(failover) ? failoverSvg(readFailoverResults(failover)) : undefined;
}
