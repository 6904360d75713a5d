// What runs before `pulumi up` deletes a PostgreSQL member's data-volume attachment — the first of
// its resources to go, whether the member is removed (scale-in) or its instance replaced (a new
// image, a broken host): `pgha-node leave` on that instance over SSM Run Command, the same script
// `npx pgha sandbox apply` runs on a removed sandbox member. The attachment is the place because
// it stops the instance before it detaches (stopInstanceBeforeDetaching): after it, the node is
// unreachable.
//
//  - scale-in (the node is no longer in the stack): hand over if it leads, stop Patroni, wait until
//    its member key is out of the DCS, have the leader drop its replication slot;
//  - replacement (the node is still in the stack): `--stay`, hand over if it leads and stop
//    Patroni cleanly; the new instance takes the same name, data volume and slot.
//
// A node that SSM cannot reach (a dead host being replaced or removed) is not waited for: Patroni
// already failed over from it, and the leader drops its slot after member_slots_ttl. A leave that
// fails stops the deletion (a before-delete hook's error fails the step): the member keeps its
// volume and instance, and the update says why. PGHA_DRAIN=off skips the hook, for a
// `pulumi destroy --run-program` of a whole cluster.
import { ssmTransport } from "./ssm";

/** What the hook sees of the attachment being deleted (Pulumi's ResourceHookArgs, narrowed). */
export interface LeaveHookArgs {
  name: string;
  oldInputs?: Record<string, unknown>;
  oldOutputs?: Record<string, unknown>;
}

export interface LeaveHookOptions {
  region: string;
  /** The component's name: attachments are named `<component>-<node>-data`. */
  componentName: string;
  /** The PostgreSQL nodes the stack lists now: one of them being deleted is a replacement. */
  stackNodes: string[];
  /** How long a node may take to answer SSM before it is taken for dead (default 120 s). */
  onlineTimeoutSeconds?: number;
  aws?: string;
  pollMs?: number;
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
}

export interface LeaveOutcome {
  node: string;
  instanceId: string;
  /** "not drained": PGHA_DRAIN=off, or a member it cannot place (etcd only); `detail` says which. */
  action: "left" | "stopped for replacement" | "unreachable" | "not drained";
  detail: string;
}

/** The node an attachment belongs to, from its name `<component>-<node>-data`. */
export function nodeOfAttachment(componentName: string, attachmentName: string): string | undefined {
  const prefix = `${componentName}-`;
  if (!attachmentName.startsWith(prefix) || !attachmentName.endsWith("-data")) return undefined;
  return attachmentName.slice(prefix.length, -"-data".length) || undefined;
}

/** Runs `pgha-node leave` for the attachment being deleted; throws (stopping the deletion) when it fails. */
export async function leaveBeforeDelete(args: LeaveHookArgs, opts: LeaveHookOptions): Promise<LeaveOutcome> {
  const log = opts.log ?? (() => undefined);
  const node = nodeOfAttachment(opts.componentName, args.name);
  const instanceId = String(args.oldInputs?.instanceId ?? args.oldOutputs?.instanceId ?? "");
  if (!node || !instanceId) throw new Error(`postgres-ha: cannot tell which member the attachment ${args.name} belongs to (instance ${instanceId || "unknown"}): nothing was drained`);
  if ((opts.env ?? process.env).PGHA_DRAIN === "off") {
    log(`${node}: PGHA_DRAIN=off, not drained before its deletion`);
    return { node, instanceId, action: "not drained", detail: "PGHA_DRAIN=off" };
  }
  const stay = opts.stackNodes.includes(node);
  const transport = ssmTransport({ region: opts.region, instanceIds: { [node]: instanceId }, onlineTimeoutSeconds: opts.onlineTimeoutSeconds ?? 120, aws: opts.aws, pollMs: opts.pollMs });
  log(`${node} (${instanceId}): pgha-node leave${stay ? " --stay (its instance is being replaced)" : " (it leaves the stack)"}`);
  let out;
  try {
    out = await transport.run(node, ["pgha-node", "leave", "--json", ...(stay ? ["--stay"] : [])], 900_000);
  } catch (e) {
    const message = (e as Error).message;
    if (!/not online in SSM/.test(message)) throw e;
    log(`${node}: not reachable over SSM, taken for dead (Patroni has failed over from it; the leader drops its slot after member_slots_ttl)`);
    return { node, instanceId, action: "unreachable", detail: message };
  }
  if (out.code !== 0) {
    throw new Error(`postgres-ha: ${node} (${instanceId}) did not leave the cluster, so its volume attachment and instance stay: ${(out.stderr.trim() || out.stdout.trim()).split("\n").slice(-3).join(" | ")}. ` +
      `Look at it (${transport.howToReach(node)}; journalctl -t pgha-node), then run pulumi up again; PGHA_DRAIN=off pulumi up deletes it without draining`);
  }
  const detail = out.stdout.trim().split("\n").pop() ?? "";
  log(`${node}: ${detail}`);
  return { node, instanceId, action: stay ? "stopped for replacement" : "left", detail };
}

/**
 * What runs before `pulumi up` deletes an etcd member's instance (scale-in or a replacement):
 * `pgha-etcd handover` on it over SSM, so a leader that goes hands its leadership to another
 * member first instead of costing an election with requests in flight timing out. Never stops the
 * deletion (etcd survives a vanished leader; the member list is reconciled by the rollout and by
 * the replacement's `pgha-etcd prepare`): an unreachable node or a failed hand-over is logged.
 */
export async function etcdHandoverBeforeDelete(args: LeaveHookArgs, opts: Omit<LeaveHookOptions, "stackNodes">): Promise<LeaveOutcome> {
  const log = opts.log ?? (() => undefined);
  const prefix = `${opts.componentName}-`;
  const node = args.name.startsWith(prefix) ? args.name.slice(prefix.length) : "";
  const instanceId = String(args.oldOutputs?.id ?? "");
  if (!node || !instanceId) {
    log(`postgres-ha: cannot tell which etcd member ${args.name} is (instance ${instanceId || "unknown"}): no hand-over`);
    return { node, instanceId, action: "not drained", detail: "unknown member" };
  }
  if ((opts.env ?? process.env).PGHA_DRAIN === "off") return { node, instanceId, action: "not drained", detail: "PGHA_DRAIN=off" };
  const transport = ssmTransport({ region: opts.region, instanceIds: { [node]: instanceId }, onlineTimeoutSeconds: opts.onlineTimeoutSeconds ?? 120, aws: opts.aws, pollMs: opts.pollMs });
  try {
    const out = await transport.run(node, ["pgha-etcd", "handover"], 120_000);
    const detail = (out.stderr.trim() || out.stdout.trim()).split("\n").pop() ?? "";
    log(`${node}: pgha-etcd handover ${out.code === 0 ? "done" : `failed (exit ${out.code})`}: ${detail}`);
    return { node, instanceId, action: out.code === 0 ? "left" : "unreachable", detail };
  } catch (e) {
    log(`${node}: not reachable over SSM for the etcd hand-over: ${(e as Error).message}`);
    return { node, instanceId, action: "unreachable", detail: (e as Error).message };
  }
}
