// The machine a benchmark ran on, recorded with its results: figures from a loaded 2-core box and
// from an idle 16-core one are different figures, and the table says which it was.
import * as os from "os";

export interface MachineInfo {
  node: string;
  cpus: number;
  /** os.release(); absent in results recorded before it was. */
  kernel?: string;
  loadAverageBefore: number[];
  loadAverageAfter: number[];
}

/** This machine, now; `loadAverageBefore` is os.loadavg() taken when the benchmark started. */
export function machineInfo(loadAverageBefore: number[]): MachineInfo {
  return { node: process.version, cpus: os.cpus().length, kernel: os.release(), loadAverageBefore, loadAverageAfter: os.loadavg() };
}

/** "node v20.20.2, 2 cores, load average 7.6 7.6 8.4 before / 3.8 5.7 7.3 after" (+ the kernel when recorded). */
export function describeMachine(m: MachineInfo): string {
  const load = (l: number[]) => l.map((x) => x.toFixed(1)).join(" ");
  return `node ${m.node}, ${m.cpus} cores${m.kernel ? `, kernel ${m.kernel}` : ""}, load average ${load(m.loadAverageBefore)} before / ${load(m.loadAverageAfter)} after`;
}
