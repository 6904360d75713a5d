// The sandbox cluster: the stand-ins for what `pulumi up` creates on AWS — a node host as EC2
// launches it, its data volume, the secrets and bundles published to the sandbox's AWS, waiting
// for a host's cloud-init, and the stand-in for SSM Run Command (`sandbox exec`).
import { SANDBOX_NETWORK, type Layout } from "../../layout";
import { renderAll } from "../../render/bundle";
import { nodesOf, type ClusterSpec } from "../../spec";
import { awsAccessDir, secretDocuments, type SandboxMaterial } from "../material";
import { attachVolume, cloudInitStatus, hostExec, type HostDefinition } from "../hosts";
import type { Transport } from "../../rollout/rollout";
import { sleep } from "../shell";
import { createAlertTopic, publishBundles } from "../aws";
import { ensureVolumeFile } from "../volumes";

/**
 * A node host as EC2 would launch it: its bootstrap user-data, and the sandbox's stand-in for
 * the instance role (static credentials and the endpoints' CA at /run/pgha-aws, read-only).
 */
export function hostDefinition(stateDir: string, name: string, address: string, userData: Buffer): HostDefinition {
  return { name, address, userData, binds: [{ source: awsAccessDir(stateDir), target: SANDBOX_NETWORK.awsDir, readOnly: true }] };
}

/** Attaches each PostgreSQL member's data volume (created once, kept with its data). */
export async function attachDataVolumes(spec: ClusterSpec, stateDir: string, members = nodesOf(spec, "postgres").map((n) => n.name)): Promise<void> {
  for (const m of members) await attachVolume(m, ensureVolumeFile(stateDir, m, spec.postgres.dataVolume.sizeGiB));
}

/**
 * The sandbox's `pulumi up` against its local AWS: the alert topic (monitoring.enabled), the
 * secrets in Secrets Manager, the node software and every node's bundle in the bucket, the
 * desired pointers last.
 */
export async function publishStack(spec: ClusterSpec, layout: Layout, material: SandboxMaterial): Promise<ReturnType<typeof renderAll>> {
  const bundles = renderAll(spec, layout);
  if (spec.monitoring.enabled) await createAlertTopic(spec);
  await publishBundles(spec, bundles, secretDocuments(spec, material), material.retiredRoleSecrets);
  return bundles;
}

/** The rollout's transport in the sandbox: commands run on the host as root (`sandbox exec`). */
export const sandboxTransport: Transport = {
  name: "sandbox exec",
  run: (node, argv, timeoutMs) => hostExec(node, argv, { timeoutMs }),
  howToReach: (node) => `npx pgha sandbox exec ${node} -- bash`,
};

/** Waits until cloud-init finished on every host (its final stage runs the bootstrap); fails with its log on an error. */
export async function waitForCloudInit(hosts: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(hosts);
  while (pending.size) {
    for (const name of [...pending]) {
      const s = await cloudInitStatus(name).catch(() => undefined);
      if (s && s.status === "done") pending.delete(name);
      else if (s && s.status === "error") {
        const out = await hostExec(name, ["bash", "-c", "grep -v ci-info /var/log/cloud-init-output.log | tail -15"]);
        throw new Error(`cloud-init failed on ${name}: ${s.errors.join("; ")}\n${out.stdout}`);
      }
    }
    if (!pending.size) break;
    if (Date.now() > deadline) throw new Error(`cloud-init did not finish on ${[...pending].join(", ")} within ${timeoutMs / 1000} s`);
    await sleep(500);
  }
}
