// How often a five-field cron expression fires (the backup schedules drive the repository's size).
// Only what the config schema accepts: *, n, a-b, */s, a-b/s and comma lists of those.

const FIELDS = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12 },
  { name: "day of week", min: 0, max: 7 },
] as const;

function values(field: string, min: number, max: number, what: string): Set<number> {
  const out = new Set<number>();
  for (const part of field.split(",")) {
    const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (!m) throw new Error(`cron ${what}: cannot read ${JSON.stringify(part)}`);
    const from = m[1] === "*" ? min : Number(m[2]);
    const to = m[1] === "*" ? max : m[3] !== undefined ? Number(m[3]) : m[4] !== undefined ? max : from;
    const step = m[4] !== undefined ? Number(m[4]) : 1;
    if (step < 1 || from < min || to > max || from > to) throw new Error(`cron ${what}: ${JSON.stringify(part)} is out of range ${min}-${max}`);
    for (let v = from; v <= to; v += step) out.add(v);
  }
  return out;
}

interface Schedule {
  minutes: number[];
  hours: number[];
  /** Whether the schedule runs on this day (UTC). */
  runsOn(day: Date): boolean;
}

function parseCron(cron: string): Schedule {
  const f = cron.trim().split(/\s+/);
  if (f.length !== 5) throw new Error(`cron ${JSON.stringify(cron)}: five fields expected`);
  const [minutes, hours, dom, months, dow] = FIELDS.map((d, i) => values(f[i], d.min, d.max, `${d.name} in ${JSON.stringify(cron)}`));
  if (dow.has(7)) dow.add(0);
  const domRestricted = f[2] !== "*";
  const dowRestricted = f[4] !== "*";
  return {
    minutes: [...minutes].sort((a, b) => a - b),
    hours: [...hours].sort((a, b) => a - b),
    runsOn(day: Date) {
      if (!months.has(day.getUTCMonth() + 1)) return false;
      const domOk = dom.has(day.getUTCDate());
      const dowOk = dow.has(day.getUTCDay());
      // cron: with both day fields restricted, a day matches either of them.
      return domRestricted && dowRestricted ? domOk || dowOk : domOk && dowOk;
    },
  };
}

/** Average number of runs per day of `cron` over a common (non-leap) year. */
export function runsPerDay(cron: string): number {
  const s = parseCron(cron);
  let days = 0;
  const day = new Date(Date.UTC(2025, 0, 1)); // 2025: a common year
  for (let i = 0; i < 365; i++, day.setUTCDate(day.getUTCDate() + 1)) if (s.runsOn(day)) days++;
  return (days * s.minutes.length * s.hours.length) / 365;
}

/**
 * The longest time between two consecutive runs of `cron`, in seconds (over 400 days from
 * 2025-01-01, UTC): how old the newest result of a job may be while its schedule is kept.
 */
export function longestGapSeconds(cron: string): number {
  const s = parseCron(cron);
  let prev: number | undefined;
  let worst = 0;
  const day = new Date(Date.UTC(2025, 0, 1));
  for (let i = 0; i < 400; i++, day.setUTCDate(day.getUTCDate() + 1)) {
    if (!s.runsOn(day)) continue;
    for (const h of s.hours) {
      for (const m of s.minutes) {
        const t = day.getTime() / 1000 + h * 3600 + m * 60;
        if (prev !== undefined) worst = Math.max(worst, t - prev);
        prev = t;
      }
    }
  }
  if (prev === undefined) throw new Error(`cron ${JSON.stringify(cron)} never runs`);
  return worst;
}
