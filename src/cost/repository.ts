// How much the backup bucket holds, estimated from the data volume's size, the backup schedules
// and retention of the stack config, and the stated change rate (assumptions.ts). pgBackRest
// keeps full backups by time (backup.fullRetentionDays) with their differentials and the WAL
// they need; logical dumps expire by lifecycle after backup.logicalRetentionWeeks (moved to
// STANDARD_IA after backup.logicalInfrequentAccessAfterDays); the bucket is versioned, so what is
// expired stays as a noncurrent version for backup.noncurrentVersionRetentionDays.
import type { StackConfig } from "../config/defaults";
import type { AssumptionValues } from "./assumptions";
import { runsPerDay } from "./cron";

export interface RepositoryPart {
  what: string;
  storageClass: "STANDARD" | "STANDARD_IA";
  gib: number;
}

export interface RepositoryEstimate {
  databaseGiB: number;
  parts: RepositoryPart[];
  standardGiB: number;
  standardIaGiB: number;
  /** The pgBackRest repository alone (backups, WAL, their noncurrent versions): what backup.secondRepository copies. */
  physicalGiB: number;
  /** New backup and WAL bytes a day: what S3 Replication transfers to the second region. */
  physicalWrittenPerDayGiB: number;
  /** How the figures were reached, in words (printed beside the S3 lines). */
  basis: string;
}

export type BackupSettings = Pick<
  StackConfig["backup"],
  "fullSchedule" | "diffSchedule" | "incrSchedule" | "logicalSchedule" | "fullRetentionDays" | "logicalRetentionWeeks" | "logicalInfrequentAccessAfterDays" | "noncurrentVersionRetentionDays"
>;

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

export function repositoryEstimate(dataVolumeGiB: number, backup: BackupSettings, a: AssumptionValues): RepositoryEstimate {
  const db = dataVolumeGiB * a.databaseFillRatio;
  const full = db * a.backupCompressionRatio;
  const walPerDay = db * a.dailyChangeRatio * a.backupCompressionRatio;
  const fullsPerDay = runsPerDay(backup.fullSchedule);
  const diffsPerDay = backup.diffSchedule ? runsPerDay(backup.diffSchedule) : 0;
  const incrsPerDay = backup.incrSchedule ? runsPerDay(backup.incrSchedule) : 0;
  const retention = backup.fullRetentionDays;
  // Time-based retention keeps every full of the window plus the one the window starts from.
  const fullsKept = fullsPerDay > 0 ? Math.ceil(fullsPerDay * retention) + 1 : 1;
  // A differential holds what changed since its full: on average half a full-to-full interval.
  const fullInterval = fullsPerDay > 0 ? 1 / fullsPerDay : retention;
  const diff = Math.min(full, walPerDay * fullInterval * 0.5);
  // An incremental holds what changed since the previous backup of any kind.
  const incr = incrsPerDay > 0 ? Math.min(full, walPerDay / (fullsPerDay + diffsPerDay + incrsPerDay)) : 0;
  const walDays = retention + fullInterval;

  const logicalPerDay = backup.logicalSchedule ? runsPerDay(backup.logicalSchedule) : 0;
  const logicalDays = backup.logicalRetentionWeeks * 7;
  const iaAfter = backup.logicalInfrequentAccessAfterDays;
  const logicalStandardDays = iaAfter === null ? logicalDays : Math.min(iaAfter, logicalDays);
  const logicalIaDays = logicalDays - logicalStandardDays;
  const noncurrentDays = backup.noncurrentVersionRetentionDays;
  const physicalExpiredPerDay = fullsPerDay * full + diffsPerDay * diff + incrsPerDay * incr + walPerDay;

  const parts: RepositoryPart[] = [
    { what: `${fullsKept} full backups`, storageClass: "STANDARD", gib: fullsKept * full },
    { what: "differential and incremental backups", storageClass: "STANDARD", gib: (diffsPerDay * diff + incrsPerDay * incr) * retention },
    { what: `WAL archive (${round(walDays)} days)`, storageClass: "STANDARD", gib: walPerDay * walDays },
    { what: `expired backups and WAL kept as noncurrent versions (${noncurrentDays} days)`, storageClass: "STANDARD", gib: physicalExpiredPerDay * noncurrentDays },
    { what: `logical dumps (first ${logicalStandardDays} days)`, storageClass: "STANDARD", gib: logicalPerDay * logicalStandardDays * full },
    { what: `logical dumps (days ${logicalStandardDays + 1}–${logicalDays})`, storageClass: "STANDARD_IA", gib: logicalPerDay * logicalIaDays * full },
    { what: `expired logical dumps kept as noncurrent versions (${noncurrentDays} days)`, storageClass: logicalIaDays > 0 ? "STANDARD_IA" : "STANDARD", gib: logicalPerDay * noncurrentDays * full },
  ].filter((p) => p.gib > 0) as RepositoryPart[];
  const sum = (c: RepositoryPart["storageClass"]) => parts.filter((p) => p.storageClass === c).reduce((s, p) => s + p.gib, 0);
  const basis =
    `database ${round(db)} GiB (${a.databaseFillRatio * 100}% of the ${dataVolumeGiB} GiB data volume); full backup ${round(full)} GiB ` +
    `(compressed to ${a.backupCompressionRatio * 100}%); WAL ${round(walPerDay, 2)} GiB/day compressed (change rate ${a.dailyChangeRatio * 100}%/day); ` +
    parts.map((p) => `${p.what} ${round(p.gib)} GiB${p.storageClass === "STANDARD_IA" ? " (IA)" : ""}`).join(", ");
  const physicalGiB = parts.filter((p) => !p.what.includes("logical")).reduce((s, p) => s + p.gib, 0);
  return { databaseGiB: db, parts, standardGiB: sum("STANDARD"), standardIaGiB: sum("STANDARD_IA"), physicalGiB, physicalWrittenPerDayGiB: physicalExpiredPerDay, basis };
}
