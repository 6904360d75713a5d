// The sandbox's second region: a standby cluster (a stack with postgres-ha:standby) booted beside
// its primary's sandbox. It has its own state directory, bridge (10.88.1.0/24) and hosts, and
// uses what AWS would give it in its region: the second region's S3 endpoint (its own bucket,
// and the primary's repository copy that S3 Replication fills), the same Secrets Manager (moto
// is region-aware: the primary's cluster secret is published in this region too, as a replica
// secret is on AWS). The regions are joined by a router namespace whose filter is the peering's
// security groups (src/sandbox/network.ts, ensureRouter).
import * as fs from "fs";
import * as path from "path";
import type { ClusterSpec } from "../../spec";
import { PGHA_ROOT, STATE_DIR, bootedSpec, readState, stateFile } from "./state";
import { materialDir } from "../material";
import { ensureRouter, removeRouter } from "../network";
import { REGION_S3, SECOND_REGION_S3, s3DataDir, s3Pid } from "../s3";
import { SANDBOX_NETWORK } from "../../layout";
import { cleanupAll, hostState } from "../hosts";
import { detachAllUnder, volumesDirectory } from "../volumes";
import { AWS_HOST, stackS3 } from "../aws";

/** Where the standby cluster's sandbox keeps its state (beside the primary's /var/lib/pgha/sandbox). */
export const STANDBY_STATE_DIR = path.join(PGHA_ROOT, "sandbox-standby");

function refuse(message: string): never {
  throw Object.assign(new Error(message), { exitCode: 3 });
}

/**
 * A standby cluster needs its primary's sandbox up, declaring it (standbyClusters.<stack>: the
 * slot it streams through) and holding the repository copy it reads in its region.
 */
export function checkStandbyPrimary(spec: ClusterSpec): void {
  const s = spec.standby!;
  const state = readState(STATE_DIR);
  if (!state?.userDataHash) refuse(`the standby cluster ${spec.stack} follows ${s.primaryStack}, whose sandbox is not up: run \`npx pgha sandbox up --stack ${s.primaryStack}\` first`);
  if (state.stack !== s.primaryStack) refuse(`the standby cluster ${spec.stack} follows ${s.primaryStack}, but the sandbox runs ${state.stack}`);
  const primary = bootedSpec(state);
  if (!primary.standbyClusters.some((f) => f.stack === spec.stack)) {
    refuse(
      `${s.primaryStack} does not declare the standby cluster ${spec.stack}: add \`postgres-ha:standbyClusters: {${spec.stack}: {cidrs: [${spec.network.vpcCidr}]}}\` to its stack ` +
        `(its permanent slot ${s.slot} and the security groups), then \`npx pgha sandbox apply --stack ${s.primaryStack}\``,
    );
  }
  if (primary.backup.repoEncryption !== spec.backup.repoEncryption)
    refuse(`backup.repoEncryption is ${spec.backup.repoEncryption} on ${spec.stack} but ${primary.backup.repoEncryption} on ${s.primaryStack}: a standby cluster reads its primary's repository copy with the primary's passphrase, so both must say the same`);
  const copy = primary.backup.repositories.find((r) => r.index > 1 && r.region === spec.region);
  if (!copy) refuse(`${s.primaryStack} has no repository copy in ${spec.region} (backup.secondRepository.region): the standby cluster reads its WAL and backups there`);
  if (copy.bucketName !== s.repository.bucketName) refuse(`standby.repositoryBucket = ${s.repository.bucketName}, but ${s.primaryStack}'s copy in ${spec.region} is ${copy.bucketName}`);
}

/**
 * A cluster restored from another stack's repository (restoreFrom) boots beside its source's
 * sandbox, which must run the source stack and hold the bucket the restore reads.
 */
export function checkRestoreSource(spec: ClusterSpec): void {
  const r = spec.restoreFrom!;
  const state = readState(STATE_DIR);
  if (!state?.userDataHash) refuse(`${spec.stack} is restored from stack ${r.stack}, whose sandbox is not up: run \`npx pgha sandbox up --stack ${r.stack}\` first`);
  if (state.stack !== r.stack) refuse(`${spec.stack} is restored from stack ${r.stack}, but the sandbox runs ${state.stack}`);
  const source = bootedSpec(state);
  if (source.clusterName !== r.cluster) refuse(`restoreFrom.cluster = ${r.cluster}, but stack ${r.stack}'s cluster is ${source.clusterName}`);
  const repo = source.backup.repositories.find((x) => x.bucketName === r.repository.bucketName);
  if (!repo) refuse(`restoreFrom.bucket = ${r.repository.bucketName} is none of stack ${r.stack}'s repositories (${source.backup.repositories.map((x) => x.bucketName).join(", ")})`);
  if (repo.region !== r.repository.region) refuse(`restoreFrom.region = ${r.repository.region}, but ${repo.bucketName} is in ${repo.region}`);
  if (source.backup.repoEncryption !== r.repoEncryption)
    refuse(`restoreFrom.repoEncryption is ${r.repoEncryption}, but stack ${r.stack}'s backup.repoEncryption is ${source.backup.repoEncryption}`);
}

