// The sandbox cluster: the stand-ins for what `pulumi up` creates on AWS — a node host as EC2
// launches it, its data volume, and the secrets and bundles published to the sandbox's AWS.
import { SANDBOX_NETWORK, type Layout } from "../../layout";
import { renderAll } from "../../render/bundle";
import { nodesOf, type ClusterSpec } from "../../spec";
import { awsAccessDir, secretDocuments, type SandboxMaterial } from "../material";
import { attachVolume, type HostDefinition } from "../hosts";
import { publishBundles } from "../aws";
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
 * The sandbox's `pulumi up` against its local AWS: the secrets in Secrets Manager, the node
 * software and every node's bundle in the bucket, the desired pointers last.
 */
export async function publishStack(spec: ClusterSpec, layout: Layout, material: SandboxMaterial): Promise<ReturnType<typeof renderAll>> {
  const bundles = renderAll(spec, layout);
  await publishBundles(spec, bundles, secretDocuments(spec, material));
  return bundles;
}
