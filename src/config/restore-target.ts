// A PostgreSQL recovery target as the config names it (restoreFrom.target): its value checked
// offline, before anything is created, in the words pgha-restore's own check uses on the node
// (pgha-restore validate), which then checks it against the source's restorable window.
import type { RestoreTargetType } from "./defaults";

/** A restore point name: what pg_create_restore_point accepts and the catalogue keeps. */
export const RESTORE_POINT_NAME_RE = /^[A-Za-z0-9_.:-]{1,63}$/;
/** A WAL position, X/Y in hex (0/3000060). */
export const LSN_RE = /^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/;
/** A timestamp PostgreSQL reads unambiguously: a date, a time and an explicit zone. */
const TIME_RE = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?\s*(Z|UTC|[+-]\d{2}(:?\d{2})?)$/i;

/** Why a target value does not fit its type (and what would), or undefined when it does. */
export function restoreTargetProblem(type: RestoreTargetType, value: unknown): { why: string; allowed: string } | undefined {
  if (type === "immediate") {
    return value === undefined || value === null ? undefined : { why: "is given with type immediate, which takes no value (the first consistent point of the newest backup)", allowed: "no value with type immediate" };
  }
  if (typeof value !== "string" || value.trim() === "") return { why: `is required with type ${type}`, allowed: ALLOWED[type] };
  const ok = {
    time: () => TIME_RE.test(value.trim()) && !Number.isNaN(Date.parse(value.trim().replace(" ", "T").replace(/\s*UTC$/i, "Z").replace(/([+-]\d{2})$/, "$1:00"))),
    name: () => RESTORE_POINT_NAME_RE.test(value),
    xid: () => /^[1-9]\d{0,19}$/.test(value),
    lsn: () => LSN_RE.test(value),
  }[type]();
  return ok ? undefined : { why: `does not fit target type ${type}`, allowed: ALLOWED[type] };
}

const ALLOWED: Record<Exclude<RestoreTargetType, "immediate">, string> = {
  time: "a timestamp with a zone, e.g. '2026-12-05 10:00:00+00'",
  name: "a restore point name: 1–63 letters, digits, _ . : -",
  xid: "a transaction id: digits",
  lsn: "a WAL position, e.g. 0/3000060",
};
