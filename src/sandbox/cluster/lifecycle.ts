// The sandbox cluster: up (boot the stack as local hosts, or resume and converge a stopped one),
// down (remove it, or stop it keeping its disks).
import * as fs from "fs";
import * as path from "path";
import { execFileSync } from "child_process";
import { loadStack, readStackFile } from "../../config/stack-file";
import { formatRollout } from "../../rollout/rollout";
import { SANDBOX_NETWORK, sandboxLayout } from "../../layout";
import { repoPath } from "../../repo-root";
import { ensureMaterial, secretDocuments } from "../material";
import { bootHost, cleanupAll, listHosts, shutdownHost, startHost, waitForBoot } from "../hosts";
import { AWS_HOST, publishSecrets, stackS3, startAwsApis } from "../aws";
import { DEFAULT_WAN_DELAY_MS, setWanDelay } from "../wan-delay";
import { detachAllUnder, volumesDirectory } from "../volumes";
import { ensureSandboxNetwork } from "../network";
import { removeS3, repositoryEndpoints, startRepositoryS3 } from "../s3";
import { SandboxClient } from "../client";
import { waitHealthy } from "../health";
import { apply, describeDrift, drift } from "./converge";
import { attachDataVolumes, hostDefinition, publishStack, waitForCloudInit } from "./provision";
import { IMAGES_DIR, openSandbox, readState, sandboxUserDataHash, STATE_DIR, staleReason, stateFile, writeState } from "./state";
import type { Sandbox, SandboxState } from "./types";
import { applyAccess, declaresAccess } from "./access";
import { checkRestoreSource, checkStandbyPrimary, downStandby, prepareStandbyRegion, seedRestoredMaterial, seedStandbyMaterial, STANDBY_STATE_DIR } from "./standby-region";

export interface UpOptions {
  stack: string;
  stateDir?: string;
  log?: (line: string) => void;
  /** How long to wait for the cluster to become healthy. */
  timeoutMs?: number;
  /** A standby cluster: the one-way delay between the regions (ms; default DEFAULT_WAN_DELAY_MS, 0 none). */
  wanDelayMs?: number;
}

