// DynamicConfig: day-2 changes. PostgreSQL parameters, pg_hba and Patroni timing live in Patroni's
// dynamic configuration (the DCS), so changing them never replaces a node: this command, run
// where `pulumi up` runs, sends the desired configuration to the PostgreSQL instances through
// SSM Run Command; `pgha-dynamic apply -` on each node replaces the DCS copy (Patroni PUT /config)
// and keeps /etc/patroni/dynamic.json in step. It runs again whenever the configuration's hash
// changes (triggers) and fails the update loudly if any node failed.
import * as command from "@pulumi/command";
import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import { repoPath } from "../src/repo-root";
import type { Layout } from "../src/layout";
import { NODE_PATHS, sha256 } from "../src/render/bundle";
import { dynamicConfig } from "../src/render/dynamic";
import type { ClusterSpec } from "../src/spec";
import { componentType } from "./common";

/** How long a node may take to come up (first boot installs packages) before the update fails. */
export const NODE_READY_TIMEOUT_SECONDS = 1800;
/** How long Patroni's REST API may take to answer on a node that is already up. */
export const PATRONI_READY_TIMEOUT_SECONDS = 900;

export interface DynamicConfigPlan {
  /** JSON.stringify(dynamicConfig(spec, layout)): what the DCS must hold. */
  json: string;
  /** sha256 of `json`: the command's trigger. */
  hash: string;
  /** Parameters of the AWS-RunShellScript document (the JSON travels base64-encoded; it is not a secret). */
  ssmParameters: { commands: string[]; executionTimeout: string[] };
}

/** The shell lines each PostgreSQL node runs (POSIX sh: AWS-RunShellScript uses /bin/sh). */
export function nodeApplyScript(json: string): string[] {
  const tries = Math.ceil(PATRONI_READY_TIMEOUT_SECONDS / 5);
  return [
    "set -eu",
    "cloud-init status --wait >/dev/null 2>&1 || true",
    "i=0",
    `until ${NODE_PATHS.dynamicScript} show >/dev/null 2>&1; do i=$((i+1)); if [ "$i" -ge ${tries} ]; then echo "Patroni's REST API did not answer within ${PATRONI_READY_TIMEOUT_SECONDS} s: systemctl status patroni" >&2; exit 1; fi; sleep 5; done`,
    `echo '${Buffer.from(json).toString("base64")}' | base64 -d | ${NODE_PATHS.dynamicScript} apply -`,
  ];
}

export function planDynamicConfig(spec: ClusterSpec, layout: Layout): DynamicConfigPlan {
  const json = JSON.stringify(dynamicConfig(spec, layout));
  return {
    json,
    hash: sha256(json),
    ssmParameters: { commands: nodeApplyScript(json), executionTimeout: [String(PATRONI_READY_TIMEOUT_SECONDS + 300)] },
  };
}

/**
 * The script `pulumi up` runs locally (bash, awscli v2 and credentials for the stack's account):
 * wait until every instance is online in SSM, send the command one node at a time, wait for the
 * result, and on failure print every node's output and what to run next.
 */
export function sendCommandScript(): string {
  return fs.readFileSync(repoPath("components", "scripts", "apply-dynamic-config.sh"), "utf8");
}

export interface DynamicConfigArgs {
  spec: ClusterSpec;
  layout: Layout;
  /** The PostgreSQL instances' ids, in member order. */
  instanceIds: pulumi.Input<string>[];
  /** What must exist first: the PostgreSQL instances and their data volumes. */
  dependsOn: pulumi.Input<pulumi.Resource>[];
}

export class DynamicConfig extends pulumi.ComponentResource {
  /** sha256 of the dynamic configuration this stack wants in the DCS. */
  readonly configHash: string;
  readonly stdout: pulumi.Output<string>;

  constructor(name: string, args: DynamicConfigArgs, opts?: pulumi.ComponentResourceOptions) {
    super(componentType("DynamicConfig"), name, {}, opts);
    if (args.instanceIds.length === 0) throw new Error("DynamicConfig: no PostgreSQL instance to apply the configuration to");
    const plan = planDynamicConfig(args.spec, args.layout);
    const apply = new command.local.Command(`${name}-apply`, {
      interpreter: ["/bin/bash", "-c"],
      create: sendCommandScript(),
      environment: {
        PGHA_INSTANCE_IDS: pulumi.all(args.instanceIds).apply((ids) => ids.join(" ")),
        PGHA_REGION: args.spec.region,
        PGHA_CONFIG_HASH: plan.hash,
        PGHA_SSM_PARAMETERS: JSON.stringify(plan.ssmParameters),
        PGHA_NODE_READY_TIMEOUT: String(NODE_READY_TIMEOUT_SECONDS),
      },
      // A new hash replaces the command, which runs `create` again: the change is applied.
      triggers: [plan.hash],
      logging: "stdoutAndStderr",
    }, { parent: this, dependsOn: args.dependsOn });
    this.configHash = plan.hash;
    this.stdout = apply.stdout;
    this.registerOutputs({ configHash: this.configHash });
  }
}
