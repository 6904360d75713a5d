// The AMI of every node's instance, decided for the whole cluster at once (src/rollout/image-roll.ts):
// what each instance runs now, read from EC2 by its tags, except at most one node per `pulumi up`
// that gets the stack's image (the newest official Debian 13 AMI of its architecture) — inside the
// maintenance window. A new node gets the stack's image.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { planImageRoll, type ImageRollPlan } from "../src/rollout/image-roll";
import type { NodeSpec } from "../src/spec";
import { amiLookup } from "./instance";

export interface ImageRollArgs {
  /** Every node of the cluster. */
  nodes: NodeSpec[];
  /** The stack's tags: pgha:cluster and pgha:stack find its instances. */
  tags: Record<string, string>;
  /** maintenance.window: when a node may be replaced. */
  window: string | null;
  /** The time the decision is made for (default: now). */
  now?: Date;
}

/** The AMI a node's instance runs now (undefined: no instance yet). */
function runningAmi(parent: pulumi.Resource, tags: Record<string, string>, node: NodeSpec): pulumi.Output<string | undefined> {
  const found = aws.ec2.getInstancesOutput({
    filters: [
      { name: "tag:pgha:cluster", values: [tags["pgha:cluster"]] },
      { name: "tag:pgha:stack", values: [tags["pgha:stack"]] },
      { name: "tag:pgha:node", values: [node.name] },
    ],
    instanceStateNames: ["pending", "running", "stopping", "stopped"],
  }, { parent });
  return found.ids.apply((ids) => {
    if (ids.length > 1) throw new Error(`postgres-ha: ${ids.length} instances are tagged as node ${node.name} of ${tags["pgha:cluster"]}/${tags["pgha:stack"]} (${ids.join(", ")}): terminate the stray one(s) first`);
    return ids.length ? aws.ec2.getInstanceOutput({ instanceId: ids[0] }, { parent }).ami : pulumi.output(undefined as string | undefined);
  });
}

/** The cluster's image plan: the AMI for each node, the node replaced now, the nodes still on an older image. */
export function imageRollPlan(parent: pulumi.Resource, args: ImageRollArgs): pulumi.Output<ImageRollPlan> {
  const target = amiLookup(parent);
  return pulumi
    .all(args.nodes.map((n) => pulumi.all([runningAmi(parent, args.tags, n), target(n.instanceType)])))
    .apply((pairs) => {
      const plan = planImageRoll(args.nodes.map((n, i) => ({ name: n.name, role: n.role, running: pairs[i][0], target: pairs[i][1] })), args.window, args.now ?? new Date());
      if (plan.stale.length) (plan.roll ? pulumi.log.info : pulumi.log.warn)(`images: ${plan.reason}`, parent);
      return plan;
    });
}
