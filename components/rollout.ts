// Rollout: after `pulumi up` changed bundles (components/nodeBundles.ts), converge the running
// nodes to them, one at a time in a safe order (etcd, HAProxy, PostgreSQL replicas, the leader
// last), over SSM Run Command, stopping at the first failure with what to do next
// (src/rollout/rollout.ts, the same code `npx pgha sandbox apply` runs locally). It runs where
// `pulumi up` runs (Node.js, awscli v2, the deploying credentials) whenever a bundle's hash
// changes, and fails the update loudly if a node failed. It also replaces the old day-2
// dynamic-config command: the Patroni dynamic configuration is a file of the PostgreSQL
// bundles, applied by pgha-node on the first member whose bundle changes it.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { rolloutTrigger } from "../src/bundle/format";
import type { RolloutPlan } from "../src/rollout/rollout";
import type { Role } from "../src/spec";
import { componentType, duplicateNodeNames, throwIfInvalid } from "./common";

/** One node the rollout converges. */
export interface RolloutNodeArgs {
  /** The node's name (db1, etcd2, lb1 …). */
  name: string;
  /** Its role: decides the order (etcd, HAProxy, PostgreSQL replicas, the leader last). */
  role: Role;
  /** The sha256 of the bundle the node must run (NodeBundles.bundleHashes). */
  hash: string;
  /** Its EC2 instance (SSM Run Command target). */
  instanceId: pulumi.Input<string>;
}

/** Rollout: converges running nodes to their bundles whenever a bundle hash changes. */
export interface RolloutArgs {
  /** The stack's region (SSM calls). */
  region: string;
  /** Every node of the cluster, in any order (the plan orders them). At least one; names unique. */
  nodes: RolloutNodeArgs[];
  /** What must exist first: the instances, their volumes, the bundle objects and pointers. */
  dependsOn: pulumi.Input<pulumi.Resource>[];
  /**
   * `maintenance.window`: when the rollout also restarts what it left pending (one node at a
   * time, one switchover): a weekly UTC window "ddd:hh:mm-ddd:hh:mm", "always", or null (the
   * default: never; an operator runs `pgha restart --pending`).
   */
  maintenanceWindow?: string | null;
}

/** Every problem of Rollout's arguments (empty when it can be built). */
export function validateRolloutArgs(args: RolloutArgs): string[] {
  const problems: string[] = [];
  if (args.nodes.length === 0) problems.push("nodes: a rollout needs at least one node");
  problems.push(...duplicateNodeNames(args.nodes));
  for (const n of args.nodes) {
    if (!n.hash) problems.push(`nodes.${n.name}.hash: no bundle hash`);
    if (n.instanceId === undefined) problems.push(`nodes.${n.name}.instanceId: no instance`);
  }
  return problems;
}

/** The command `pulumi up` runs (relative to the project directory, where Pulumi runs programs). */
export const ROLLOUT_COMMAND = "node ./bin/pgha rollout --transport ssm";


/** sha256 over every node's bundle hash: the command's trigger (defined with the bundle format). */
export { rolloutTrigger };

export class Rollout extends pulumi.ComponentResource {
  readonly trigger: string;
  readonly stdout: pulumi.Output<string>;

  constructor(name: string, args: RolloutArgs, opts?: pulumi.ComponentResourceOptions) {
    super(componentType("Rollout"), name, {}, opts);
    throwIfInvalid(this, "Rollout", validateRolloutArgs(args));
    const plan = pulumi
      .all(args.nodes.map((n) => pulumi.output(n.instanceId)))
      .apply((ids) => JSON.stringify({ region: args.region, maintenanceWindow: args.maintenanceWindow ?? null, nodes: args.nodes.map((n, i) => ({ name: n.name, role: n.role, hash: n.hash, instanceId: ids[i] })) } satisfies RolloutPlan));
    this.trigger = rolloutTrigger(args.nodes);
    const run = new command.local.Command(`${name}-rollout`, {
      interpreter: ["/bin/bash", "-c"],
      create: ROLLOUT_COMMAND,
      environment: { PGHA_ROLLOUT_PLAN: plan },
      // A new set of bundle hashes replaces the command, which runs `create` again: the change rolls out.
      triggers: [this.trigger],
      logging: "stdoutAndStderr",
    }, { parent: this, dependsOn: args.dependsOn });
    this.stdout = run.stdout;
    this.registerOutputs({ trigger: this.trigger });
  }
}
