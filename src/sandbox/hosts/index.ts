/**
 * Sandbox hosts: local machines that boot like EC2 instances.
 *
 * Each host is a copy-on-write overlay of the Debian 13 image, with a NoCloud seed (its own
 * cloud-init user-data) written into it, booted by systemd-nspawn inside the host's network
 * namespace (network.ts). The guest runs its own systemd, so cloud-init, the units and the
 * cron jobs that EC2 runs are what the sandbox runs.
 *
 * On disk, per host (`<stateDir>/hosts/<name>/`):
 *   host.json        what the host is (address, image, binds, seed digest)
 *   upper/ work/     the overlay's writable layer: the host's "disk"
 *   merged/          the overlay mount: the host's root file system, also seen from the machine
 *   supervise.sh     the per-host supervisor (generated): boots the guest, boots it again
 *                    after a guest-initiated reboot (nspawn exit 133), stops on any other exit
 *   console.log      nspawn's and the supervisor's output
 *   supervisor.pid, nspawn.pid, last-exit
 * and `/run/pgha/hosts/<name>` → that directory, so any process can find a host by name
 * (host names are machine-wide anyway: namespaces, cgroups and machine names carry them).
 *
 * The supervisor is started with setsid, detached from the Node process that asked for it:
 * hosts keep running when the CLI or a test process exits. It first moves itself into its own
 * cgroup `hs-<name>` (cgroup2 at /sys/fs/cgroup/unified and the name=systemd v1 hierarchy),
 * because nspawn --keep-unit creates `payload/` and `supervisor/` in its caller's cgroup.
 *
 * The layer is split by responsibility (this file is its public API; everything else is internal):
 *   types.ts            public types, errors and default timeouts
 *   layout.ts           where a host lives on disk and on the machine; its record
 *   registry.ts         /run/pgha/hosts/<name> → host directory
 *   procfs.ts           a host's processes in /proc (supervisor, nspawn, the guest's init)
 *   mounts.ts           /proc/mounts, the overlay, unmounting
 *   cgroups.ts          the host's cgroups: kill everything in them, remove them
 *   seed.ts             the NoCloud seed and the image's platform settings
 *   supervisor.ts       supervise.sh: boots the guest, again after a reboot
 *   validation.ts       checks on a definition, and its digest
 *   lifecycle.ts        boot, start, attach a volume, power cut, shutdown, reboot, reset
 *   state.ts            the guest's init, the host's state, waiting for boot, the list of hosts
 *   exec.ts             commands inside a host; cloud-init's verdict
 *   guest-processes.ts  the guest's processes seen from the machine
 *   cleanup.ts          removing hosts and everything they hold; what is left
 */
export {
  DEFAULT_BOOT_TIMEOUT_MS,
  DEFAULT_SHUTDOWN_TIMEOUT_MS,
  HostNotRunningError,
  UnknownHostError,
  type BindMount,
  type BootedHost,
  type CleanupOptions,
  type CleanupReport,
  type CloudInitStatus,
  type GuestProcess,
  type GuestSystemState,
  type HostDefinition,
  type HostExecOptions,
  type HostExecResult,
  type HostLayerOptions,
  type HostState,
  type HostSummary,
} from "./types";
export { attachVolume, bootHost, powerCut, rebootHost, resetHost, shutdownHost, startHost } from "./lifecycle";
export { guestPid, hostRootDirectory, hostState, listHosts, waitForBoot } from "./state";
export { cloudInitStatus, hostExec, hostExecChecked } from "./exec";
export { hostPids, hostProcesses } from "./guest-processes";
export { cleanupAll, sandboxLeftovers } from "./cleanup";
