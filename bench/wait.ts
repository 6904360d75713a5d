// Waiting in the benchmarks: poll until a probe answers, and who is primary right now. Shared by
// the failover benchmark and the chaos soak.
import type { Sandbox } from "../src/sandbox/cluster";
import { sleep } from "../src/sandbox/shell";

/** Polls `probe` until it returns a truthy value; fails naming `what` (and the last error) after timeoutMs. */
export async function waitUntil<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs: number, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    try {
      const v = await probe();
      if (v) return v as T;
    } catch (e) {
      last = (e as Error).message.split("\n")[0];
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? ` (${last})` : ""}`);
    await sleep(everyMs);
  }
}

/** The member among `candidates` that Patroni reports as the running primary (GET /primary → 200). */
export async function primaryAmong(sb: Sandbox, candidates: string[]): Promise<string | undefined> {
  for (const m of candidates) {
    const r = await sb.client.rest(m, "GET", "/primary", undefined, { timeoutMs: 800 }).catch(() => undefined);
    if (r?.status === 200) return m;
  }
  return undefined;
}
