// The comparison users ask for: what RDS for PostgreSQL would cost for the same database — a
// Multi-AZ DB cluster (one writer, two readable standbys) and a Multi-AZ DB instance (one
// standby) of the class named like the PostgreSQL nodes' instance type (r7g.large → db.r7g.large),
// with the same storage as one PostgreSQL data volume — and the stack's total as a share of it.
import type { CostLine } from "./estimate";
import { dataVolumes, postgresInstances } from "./estimate";
import type { CostResource } from "./catalog";
import { MissingPriceError, rdsPostgresHourly, regionPrices } from "./prices";

/** RDS gp3 for PostgreSQL: below 400 GiB the volume gets 3,000 IOPS / 125 MiB/s and no more. */
export const RDS_GP3_STRIPED_FROM_GIB = 400;
export const RDS_GP3_BASELINE = { small: { iops: 3000, mibps: 125 }, striped: { iops: 12000, mibps: 500 } };

export interface RdsOption {
  class: string;
  instances: number;
  monthly: number;
  lines: CostLine[];
}

export interface RdsComparison {
  rdsMultiAzCluster: RdsOption;
  rdsMultiAzInstance: RdsOption;
  /** The stack's monthly total ÷ the Multi-AZ DB cluster's. */
  ratio: number;
  /** The stack's monthly total ÷ the Multi-AZ DB instance's. */
  ratioToMultiAzInstance: number;
  storage: { gib: number; iops: number; throughputMiBps: number };
  notes: string[];
}

/** The RDS class the comparison uses for the PostgreSQL nodes' instance type. */
export function rdsClassFor(instanceType: string): string {
  return `db.${instanceType}`;
}

export function compareWithRds(region: string, resources: CostResource[], stackMonthly: number, hoursPerMonth: number): RdsComparison {
  const members = postgresInstances(resources);
  if (!members.length) throw new MissingPriceError("no PostgreSQL instance (tag pgha:role=postgres) to compare with RDS");
  const types = [...new Set(members.map((m) => String(m.inputs.instanceType)))];
  if (types.length > 1) throw new MissingPriceError(`the PostgreSQL members use several instance types (${types.join(", ")}): no single RDS class to compare with`);
  const dbClass = rdsClassFor(types[0]);
  const hourly = rdsPostgresHourly(region, dbClass);
  const rds = regionPrices(region).rds;

  const volume = dataVolumes(resources).sort((a, b) => Number(b.inputs.size) - Number(a.inputs.size))[0];
  const gib = Number(volume?.inputs.size ?? 0);
  const iops = Number(volume?.inputs.iops ?? 3000);
  const mibps = Number(volume?.inputs.throughput ?? 125);
  const notes: string[] = [];
  let extraIops = 0;
  let extraMibps = 0;
  if (gib < RDS_GP3_STRIPED_FROM_GIB) {
    const base = RDS_GP3_BASELINE.small;
    if (iops > base.iops || mibps > base.mibps) {
      notes.push(`RDS gp3 below ${RDS_GP3_STRIPED_FROM_GIB} GiB is fixed at ${base.iops} IOPS / ${base.mibps} MiB/s; this stack's data volumes provision ${iops} IOPS / ${mibps} MiB/s, so the RDS figures buy less I/O than the stack has`);
    }
  } else {
    extraIops = Math.max(0, iops - RDS_GP3_BASELINE.striped.iops);
    extraMibps = Math.max(0, mibps - RDS_GP3_BASELINE.striped.mibps);
  }
  notes.push(
    "Multi-AZ DB cluster: three DB instances at the Single-AZ hourly rate each, and three copies of the storage at the Single-AZ gp3 rate (each instance keeps its own volume)",
    "Multi-AZ DB instance: twice the Single-AZ instance and storage rates (AWS prices Multi-AZ instance deployments so); its standby serves no reads",
    "AWS does not offer every DB instance class as a Multi-AZ DB cluster (check `aws rds describe-orderable-db-instance-options`); the cluster is priced at the class's rate either way",
    "RDS automated backups are assumed to fit the free backup storage (up to the provisioned storage size); RDS replication traffic between AZs is not charged",
  );

  const option = (name: string, instances: number, storageCopies: number): RdsOption => {
    const lines: CostLine[] = [
      { resource: `${name}: ${dbClass} (RDS for PostgreSQL)`, type: "aws:rds", quantity: instances, unit: "instance-month", unitPrice: hourly * hoursPerMonth, monthly: 0 },
      { resource: `${name}: gp3 storage`, type: "aws:rds", quantity: gib * storageCopies, unit: "GB-month", unitPrice: rds.gp3GbMonth, monthly: 0 },
    ];
    if (extraIops) lines.push({ resource: `${name}: gp3 IOPS above ${RDS_GP3_BASELINE.striped.iops}`, type: "aws:rds", quantity: extraIops * storageCopies, unit: "IOPS-month", unitPrice: rds.gp3IopsMonth, monthly: 0 });
    if (extraMibps) lines.push({ resource: `${name}: gp3 throughput above ${RDS_GP3_BASELINE.striped.mibps} MiB/s`, type: "aws:rds", quantity: extraMibps * storageCopies, unit: "MiB/s-month", unitPrice: rds.gp3MibpsMonth, monthly: 0 });
    for (const l of lines) l.monthly = l.quantity * l.unitPrice;
    return { class: dbClass, instances, monthly: lines.reduce((s, l) => s + l.monthly, 0), lines };
  };
  const cluster = option("Multi-AZ DB cluster", 3, 3);
  const instance = option("Multi-AZ DB instance", 2, 2);
  return {
    rdsMultiAzCluster: cluster,
    rdsMultiAzInstance: instance,
    ratio: stackMonthly / cluster.monthly,
    ratioToMultiAzInstance: stackMonthly / instance.monthly,
    storage: { gib, iops, throughputMiBps: mibps },
    notes,
  };
}
