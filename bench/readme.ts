// The README's benchmark tables are generated from bench/results/*.json, so the figures a reader
// sees are the ones a run measured (`npx pgha bench readme` rewrites them; a unit test checks).
import * as fs from "fs";
import * as path from "path";
import { replaceBetween } from "../src/config/reference";
import { formatTable, summarize } from "./failover";
import { formatBackupTable } from "./backup";

export const FAILOVER_BEGIN = "<!-- BEGIN failover table -->";
export const FAILOVER_END = "<!-- END failover table -->";
export const BACKUP_BEGIN = "<!-- BEGIN backup table -->";
export const BACKUP_END = "<!-- END backup table -->";

export function readmeWithBenchTables(readme: string, resultsDir: string): string {
  let out = readme;
  const failover = path.join(resultsDir, "failover.json");
  if (fs.existsSync(failover)) {
    const f = JSON.parse(fs.readFileSync(failover, "utf8"));
    out = replaceBetween(out, FAILOVER_BEGIN, FAILOVER_END, `${formatTable(summarize(f.runs))}\n\n_measured ${f.measuredAt}_`);
  }
  const backup = path.join(resultsDir, "backup.json");
  if (fs.existsSync(backup)) {
    const b = JSON.parse(fs.readFileSync(backup, "utf8"));
    out = replaceBetween(out, BACKUP_BEGIN, BACKUP_END, `${formatBackupTable(b.rows)}\n\n_measured ${b.measuredAt}, pgbench scale ${b.pgbenchScale}_`);
  }
  return out;
}
