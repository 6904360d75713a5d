// The sandbox cluster: the stack's topology as local hosts booted from the Debian 13 image by the
// same cloud-init user-data EC2 gets (sandbox layout), plus the S3 endpoint — up, down, status,
// and the faults the tests and benchmarks inject.
//
// This file is the module's public API; the code is split by responsibility:
//   types.ts      the shared types (recorded state, the opened sandbox)
//   state.ts      state.json, reuse checks, opening the running sandbox
//   provision.ts  node hosts as EC2 launches them, data volumes, publishing secrets and bundles,
//                 waiting for cloud-init, the `sandbox exec` transport (SSM's stand-in)
//   membership.ts PostgreSQL members and HAProxy nodes added and removed by apply
//   replace.ts    a node's host replaced by a new one (new image), its data volume kept
//   lifecycle.ts  up, down, resume
//   converge.ts   day 2: drift and `sandbox apply`
//   status.ts     `sandbox status` (gathered and printed)
//   faults.ts     stop/start/reboot members, partitions, patronictl, switchover, failover
export type { Sandbox, SandboxState } from "./types";
export { bootedSpec, IMAGES_DIR, openSandbox, PGHA_ROOT, readState, sandboxUserDataHash, STATE_DIR, staleReason } from "./state";
export { attachDataVolumes, hostDefinition, publishStack, sandboxTransport, waitForCloudInit } from "./provision";
export { changeMembership, membershipRefusal, type MembershipChange } from "./membership";
export { replaceNode, ReplaceRefused, type ReplaceResult } from "./replace";
export { down, ensureImage, resume, up, type UpOptions } from "./lifecycle";
export { apply, describeDrift, drift, type ApplyResult, type Drift } from "./converge";
export { archiverStatus, formatStatus, mainPid, mainProcessOf, status, type MemberStatus, type SandboxStatus } from "./status";
export {
  failover, healNetwork, killMember, partitionMembers, patronictl, rebootMember, rejoinPath, rejoinPathOf, startMember, switchover, waitFailsafeInactive,
  type RejoinPath,
} from "./faults";
export { checkHealth, etcdHealth, waitHealthy, probeMembers, type Health, type MemberReach } from "../health";
export { formatRollout } from "../../rollout/rollout";
export { hostExec, powerCut, startHost, waitForBoot } from "../hosts";
