// How a cost estimate is shown: the `pgha cost` text (every assumption beside the figure it
// drives), its JSON, the README block of the shipped stacks, and the cost lines of `pgha diff`.
import { PRICE_DATE, PRICE_NOTE, PRICE_SOURCES } from "./prices";
import type { CostLine } from "./estimate";
import type { StackCost } from "./stack";

export const usd = (n: number) => `$${n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
/** A unit price: cents are not enough below a dollar ($0.0055 per IOPS-month). */
export const unitUsd = (n: number) => (n >= 1 || Number.isInteger(Math.round(n * 1e6) / 1e4) ? usd(n) : `$${Number(n.toPrecision(3))}`);
const pct = (ratio: number) => `${Math.round(ratio * 100)}%`;
const qty = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(2));
/** Rounds away float noise in JSON (sub-micro-dollar), keeping sums exact to the cent. */
const clean = (n: number) => Math.round(n * 1e6) / 1e6;

function table(rows: string[][], right: number[]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => "  " + r.map((c, i) => (right.includes(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  ").trimEnd()).join("\n");
}

const SHORT_ASSUMPTION = 70;

function lineRows(lines: CostLine[]): string[][] {
  return lines.map((l) => [l.resource, `${qty(l.quantity)} ${l.unit}`, unitUsd(l.unitPrice), usd(l.monthly), l.assumption && l.assumption.length <= SHORT_ASSUMPTION ? `assumes ${l.assumption}` : ""]);
}

/** The table, with each long assumption printed on its own lines right under its figure. */
function linesTable(lines: CostLine[], total: number): string {
  const rendered = table([["resource", "quantity", "unit price", "monthly", ""], ...lineRows(lines), ["total", "", "", usd(total), ""]], [2, 3]).split("\n");
  const out: string[] = [rendered[0]];
  lines.forEach((l, i) => {
    out.push(rendered[i + 1]);
    if (l.assumption && l.assumption.length > SHORT_ASSUMPTION) for (const part of l.assumption.split(/; |, (?=\d|WAL|expired|logical|differential)/)) out.push(`      assumes ${part}`);
  });
  out.push(rendered[rendered.length - 1]);
  return out.join("\n");
}

export function formatCostText(c: StackCost): string {
  const out: string[] = [];
  out.push(`pgha cost: stack ${c.stack} (tier ${c.tier}, ${c.region}) — USD per month at AWS on-demand list prices as of ${c.priceDate}`, "");
  out.push(linesTable(c.monthly.lines, c.monthly.total));
  out.push("");
  if (c.budget !== null) out.push(`budget: objectives.monthlyBudgetUsd = ${usd(c.budget)} — ${c.monthly.total <= c.budget ? "within it" : `EXCEEDED by ${usd(c.monthly.total - c.budget)}`}`, "");
  if (c.comparison) {
    const k = c.comparison;
    out.push(`RDS for PostgreSQL with the same class and storage (${k.rdsMultiAzCluster.class}, ${k.storage.gib} GiB gp3), ${c.region}:`);
    out.push(table([
      ["option", "monthly", "this stack costs"],
      ["Multi-AZ DB cluster (writer + 2 readable standbys)", usd(k.rdsMultiAzCluster.monthly), `${pct(k.ratio)} of it`],
      ["Multi-AZ DB instance (primary + 1 standby)", usd(k.rdsMultiAzInstance.monthly), `${pct(k.ratioToMultiAzInstance)} of it`],
    ], [1]));
    out.push(`  the PostgreSQL nodes alone (instances, volumes, WAL to standbys): ${usd(c.postgresNodesMonthly)} = ${pct(c.postgresNodesMonthly / k.rdsMultiAzCluster.monthly)} of the Multi-AZ DB cluster`);
    for (const n of k.notes) out.push(`  - ${n}`);
  } else {
    out.push(`RDS comparison: not available (${c.comparisonUnavailable})`);
  }
  out.push("", "assumptions:");
  for (const [k, a] of Object.entries(c.assumptions)) out.push(`  ${k} = ${a.value}: ${a.description}`);
  out.push("not priced:");
  for (const n of c.notPriced) out.push(`  - ${n}`);
  out.push("", `prices: ${PRICE_NOTE}`, `sources: ${PRICE_SOURCES.join("; ")}`);
  return out.join("\n") + "\n";
}

/** The JSON of `pgha cost --json` (issue 17's interface, plus units, assumptions per line and notes). */
export function costJson(c: StackCost) {
  const lines = (ls: CostLine[]) => ls.map((l) => ({ resource: l.resource, type: l.type, quantity: clean(l.quantity), unit: l.unit, unitPrice: clean(l.unitPrice), monthly: clean(l.monthly), ...(l.assumption ? { assumption: l.assumption } : {}) }));
  return {
    stack: c.stack,
    tier: c.tier,
    currency: c.currency,
    region: c.region,
    priceDate: c.priceDate,
    priceNote: c.priceNote,
    priceSources: [...PRICE_SOURCES],
    monthly: { total: clean(c.monthly.total), lines: lines(c.monthly.lines) },
    budget: c.budget,
    assumptions: c.assumptions,
    notPriced: c.notPriced,
    comparison: c.comparison
      ? {
          rdsMultiAzCluster: { class: c.comparison.rdsMultiAzCluster.class, monthly: clean(c.comparison.rdsMultiAzCluster.monthly), lines: lines(c.comparison.rdsMultiAzCluster.lines) },
          rdsMultiAzInstance: { class: c.comparison.rdsMultiAzInstance.class, monthly: clean(c.comparison.rdsMultiAzInstance.monthly), lines: lines(c.comparison.rdsMultiAzInstance.lines) },
          ratio: clean(c.comparison.ratio),
          ratioToMultiAzInstance: clean(c.comparison.ratioToMultiAzInstance),
          postgresNodesMonthly: clean(c.postgresNodesMonthly),
          storage: c.comparison.storage,
          notes: c.comparison.notes,
        }
      : null,
    ...(c.comparisonUnavailable ? { comparisonUnavailable: c.comparisonUnavailable } : {}),
  };
}

export const COST_BEGIN = "<!-- BEGIN cost table (generated by: npx pgha cost --readme) -->";
export const COST_END = "<!-- END cost table -->";

/** The README's cost block: every shipped stack, its total and the RDS comparison. */
export function costReadmeBlock(costs: StackCost[]): string {
  const rows = costs.map((c) => {
    const k = c.comparison;
    return k
      ? `| ${c.stack} | ${c.region} | ${usd(c.monthly.total)} | ${k.rdsMultiAzCluster.class} | ${usd(k.rdsMultiAzCluster.monthly)} | **${pct(k.ratio)}** | ${usd(k.rdsMultiAzInstance.monthly)} | ${pct(k.ratioToMultiAzInstance)} | ${usd(c.postgresNodesMonthly)} (${pct(c.postgresNodesMonthly / k.rdsMultiAzCluster.monthly)}) |`
      : `| ${c.stack} | ${c.region} | ${usd(c.monthly.total)} | - | - | - | - | - | ${usd(c.postgresNodesMonthly)} |`;
  });
  const prod = costs.find((c) => c.stack === "prod") ?? costs[costs.length - 1];
  const a = prod.assumptions;
  return [
    "| stack | region | this stack / month | RDS class | RDS Multi-AZ DB cluster / month | this stack ÷ cluster | RDS Multi-AZ DB instance / month | this stack ÷ instance | PostgreSQL nodes alone (÷ cluster) |",
    "|---|---|---|---|---|---|---|---|---|",
    ...rows,
    "",
    `USD per month, ${PRICE_NOTE} Storage on the RDS side: one data volume's size in gp3 per DB instance` +
      (costs.some((c) => c.comparison?.notes.some((n) => n.includes("buy less I/O")))
        ? `; RDS gp3 below 400 GiB is fixed at 3,000 IOPS / 125 MiB/s, so where a stack provisions more (${costs.filter((c) => c.comparison?.notes.some((n) => n.includes("buy less I/O"))).map((c) => c.stack).join(", ")}) the RDS figures buy less I/O than the stack has.`
        : "."),
    `Assumed where the resources do not say: the database fills ${a.databaseFillRatio.value * 100}% of its data volume, backups compress to ${a.backupCompressionRatio.value * 100}%, ` +
      `WAL per day is ${a.dailyChangeRatio.value * 100}% of the database, ${a.natGbProcessedPerGateway.value} GB per NAT gateway, ${a.nlbLcuPerHour.value} NLB LCU per hour, 730 hours a month. ` +
      `Not priced: ${prod.notPriced.join("; ")}.`,
    "",
    `**${prod.stack}**, line by line (\`npx pgha cost --stack ${prod.stack}\` prints the same with every assumption):`,
    "",
    "| resource | quantity | unit price | monthly |",
    "|---|---|---|---|",
    ...prod.monthly.lines.map((l) => `| ${l.resource} | ${qty(l.quantity)} ${l.unit} | ${unitUsd(l.unitPrice)} | ${usd(l.monthly)} |`),
    `| **total** | | | **${usd(prod.monthly.total)}** |`,
    "",
    `_prices as of ${PRICE_DATE}_`,
  ].join("\n");
}

