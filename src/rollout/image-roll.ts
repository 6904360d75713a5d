// Which node gets a new Debian image at this `pulumi up`: at most one, never all at once.
//
// Every node's instance is given an explicit AMI: the one it runs now (read from EC2 by its tags),
// except the single node chosen here, which gets the stack's image (the newest official Debian
// 13 AMI of its architecture) and is therefore replaced. A node without an instance yet gets the
// stack's image. Replacements follow the maintenance window (maintenance.window): outside it, or
// with no window, nothing is replaced and the nodes on an older image are reported.
//
// Order: etcd members, then HAProxy nodes, then PostgreSQL members — within a role by name. A
// PostgreSQL member that leads when its turn comes hands over first (the leave hook runs
// `pgha-node leave --stay` before its attachment goes), so each replacement costs at most one
// switchover; its data volume comes back on the new instance.
import { restartDecision } from "../config/maintenance-window";
import type { Role } from "../spec";

export interface ImageRollNode {
  name: string;
  role: Role;
  /** The AMI its instance runs now; undefined when it has no instance yet. */
  running?: string;
  /** The stack's image for its architecture. */
  target: string;
}

export interface ImageRollPlan {
  /** The node replaced at this update (undefined: none). */
  roll?: string;
  /** Nodes whose instance runs another image than the stack's, in roll order (roll first). */
  stale: string[];
  /** The AMI each node's instance is given. */
  amis: Record<string, string>;
  /** Why (or why not) a node is replaced now, in words for the update's output. */
  reason: string;
}

// The monitoring node first: it holds no data of the cluster (its replacement starts Prometheus's history afresh).
const ROLE_ORDER: Role[] = ["monitor", "etcd", "haproxy", "postgres"];

export function planImageRoll(nodes: ImageRollNode[], window: string | null, now: Date): ImageRollPlan {
  const byName = (a: ImageRollNode, b: ImageRollNode) => a.name.localeCompare(b.name, undefined, { numeric: true });
  const stale = ROLE_ORDER.flatMap((role) => nodes.filter((n) => n.role === role && n.running !== undefined && n.running !== n.target).sort(byName));
  const decision = restartDecision(window, now);
  const roll = stale.length && decision.restart ? stale[0].name : undefined;
  const amis = Object.fromEntries(nodes.map((n) => [n.name, n.running === undefined || n.name === roll ? n.target : n.running]));
  let reason: string;
  if (!stale.length) reason = "every node runs the stack's image";
  else if (roll) reason = `${roll} is replaced with ${stale.find((n) => n.name === roll)!.target} (${decision.reason}); ${stale.length - 1} more node(s) follow, one per pulumi up`;
  else reason = `${stale.length} node(s) run an older image (${stale.map((n) => n.name).join(", ")}): not replaced, ${decision.reason.replace(/restarts are left to an operator \(restart --pending\)/, "set maintenance.window to roll them one per pulumi up")}`;
  return { roll, stale: stale.map((n) => n.name), amis, reason };
}
