// What the estimate assumes where the resources alone do not say: every figure that depends on
// one of these prints it beside the figure (format.ts), and the JSON carries them all.
import { HOURS_PER_MONTH } from "./prices";

export interface AssumptionValues {
  /** Hours in a billed month (AWS's price pages and calculator use 730). */
  hoursPerMonth: number;
  /** Share of the PostgreSQL data volume the database fills. */
  databaseFillRatio: number;
  /** Size of a compressed backup (and of a pg_dump -Fc) relative to the database. */
  backupCompressionRatio: number;
  /** WAL written per day, as a share of the database size (the change rate). */
  dailyChangeRatio: number;
  /** GB processed per NAT gateway per month (package installs, SSM, KMS/Secrets Manager calls; S3 goes through the free gateway endpoint). */
  natGbProcessedPerGateway: number;
  /** Average Network Load Balancer capacity units consumed per hour. */
  nlbLcuPerHour: number;
}

export const DEFAULT_ASSUMPTIONS: AssumptionValues = {
  hoursPerMonth: HOURS_PER_MONTH,
  databaseFillRatio: 0.5,
  backupCompressionRatio: 0.5,
  dailyChangeRatio: 0.05,
  natGbProcessedPerGateway: 10,
  nlbLcuPerHour: 1,
};

export const ASSUMPTION_TEXT: Record<keyof AssumptionValues, string> = {
  hoursPerMonth: "a month is 730 hours (AWS's convention); every instance, gateway and load balancer runs all month",
  databaseFillRatio: "the database fills this share of its data volume",
  backupCompressionRatio: "a compressed backup (and a pg_dump -Fc) is this share of the database's size",
  dailyChangeRatio: "WAL written per day, as a share of the database (the change rate)",
  natGbProcessedPerGateway: "GB processed per NAT gateway per month (package installs, SSM, KMS and Secrets Manager calls; S3 uses the free gateway endpoint)",
  nlbLcuPerHour: "Network Load Balancer capacity units (LCU) used per hour on average",
};

/** Charges the estimate leaves out, said out loud. */
export const NOT_PRICED = [
  "API requests (S3 PUT/GET, KMS, Secrets Manager, the monitoring heartbeat's CloudWatch PutMetricData), DNS queries and CloudWatch Logs",
  "data transfer to clients and out to the internet",
  "taxes, support plans and any discount (Savings Plans, Reserved Instances, free tier, credits)",
];
