// The maintenance window (`maintenance.window`): when the rollout may restart what a change left
// pending. RDS's notation, in UTC: "ddd:hh:mm-ddd:hh:mm" (e.g. "sun:02:00-sun:04:00"; a window
// may wrap the week, "sat:23:00-sun:01:00"); "always" restarts right after every rollout; no
// window (null) leaves every restart to an operator (`restart --pending`).

const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;
const WEEK = 7 * 24 * 60;
export const WINDOW_RE = /^(sun|mon|tue|wed|thu|fri|sat):([01]\d|2[0-3]):([0-5]\d)-(sun|mon|tue|wed|thu|fri|sat):([01]\d|2[0-3]):([0-5]\d)$/;
/** The shortest window (minutes): a rolling restart of a cluster takes minutes. */
export const MIN_WINDOW_MINUTES = 30;

export interface WeeklyWindow {
  /** Minutes since Sunday 00:00 UTC. */
  start: number;
  /** Length in minutes (the window may wrap past Saturday 24:00). */
  minutes: number;
}

/** Parses "ddd:hh:mm-ddd:hh:mm"; undefined when it is not one (see windowProblem for why). */
export function parseWindow(text: string): WeeklyWindow | undefined {
  const m = WINDOW_RE.exec(text.trim().toLowerCase());
  if (!m) return undefined;
  const at = (d: string, h: string, min: string) => DAYS.indexOf(d as (typeof DAYS)[number]) * 1440 + Number(h) * 60 + Number(min);
  const start = at(m[1], m[2], m[3]);
  const end = at(m[4], m[5], m[6]);
  return { start, minutes: (end - start + WEEK) % WEEK };
}

/** What is wrong with a window value, or undefined when it is valid ("always" and null are). */
export function windowProblem(value: string | null): string | undefined {
  if (value === null || value === "always") return undefined;
  const w = parseWindow(value);
  if (!w) return `is not a weekly window: write "ddd:hh:mm-ddd:hh:mm" in UTC (e.g. "sun:02:00-sun:04:00"), "always", or null`;
  if (w.minutes < MIN_WINDOW_MINUTES) return `is ${w.minutes} minutes long: a window must last at least ${MIN_WINDOW_MINUTES} minutes`;
  return undefined;
}

function minuteOfWeek(now: Date): number {
  return now.getUTCDay() * 1440 + now.getUTCHours() * 60 + now.getUTCMinutes();
}

export interface RestartDecision {
  /** Whether the rollout restarts what is pending now. */
  restart: boolean;
  /** Why, in words for the rollout's output. */
  reason: string;
}

/** Whether a rollout finishing at `now` restarts what is pending, under the stack's window. */
export function restartDecision(window: string | null, now: Date): RestartDecision {
  if (window === null) return { restart: false, reason: "no maintenance window: restarts are left to an operator (restart --pending)" };
  if (window === "always") return { restart: true, reason: "maintenance.window is always" };
  const w = parseWindow(window);
  if (!w) return { restart: false, reason: `maintenance.window ${window} is not a window: nothing restarted` };
  const into = (minuteOfWeek(now) - w.start + WEEK) % WEEK;
  if (into < w.minutes) return { restart: true, reason: `inside the maintenance window ${window} (UTC)` };
  const opens = new Date(now.getTime() + (WEEK - into) * 60_000);
  opens.setUTCSeconds(0, 0);
  return { restart: false, reason: `outside the maintenance window ${window} (UTC): left pending; the window next opens ${opens.toISOString().slice(0, 16)}Z` };
}