/**
 * A restored cluster's material: the sandbox's CA and its S3 and AWS API certificates (the
 * servers it shares with the source's sandbox); its passwords and node certificates are its own.
 */
export function seedRestoredMaterial(sourceStateDir: string, stateDir: string): void {
  const store = path.join(materialDir(stateDir), "material.json");
  if (fs.existsSync(store)) return;
  const source = JSON.parse(fs.readFileSync(path.join(materialDir(sourceStateDir), "material.json"), "utf8")) as Record<string, unknown>;
  fs.mkdirSync(materialDir(stateDir), { recursive: true, mode: 0o700 });
  fs.writeFileSync(store, JSON.stringify({ ca: source.ca, s3: source.s3, aws: source.aws, nodes: {} }, null, 2), { mode: 0o600 });
}

/** The S3 server holding a second-slot stack's own bucket (a standby: the second region's; a restored cluster: its source's region's). */
function ownS3(spec: ClusterSpec) {
  return stackS3(spec).host === SANDBOX_NETWORK.s3SecondHost ? SECOND_REGION_S3 : REGION_S3;
}

/**
 * The standby cluster's material starts from its primary's: the CA (each cluster verifies the
 * other, and a fenced old primary trusts the promoted one), the cluster's passwords (its
 * database is the primary's), the S3 and AWS API certificates. Its node certificates are its own.
 */
export function seedStandbyMaterial(primaryStateDir: string, stateDir: string): void {
  const store = path.join(materialDir(stateDir), "material.json");
  if (fs.existsSync(store)) return;
  const primary = JSON.parse(fs.readFileSync(path.join(materialDir(primaryStateDir), "material.json"), "utf8")) as Record<string, unknown>;
  fs.mkdirSync(materialDir(stateDir), { recursive: true, mode: 0o700 });
  const seeded = { ca: primary.ca, cluster: primary.cluster, statsPassword: primary.statsPassword, s3: primary.s3, aws: primary.aws, nodes: {} };
  fs.writeFileSync(store, JSON.stringify(seeded, null, 2), { mode: 0o600 });
}

/** The router, and the second-slot stack's bucket on its (running) S3 endpoint. */
export async function prepareStandbyRegion(spec: ClusterSpec): Promise<void> {
  const s3 = ownS3(spec);
  if (!s3Pid(STATE_DIR, s3)) refuse(`the S3 endpoint ${s3.name} of the first stack's sandbox is not running`);
  if ((await hostState(AWS_HOST).catch(() => "stopped")) !== "running") refuse("the sandbox's AWS API host is not running: bring the primary's sandbox up first");
  await ensureRouter();
  // s3rver keeps a bucket as a directory of its data directory (CreateBucket makes it).
  fs.mkdirSync(path.join(s3DataDir(STATE_DIR, s3), spec.backup.bucketName), { recursive: true });
}

/** Removes the standby cluster: its hosts, volumes, state, its bucket, and the router. */
export async function downStandby(log: (l: string) => void = () => undefined): Promise<void> {
  const state = readState(STANDBY_STATE_DIR);
  const report = await cleanupAll(STANDBY_STATE_DIR);
  if (report.hosts.length) log(`${state?.stack ?? "second"} cluster (beside the first): removed ${report.hosts.length} host(s)`);
  await detachAllUnder(volumesDirectory(STANDBY_STATE_DIR));
  if (state) {
    try {
      const spec = bootedSpec(state);
      fs.rmSync(path.join(s3DataDir(STATE_DIR, ownS3(spec)), spec.backup.bucketName), { recursive: true, force: true });
    } catch {
      // a state that never finished booting has no spec to read
    }
  }
  await removeRouter();
  fs.rmSync(stateFile(STANDBY_STATE_DIR), { force: true });
  fs.rmSync(STANDBY_STATE_DIR, { recursive: true, force: true });
}