/** What a change does to the monthly bill (pgha diff). */
export interface CostDelta {
  before?: number;
  after?: number;
  delta?: number;
  lines: { resource: string; before: number; after: number; delta: number }[];
  /** The working tree's stated budget (objectives.monthlyBudgetUsd), when it states one. */
  budget?: number;
  unavailable?: string;
}

export function costDelta(before: StackCost | undefined, after: StackCost | undefined, unavailable?: string): CostDelta {
  if (!after || unavailable) return { lines: [], unavailable: unavailable ?? "no estimate for the working tree" };
  const b = new Map((before?.monthly.lines ?? []).map((l) => [l.resource, l.monthly]));
  const a = new Map(after.monthly.lines.map((l) => [l.resource, l.monthly]));
  const names = [...new Set([...b.keys(), ...a.keys()])];
  const lines = names
    .map((resource) => ({ resource, before: b.get(resource) ?? 0, after: a.get(resource) ?? 0, delta: (a.get(resource) ?? 0) - (b.get(resource) ?? 0) }))
    .filter((l) => Math.abs(l.delta) >= 0.005);
  const beforeTotal = before?.monthly.total ?? 0;
  return { before: beforeTotal, after: after.monthly.total, delta: after.monthly.total - beforeTotal, lines, ...(after.budget !== null ? { budget: after.budget } : {}) };
}

const signed = (n: number) => `${n >= 0 ? "+" : "−"}${usd(Math.abs(n))}`;

export function formatCostDelta(d: CostDelta): string {
  if (d.unavailable) return `monthly cost: not estimated (${d.unavailable})\n`;
  const over = d.budget !== undefined && d.after! > d.budget ? ` — over the budget of ${usd(d.budget)} (objectives.monthlyBudgetUsd)` : "";
  const head = `monthly cost: ${usd(d.before!)} → ${usd(d.after!)} (${signed(d.delta!)} per month, on-demand list prices as of ${PRICE_DATE})${over}`;
  if (!d.lines.length) return `${head}\n`;
  return [head, table(d.lines.map((l) => [l.resource, usd(l.before), "→", usd(l.after), signed(l.delta)]), [1, 3, 4])].join("\n") + "\n";
}