/** Builds (once, cached by package list) the Debian 13 image and returns its root. */
export function ensureImage(log: (line: string) => void = () => undefined): string {
  fs.mkdirSync(IMAGES_DIR, { recursive: true });
  log(`image: sandbox/build-image.sh ${IMAGES_DIR} (cached after the first build)`);
  return execFileSync(repoPath("sandbox", "build-image.sh"), [IMAGES_DIR], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
}

/** Brings the stack up as local hosts; idempotent (a healthy sandbox of the same stack is kept). */
export async function up(opts: UpOptions): Promise<Sandbox> {
  const log = opts.log ?? (() => undefined);
  const { stack, file, spec } = loadStack(opts.stack);
  // A standby cluster boots as a second sandbox in the second region, beside its primary's; a
  // cluster restored from another stack's repository beside its source, in the same slot.
  const secondSlot = spec.standby !== undefined || spec.restoreFrom !== undefined;
  const stateDir = opts.stateDir ?? (secondSlot ? STANDBY_STATE_DIR : STATE_DIR);
  if (spec.standby) checkStandbyPrimary(spec);
  if (spec.restoreFrom) checkRestoreSource(spec);
  const rawConfig = readStackFile(file).raw;
  // A state without a user-data hash is an `up` that never finished booting: start again.
  const existing = readState(stateDir)?.userDataHash ? readState(stateDir) : undefined;
  const stale = existing && staleReason(opts.stack, stateDir);
  if (existing && stale) {
    const downCommand = stateDir === STANDBY_STATE_DIR ? "npx pgha sandbox down --standby" : "npx pgha sandbox down";
    throw Object.assign(new Error(`the running ${stateDir === STANDBY_STATE_DIR ? "cluster beside the first stack's" : "sandbox"} cannot be reused: ${stale}; run \`${downCommand}\` first, then up --stack ${stack}`), { exitCode: 3 });
  }
  if (existing && secondSlot) {
    // A standby (or restored) cluster that is up is kept as it is (it shares the first stack's S3 and AWS APIs).
    const sb = await openSandbox(stateDir);
    await waitHealthy(sb, opts.timeoutMs ?? 180_000);
    return sb;
  }
  if (existing) {
    // The same stack: boot what is stopped, wait for health, then converge to the stack file
    // when it changed since (an apply; a membership change is refused by apply).
    const sb = await openSandbox(stateDir);
    await resume(sb, log);
    log("waiting for the cluster: a leader, streaming replicas, HAProxy routing");
    await waitHealthy(sb, opts.timeoutMs ?? 180_000);
    if (drift(sb)) {
      log(describeDrift(drift(sb)!));
      const r = await apply(sb, { log });
      if (!r.rollout.ok) throw new Error(formatRollout(r.rollout));
      return openSandbox(stateDir);
    }
    return sb;
  }
  {
    // A killed run may have left hosts, mounts, cgroups or namespaces behind.
    const leftovers = await cleanupAll(stateDir);
    if (leftovers.hosts.length) log(`cleaned up ${leftovers.hosts.length} host(s) left by an earlier run`);
    fs.rmSync(path.join(stateDir, "material"), { recursive: true, force: true });
    fs.rmSync(path.join(stateDir, "s3"), { recursive: true, force: true });
    await detachAllUnder(volumesDirectory(stateDir));
    fs.rmSync(volumesDirectory(stateDir), { recursive: true, force: true });
  }
  const image = ensureImage(log);
  const layout = sandboxLayout(spec);
  if (spec.standby) {
    log(`certificates and secrets: the primary's CA and cluster passwords (its database), this cluster's node certificates`);
    seedStandbyMaterial(STATE_DIR, stateDir);
  } else if (spec.restoreFrom) {
    log(`certificates and secrets: the sandbox's CA, this cluster's own passwords and node certificates (the repository passphrase of ${spec.restoreFrom.stack} is read from its cluster secret)`);
    seedRestoredMaterial(STATE_DIR, stateDir);
  } else log("certificates and secrets (local CA, generated passwords)");
  const material = await ensureMaterial(spec, layout, stateDir);
  // The user-data hash is recorded only once the hosts booted with it (see below).
  const state: SandboxState = { stack, stackFile: file, image, createdAt: new Date().toISOString() };
  writeState(state, stateDir);

  await ensureSandboxNetwork();
  if (spec.restoreFrom) {
    const r = spec.restoreFrom;
    log(`beside ${r.stack}: bridge ${SANDBOX_NETWORK.second.cidr}; restored from s3://${r.repository.bucketName}${r.repoPath} at ${r.target.type}${r.target.value ? ` ${r.target.value}` : ""}; own bucket ${spec.backup.bucketName} on https://${stackS3(spec).host}`);
    await prepareStandbyRegion(spec);
    // The same region as its source: nothing between them but the router's forwarding.
    await setWanDelay(0);
  } else if (spec.standby) {
    log(`second region: bridge ${SANDBOX_NETWORK.second.cidr}, router ${SANDBOX_NETWORK.routerAddress} ↔ ${SANDBOX_NETWORK.second.routerAddress}; bucket ${spec.backup.bucketName} on https://${SANDBOX_NETWORK.s3SecondHost}`);
    await prepareStandbyRegion(spec);
    const delay = opts.wanDelayMs ?? DEFAULT_WAN_DELAY_MS;
    await setWanDelay(delay);
    log(delay ? `between the regions: ${delay} ms each way (sandbox/wan-delay.py on the router's NFQUEUE; S3 and the AWS APIs stay in-region)` : "between the regions: no added delay");
  } else {
    for (const r of repositoryEndpoints(spec)) log(`S3 endpoint https://${r.endpoint.name} for repo${r.repo} (s3rver at ${path.basename(stateDir)}/${r.endpoint.dir}, bucket ${r.bucket})`);
    await startRepositoryS3(stateDir, spec);
    log(`AWS APIs https://${SANDBOX_NETWORK.awsHost} (moto on host ${AWS_HOST}, ${SANDBOX_NETWORK.awsAddress})`);
    await startAwsApis(stateDir, image, layout);
  }
  log("publishing secrets (Secrets Manager) and bundles (S3), as `pulumi up` does");
  const bundles = await publishStack(spec, layout, material);

  const started = Date.now();
  log(`booting ${spec.nodes.length} hosts: ${spec.nodes.map((n) => `${n.name} (${layout.addresses[n.name]})`).join(", ")}`);
  await Promise.all(
    spec.nodes.map((n) => bootHost(hostDefinition(stateDir, n.name, layout.addresses[n.name], bundles.find((b) => b.node === n.name)!.userDataGzip), { image, stateDir })),
  );
  // The data volumes are attached once the instances run, as EC2 attaches a VolumeAttachment.
  await attachDataVolumes(spec, stateDir);
  // "Booted" includes cloud-init's final stage: the bootstrap fetching and installing the bundle.
  await Promise.all(spec.nodes.map((n) => waitForBoot(n.name, opts.timeoutMs ?? 300_000)));
  state.userDataHash = sandboxUserDataHash(spec);
  state.config = rawConfig;
  state.appliedAt = new Date().toISOString();
  state.bundleHashes = Object.fromEntries(bundles.map((b) => [b.node, b.hash]));
  writeState(state, stateDir);
  log(`hosts booted in ${((Date.now() - started) / 1000).toFixed(1)} s; waiting for cloud-init`);
  await waitForCloudInit(spec.nodes.map((n) => n.name), opts.timeoutMs ?? 180_000);
  const client = new SandboxClient(spec, layout, stateDir, material.cluster.superuserPassword, material.cluster.restApiPassword);
  const sandbox: Sandbox = { state, spec, layout, material, client, stateDir };
  log("waiting for the cluster: a leader, streaming replicas, HAProxy routing");
  await waitHealthy(sandbox, opts.timeoutMs ?? 180_000);
  log(`cluster healthy ${((Date.now() - started) / 1000).toFixed(1)} s after boot`);
  if (declaresAccess(sandbox)) {
    log("databases and roles of the stack (pgha-access on the leader)");
    await applyAccess(sandbox, log);
  }
  return sandbox;
}

export async function down(opts: { stateDir?: string; keepData?: boolean; log?: (l: string) => void } = {}): Promise<void> {
  const stateDir = opts.stateDir ?? STATE_DIR;
  const log = opts.log ?? (() => undefined);
  if (path.resolve(stateDir) === path.resolve(STANDBY_STATE_DIR)) return downStandby(log);
  // The standby cluster runs on the primary's S3 and AWS APIs: it goes first.
  if (path.resolve(stateDir) === path.resolve(STATE_DIR) && fs.existsSync(STANDBY_STATE_DIR)) await downStandby(log);
  const state = readState(stateDir);
  if (opts.keepData && state) {
    const hosts = await listHosts(stateDir);
    log(`stopping ${hosts.length} hosts (disks kept: \`npx pgha sandbox up --stack ${state.stack}\` boots them again)`);
    await Promise.all(hosts.filter((h) => h.state !== "stopped").map((h) => shutdownHost(h.name)));
    await removeS3(stateDir, true);
    return;
  }
  await removeS3(stateDir, false);
  const report = await cleanupAll(stateDir);
  log(`removed ${report.hosts.length} host(s), ${report.unmounted.length} mount(s), ${report.removedCgroups.length} cgroup(s)`);
  fs.rmSync(path.join(stateDir, "material"), { recursive: true, force: true });
  await detachAllUnder(volumesDirectory(stateDir));
  fs.rmSync(volumesDirectory(stateDir), { recursive: true, force: true });
  fs.rmSync(stateFile(stateDir), { force: true });
  fs.rmSync(path.join(stateDir, "scratch.json"), { force: true });
}

/** `up` after `down --keep-data`: boot the stopped hosts again. */
export async function resume(sb: Sandbox, log: (l: string) => void = () => undefined): Promise<void> {
  await ensureSandboxNetwork();
  await startRepositoryS3(sb.stateDir, sb.spec);
  // moto keeps its state in memory: after a stop the secrets are published again before the
  // nodes boot (they fetch them with retries at boot, as EC2 nodes wait for IAM).
  await startAwsApis(sb.stateDir, sb.state.image, sb.layout);
  await publishSecrets(secretDocuments(sb.spec, sb.material), sb.spec.region);
  const hosts = await listHosts(sb.stateDir);
  const stopped = hosts.filter((h) => h.state === "stopped");
  if (stopped.length) log(`starting ${stopped.length} stopped host(s)`);
  await Promise.all(stopped.map((h) => startHost(h.name)));
  await Promise.all(hosts.map((h) => waitForBoot(h.name)));
}
