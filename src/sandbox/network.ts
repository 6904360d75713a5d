/**
 * The sandbox network: one bridge owned by the sandbox, one network namespace per host, and
 * network faults (partitions, isolation, link loss) as nftables rules on the bridge.
 *
 *   machine ── pgha0 (10.88.0.254/24) ──┬── vpgha-db1 ═ veth ═ eth0 10.88.0.11/24 (netns pgha-db1)
 *                                       └── vpgha-db2 ═ veth ═ eth0 10.88.0.12/24 (netns pgha-db2)
 *
 * Safety: before the bridge exists, an unreachable route covers all of 10.88.0.0/16, hosts get
 * no default route and ip_forward is left alone, so no packet of the sandbox's range can leave
 * the machine, even while the bridge is being created or removed.
 *
 * Faults are filtered on the bridge (table `bridge pgha_faults`), not inside the hosts: the
 * machine keeps reaching every host while hosts lose each other, and a rebooted host keeps the
 * fault because its namespace outlives the guest.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { CommandFailedError, runCommand, runOrThrow } from "./shell";
import { SANDBOX_NETWORK } from "../layout";
import { PORTS } from "../spec";

const PORTS_RW = PORTS.readWrite;

export const SANDBOX_BRIDGE = "pgha0";
/** The second region's bridge (10.88.1.0/24: a standby cluster), joined to pgha0 by the router namespace. */
export const SECOND_BRIDGE = "pgha1";
/** The router between the two regions: a namespace with forwarding on and the peering's filter. */
export const ROUTER_NAMESPACE = "pgha-wan";
const ROUTER_LINKS = ["vpgha-wan0", "vpgha-wan1"] as const;
/** The router's filter: what one region may open in the other (the security groups of the peering). */
export const WAN_TABLE = "pgha_wan";
/** The machine's own address on the bridge: tests and the harness reach hosts from it. */
export const MACHINE_ADDRESS = SANDBOX_NETWORK.machineAddress;
export const SANDBOX_PREFIX_LENGTH = SANDBOX_NETWORK.prefixLength;
export const SANDBOX_SUBNET = SANDBOX_NETWORK.cidr;
/** Routed to nowhere (`unreachable`) so nothing of this range ever leaves the machine. */
export const GUARDED_RANGE = SANDBOX_NETWORK.guardedRange;
export const FAULT_TABLE = "pgha_faults";
export const NETNS_DIR = "/run/netns";

const NAMESPACE_PREFIX = "pgha-";
const HOST_LINK_PREFIX = "vpgha-";
/** Linux interface names are at most 15 characters (IFNAMSIZ 16 with the NUL). */
const MAX_INTERFACE_NAME = 15;
const HOST_NAME_PATTERN = /^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$/;

// ---------------------------------------------------------------------------------------------
// Names

export function isValidHostName(name: string): boolean {
  return HOST_NAME_PATTERN.test(name);
}

/** Host names become namespace, machine, cgroup and hostnames: keep them DNS-label-like. */
export function assertHostName(name: string): void {
  if (!isValidHostName(name)) {
    throw new Error(
      `sandbox host name ${JSON.stringify(name)} is not allowed: use 1–32 characters of a–z, 0–9 and '-', ` +
        `starting with a letter and not ending with '-' (e.g. "db1", "etcd-2")`,
    );
  }
}

export function namespaceName(host: string): string {
  assertHostName(host);
  return `${NAMESPACE_PREFIX}${host}`;
}

export function namespacePath(host: string): string {
  return `${NETNS_DIR}/${namespaceName(host)}`;
}

/**
 * The bridge-side end of a host's veth pair: `vpgha-<host>` when that fits in 15 characters,
 * otherwise `vpgha-` + the first 4 characters + 5 hex digits of a hash of the whole name
 * (stable, and distinct for names sharing a prefix).
 */
export function hostLinkName(host: string): string {
  assertHostName(host);
  const plain = `${HOST_LINK_PREFIX}${host}`;
  if (plain.length <= MAX_INTERFACE_NAME) return plain;
  const digest = createHash("sha256").update(host).digest("hex").slice(0, 5);
  return `${HOST_LINK_PREFIX}${host.slice(0, 4)}${digest}`;
}

/** Which region's bridge an address is on: the first (10.88.0.0/24) or the second (10.88.1.0/24). */
export function regionOf(address: string): "first" | "second" {
  return address.startsWith(`${SANDBOX_NETWORK.second.prefix}.`) ? "second" : "first";
}

/** A host address must be a usable address of 10.88.0.0/24 or 10.88.1.0/24 other than the machine's and the router's. */
export function assertHostAddress(address: string): void {
  const prefix = address.startsWith(`${SANDBOX_NETWORK.second.prefix}.`) ? `${SANDBOX_NETWORK.second.prefix}.` : `${SANDBOX_NETWORK.prefix}.`;
  const match = address.startsWith(prefix) ? /^(\d{1,3})$/.exec(address.slice(prefix.length)) : null;
  const lastOctet = match ? Number(match[1]) : NaN;
  if (!match || String(lastOctet) !== match[1] || lastOctet < 1 || lastOctet > 252) {
    throw new Error(
      `sandbox host address ${JSON.stringify(address)} is not allowed: use ${SANDBOX_NETWORK.prefix}.1–252 ` +
        `(${SANDBOX_SUBNET}) or ${SANDBOX_NETWORK.second.prefix}.1–252 (${SANDBOX_NETWORK.second.cidr}, the second region); ` +
        `.253 is the router's and ${MACHINE_ADDRESS} the machine's own address on the bridge`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Serialisation: network changes made concurrently from one process (hosts booted in
// parallel) must not race on creating the bridge or the fault table.

let networkQueue: Promise<unknown> = Promise.resolve();

function serialized<T>(change: () => Promise<T>): Promise<T> {
  const next = networkQueue.then(change, change);
  networkQueue = next.catch(() => undefined);
  return next;
}

/**
 * Runs a creating command; if it fails because another process created the same thing just
 * before (two sandbox commands started at once), that is success.
 */
async function createUnlessRaced(argv: string[], existsNow: () => Promise<boolean>): Promise<void> {
  const result = await runCommand(argv);
  if (result.code !== 0 && !(await existsNow())) throw new CommandFailedError(argv, result);
}

// ---------------------------------------------------------------------------------------------
// Inspection

interface IpLink {
  ifname: string;
  master?: string;
  operstate?: string;
  flags?: string[];
  linkinfo?: { info_kind?: string };
}

async function listLinks(namespace?: string): Promise<IpLink[]> {
  const argv = namespace ? ["ip", "-n", namespace, "-j", "-d", "link", "show"] : ["ip", "-j", "-d", "link", "show"];
  return JSON.parse((await runOrThrow(argv)) || "[]") as IpLink[];
}

async function findLink(name: string): Promise<IpLink | undefined> {
  const result = await runCommand(["ip", "-j", "-d", "link", "show", "dev", name]);
  if (result.code !== 0) return undefined;
  return (JSON.parse(result.stdout) as IpLink[])[0];
}

/** Names of the sandbox's network namespaces (`pgha-*`) that exist on the machine. */
export function listSandboxNamespaces(): string[] {
  if (!existsSync(NETNS_DIR)) return [];
  return readdirSync(NETNS_DIR)
    .filter((entry) => entry.startsWith(NAMESPACE_PREFIX))
    .sort();
}

async function faultTableExists(): Promise<boolean> {
  return (await runCommand(["nft", "list", "table", "bridge", FAULT_TABLE])).code === 0;
}

async function guardRouteExists(): Promise<boolean> {
  const routes = await runOrThrow(["ip", "route", "show", "type", "unreachable", GUARDED_RANGE]);
  return routes.trim() !== "";
}

export interface NetworkInventory {
  bridge: boolean;
  guardRoute: boolean;
  faultTable: boolean;
  /** Sandbox namespaces (`pgha-*`). */
  namespaces: string[];
  /** Host-side veth ends (`vpgha-*`) still on the machine. */
  hostLinks: string[];
}

/** What of the sandbox network exists right now (for status output and leak checks). */
export async function networkInventory(): Promise<NetworkInventory> {
  const links = await listLinks();
  return {
    bridge: links.some((link) => link.ifname === SANDBOX_BRIDGE),
    guardRoute: await guardRouteExists(),
    faultTable: await faultTableExists(),
    namespaces: listSandboxNamespaces(),
    hostLinks: links.map((link) => link.ifname).filter((name) => name.startsWith(HOST_LINK_PREFIX)),
  };
}

// ---------------------------------------------------------------------------------------------
// Bridge and hosts

/** Creates (or confirms) the guard route and the bridge with the machine's address. */
export function ensureSandboxNetwork(): Promise<void> {
  return serialized(async () => {
    // The guard route comes first: from here on nothing of 10.88.0.0/16 can be routed out.
    await runOrThrow(["ip", "route", "replace", "unreachable", GUARDED_RANGE]);
    const bridge = await findLink(SANDBOX_BRIDGE);
    if (bridge && bridge.linkinfo?.info_kind !== "bridge") {
      throw new Error(
        `the machine has a ${bridge.linkinfo?.info_kind ?? "non-bridge"} link named ${SANDBOX_BRIDGE} that is not ` +
          `the sandbox's bridge: remove it (\`ip link del ${SANDBOX_BRIDGE}\`) and start again`,
      );
    }
    if (!bridge) await createUnlessRaced(["ip", "link", "add", SANDBOX_BRIDGE, "type", "bridge"], async () => !!(await findLink(SANDBOX_BRIDGE)));
    await runOrThrow(["ip", "addr", "replace", `${MACHINE_ADDRESS}/${SANDBOX_PREFIX_LENGTH}`, "dev", SANDBOX_BRIDGE]);
    await runOrThrow(["ip", "link", "set", SANDBOX_BRIDGE, "up"]);
  });
}

/** Creates (or confirms) the second region's bridge with the machine's address on it. */
function ensureSecondBridge(): Promise<void> {
  return serialized(async () => {
    await runOrThrow(["ip", "route", "replace", "unreachable", GUARDED_RANGE]);
    if (!(await findLink(SECOND_BRIDGE))) await createUnlessRaced(["ip", "link", "add", SECOND_BRIDGE, "type", "bridge"], async () => !!(await findLink(SECOND_BRIDGE)));
    await runOrThrow(["ip", "addr", "replace", `${SANDBOX_NETWORK.second.machineAddress}/${SANDBOX_PREFIX_LENGTH}`, "dev", SECOND_BRIDGE]);
    await runOrThrow(["ip", "link", "set", SECOND_BRIDGE, "up"]);
  });
}

/** Whether the router between the regions exists. */
export function routerExists(): boolean {
  return listSandboxNamespaces().includes(ROUTER_NAMESPACE);
}

/**
 * The route a host needs to the other region (through the router), or none while no router
 * exists: first-region hosts reach 10.88.1.0/24 via .253, second-region hosts 10.88.0.0/24.
 */
async function routeToOtherRegion(namespace: string, address: string): Promise<void> {
  if (!routerExists()) return;
  const [other, via] = regionOf(address) === "second" ? [SANDBOX_SUBNET, SANDBOX_NETWORK.second.routerAddress] : [SANDBOX_NETWORK.second.cidr, SANDBOX_NETWORK.routerAddress];
  await runOrThrow(["ip", "-n", namespace, "route", "replace", other, "via", via]);
}

/**
 * The router between the two regions (idempotent): namespace `pgha-wan` with one leg on each
 * bridge (.253), forwarding on inside it only (the machine's ip_forward stays 0), and a filter
 * that admits only what the peering's security groups would: from the second region to the
 * first, HTTPS to the AWS API stand-ins and S3 (.248–.250) and the read-write endpoints (HAProxy,
 * 5000) of the first region's load balancers; from the first to the second, the read-write
 * endpoints (a fenced old primary streams from the promoted cluster). Every first-region host
 * gets its route to 10.88.1.0/24 through it.
 */
export async function ensureRouter(): Promise<void> {
  await ensureSandboxNetwork();
  await ensureSecondBridge();
  await serialized(async () => {
    if (!routerExists()) await createUnlessRaced(["ip", "netns", "add", ROUTER_NAMESPACE], async () => routerExists());
    const legs: [string, string, string, string][] = [
      [ROUTER_LINKS[0], "eth0", SANDBOX_BRIDGE, SANDBOX_NETWORK.routerAddress],
      [ROUTER_LINKS[1], "eth1", SECOND_BRIDGE, SANDBOX_NETWORK.second.routerAddress],
    ];
    const inside = (await listLinks(ROUTER_NAMESPACE)).map((l) => l.ifname);
    for (const [outer, inner, bridge, address] of legs) {
      if (!inside.includes(inner)) {
        if (await findLink(outer)) await runOrThrow(["ip", "link", "del", outer]);
        await runOrThrow(["ip", "link", "add", outer, "type", "veth", "peer", "name", inner, "netns", ROUTER_NAMESPACE]);
      }
      await runOrThrow(["ip", "link", "set", outer, "master", bridge, "up"]);
      await runOrThrow(["ip", "-n", ROUTER_NAMESPACE, "addr", "replace", `${address}/${SANDBOX_PREFIX_LENGTH}`, "dev", inner]);
      await runOrThrow(["ip", "-n", ROUTER_NAMESPACE, "link", "set", inner, "up"]);
    }
    await runOrThrow(["ip", "-n", ROUTER_NAMESPACE, "link", "set", "lo", "up"]);
    await runOrThrow(["ip", "netns", "exec", ROUTER_NAMESPACE, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
    const first = SANDBOX_SUBNET;
    const second = SANDBOX_NETWORK.second.cidr;
    const awsApis = `{ ${SANDBOX_NETWORK.s3SecondAddress}, ${SANDBOX_NETWORK.awsAddress}, ${SANDBOX_NETWORK.s3Address} }`;
    const endpoints = (prefix: string) => `${prefix}.31-${prefix}.39`;
    await runOrThrow(["ip", "netns", "exec", ROUTER_NAMESPACE, "nft", "-f", "-"], {
      input: [
        `table inet ${WAN_TABLE}`,
        `delete table inet ${WAN_TABLE}`,
        `table inet ${WAN_TABLE} {`,
        `  chain cut { }`,
        `  chain forward {`,
        `    type filter hook forward priority 0; policy drop;`,
        `    jump cut`,
        `    ct state established,related accept`,
        `    ip saddr ${second} ip daddr ${awsApis} tcp dport 443 accept`,
        `    ip saddr ${second} ip daddr ${endpoints(SANDBOX_NETWORK.prefix)} tcp dport ${PORTS_RW} accept`,
        `    ip saddr ${first} ip daddr ${endpoints(SANDBOX_NETWORK.second.prefix)} tcp dport ${PORTS_RW} accept`,
        `    counter comment "dropped between the regions"`,
        `  }`,
        `}`,
        ``,
      ].join("\n"),
    });
  });
  // Every existing first-region namespace (hosts, S3, the AWS APIs) learns the way back.
  for (const namespace of listSandboxNamespaces()) {
    if (namespace === ROUTER_NAMESPACE) continue;
    const address = (await runOrThrow(["ip", "-n", namespace, "-4", "-o", "addr", "show", "dev", "eth0"])).match(/inet (\S+)\//)?.[1];
    if (address) await routeToOtherRegion(namespace, address);
  }
}

/** Cuts (or restores) every connection between the regions at the router: a peering outage. */
export async function cutBetweenRegions(cut: boolean): Promise<void> {
  const argv = cut ? ["add", "rule", "inet", WAN_TABLE, "cut", "tcp", "dport", String(PORTS_RW), "drop"] : ["flush", "chain", "inet", WAN_TABLE, "cut"];
  await runOrThrow(["ip", "netns", "exec", ROUTER_NAMESPACE, "nft", ...argv]);
}

/** Removes the router and the second bridge (the second region's hosts must be gone). Idempotent. */
export function removeRouter(): Promise<void> {
  return serialized(async () => {
    if (routerExists()) {
      // Processes in it (the inter-region delay, src/sandbox/wan-delay.ts) would keep it alive.
      for (const pid of (await runCommand(["ip", "netns", "pids", ROUTER_NAMESPACE])).stdout.split(/\s+/).filter(Boolean)) await runCommand(["kill", pid]);
      await runOrThrow(["ip", "netns", "del", ROUTER_NAMESPACE]);
    }
    for (const link of [...ROUTER_LINKS, SECOND_BRIDGE]) if (await findLink(link)) await runOrThrow(["ip", "link", "del", link]);
    for (const namespace of listSandboxNamespaces()) await runCommand(["ip", "-n", namespace, "route", "del", SANDBOX_NETWORK.second.cidr]);
  });
}

/**
 * Gives a host its namespace `pgha-<host>` with `lo` up and `eth0` at `address`/24 (no
 * default route), its veth end plugged into the bridge. Idempotent; a host that is running
 * keeps its connections (nothing is recreated when it is already right).
 */
export async function attachHost(host: string, address: string): Promise<void> {
  assertHostName(host);
  assertHostAddress(address);
  await ensureSandboxNetwork();
  const second = regionOf(address) === "second";
  if (second) await ensureRouter();
  const bridge = second ? SECOND_BRIDGE : SANDBOX_BRIDGE;
  await serialized(async () => {
    const namespace = namespaceName(host);
    const hostLink = hostLinkName(host);
    if (!listSandboxNamespaces().includes(namespace)) {
      await createUnlessRaced(["ip", "netns", "add", namespace], async () => listSandboxNamespaces().includes(namespace));
    }

    const guestLinks = await listLinks(namespace);
    const guestHasEth0 = guestLinks.some((link) => link.ifname === "eth0");
    const existingHostLink = await findLink(hostLink);
    if (existingHostLink && !guestHasEth0) {
      // A veth whose other end is not this namespace's eth0 is left from something else.
      await runOrThrow(["ip", "link", "del", hostLink]);
    }
    if (!existingHostLink || !guestHasEth0) {
      await runOrThrow(["ip", "link", "add", hostLink, "type", "veth", "peer", "name", "eth0", "netns", namespace]);
    }
    await runOrThrow(["ip", "link", "set", hostLink, "master", bridge, "up"]);

    const wanted = `${address}/${SANDBOX_PREFIX_LENGTH}`;
    const current = (await runOrThrow(["ip", "-n", namespace, "-4", "-o", "addr", "show", "dev", "eth0"]))
      .split("\n")
      .map((line) => /inet (\S+)/.exec(line)?.[1])
      .filter((cidr): cidr is string => cidr !== undefined);
    if (current.length !== 1 || current[0] !== wanted) {
      await runOrThrow(["ip", "-n", namespace, "addr", "flush", "dev", "eth0"]);
      await runOrThrow(["ip", "-n", namespace, "addr", "add", wanted, "dev", "eth0"]);
    }
    await runOrThrow(["ip", "-n", namespace, "link", "set", "lo", "up"]);
    await runOrThrow(["ip", "-n", namespace, "link", "set", "eth0", "up"]);
    await routeToOtherRegion(namespace, address);
  });
}

/** Removes a host's namespace and veth (the guest must be stopped first). Idempotent. */
export function detachHost(host: string): Promise<void> {
  return serialized(async () => {
    const namespace = namespaceName(host);
    if (listSandboxNamespaces().includes(namespace)) await runOrThrow(["ip", "netns", "del", namespace]);
    if (await findLink(hostLinkName(host))) await runOrThrow(["ip", "link", "del", hostLinkName(host)]);
  });
}

// ---------------------------------------------------------------------------------------------
// Faults

export type PartitionDirection = "both" | "a-to-b";

export interface PartitionOptions {
  /** "both" (default) drops A→B and B→A; "a-to-b" drops only packets from A to B. */
  direction?: PartitionDirection;
}

async function ensureFaultTable(): Promise<void> {
  // `add` is idempotent for tables and chains. The forward chain sees host↔host traffic;
  // input/output see host↔machine traffic, so a partition may include MACHINE_ADDRESS.
  const chains = ["forward", "input", "output"]
    .map((hook) => `add chain bridge ${FAULT_TABLE} ${hook} { type filter hook ${hook} priority 0; policy accept; }`)
    .join("\n");
  await runOrThrow(["nft", "-f", "-"], { input: `add table bridge ${FAULT_TABLE}\n${chains}\n` });
}

async function faultRuleComments(): Promise<Set<string>> {
  const result = await runCommand(["nft", "-j", "list", "table", "bridge", FAULT_TABLE]);
  if (result.code !== 0) return new Set();
  const listing = JSON.parse(result.stdout) as { nftables: Array<{ rule?: { comment?: string } }> };
  return new Set(listing.nftables.map((entry) => entry.rule?.comment).filter((c): c is string => !!c));
}

async function addFaultRules(comment: string, rules: Array<{ chain: string; match: string }>): Promise<void> {
  await ensureFaultTable();
  if ((await faultRuleComments()).has(comment)) return;
  const script = rules
    .map(({ chain, match }) => `add rule bridge ${FAULT_TABLE} ${chain} ${match} counter drop comment "${comment}"`)
    .join("\n");
  await runOrThrow(["nft", "-f", "-"], { input: `${script}\n` });
}

function addressSet(addresses: readonly string[]): string {
  return `{ ${addresses.join(", ")} }`;
}

function assertAddressGroup(label: string, group: readonly string[]): void {
  if (group.length === 0) throw new Error(`partition: ${label} is empty; give at least one address`);
  for (const address of group) {
    if (address !== MACHINE_ADDRESS) assertHostAddress(address);
  }
}

/**
 * Drops IPv4 traffic between two groups of addresses on the bridge (both ways, or only from
 * A to B). ARP still works, so a partitioned peer looks like one whose packets vanish.
 * Idempotent: the same partition twice adds its rules once.
 */
export function partition(
  groupA: readonly string[],
  groupB: readonly string[],
  { direction = "both" }: PartitionOptions = {},
): Promise<void> {
  assertAddressGroup("groupA", groupA);
  assertAddressGroup("groupB", groupB);
  const overlap = groupA.filter((address) => groupB.includes(address));
  if (overlap.length > 0) throw new Error(`partition: ${overlap.join(", ")} is in both groups; a host is on one side only`);
  const a = [...groupA].sort();
  const b = [...groupB].sort();
  const key = createHash("sha256").update(`${direction}|${a.join(",")}|${b.join(",")}`).digest("hex").slice(0, 12);
  const pairs = direction === "both" ? [[a, b], [b, a]] : [[a, b]];
  const rules = pairs.flatMap(([from, to]) =>
    ["forward", "input", "output"].map((chain) => ({
      chain,
      match: `ip saddr ${addressSet(from!)} ip daddr ${addressSet(to!)}`,
    })),
  );
  return serialized(() => addFaultRules(`pgha partition ${key}`, rules));
}

/**
 * Cuts a host off from every other host (all traffic through its bridge port). The machine
 * still reaches it, so the harness keeps control; use linkDown to cut the machine off too.
 */
export function isolate(host: string): Promise<void> {
  const link = hostLinkName(host);
  return serialized(() =>
    addFaultRules(`pgha isolate ${host}`, [
      { chain: "forward", match: `iifname "${link}"` },
      { chain: "forward", match: `oifname "${link}"` },
    ]),
  );
}

/** Takes the host's bridge port down: the host loses its carrier (machine included). */
export function linkDown(host: string): Promise<void> {
  return serialized(() => setHostLink(host, "down"));
}

export function linkUp(host: string): Promise<void> {
  return serialized(() => setHostLink(host, "up"));
}

async function setHostLink(host: string, state: "up" | "down"): Promise<void> {
  const link = hostLinkName(host);
  if (!(await findLink(link))) {
    throw new Error(`sandbox host ${host} has no network link ${link}: boot it first (bootHost/startHost)`);
  }
  await runOrThrow(["ip", "link", "set", link, state]);
}

/** Undoes every fault: removes the fault table and brings every host's bridge port up. */
export function heal(): Promise<void> {
  return serialized(async () => {
    if (await faultTableExists()) await runOrThrow(["nft", "delete", "table", "bridge", FAULT_TABLE]);
    const ports = (await listLinks()).filter(
      (link) => link.ifname.startsWith(HOST_LINK_PREFIX) && (link.master === SANDBOX_BRIDGE || link.master === SECOND_BRIDGE),
    );
    for (const port of ports) {
      if (port.flags?.includes("UP") !== true) await runOrThrow(["ip", "link", "set", port.ifname, "up"]);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Teardown

/**
 * Removes everything network of the sandbox: fault table, every `pgha-*` namespace, every
 * `vpgha-*` link, the bridge, then the guard route (last, so the range stays guarded until the
 * bridge is gone). Idempotent; stop the hosts first (hosts.cleanupAll does).
 */
export function teardownNetwork(): Promise<void> {
  return serialized(async () => {
    if (await faultTableExists()) await runOrThrow(["nft", "delete", "table", "bridge", FAULT_TABLE]);
    for (const namespace of listSandboxNamespaces()) await runOrThrow(["ip", "netns", "del", namespace]);
    for (const link of await listLinks()) {
      if (link.ifname.startsWith(HOST_LINK_PREFIX) || link.ifname === SANDBOX_BRIDGE || link.ifname === SECOND_BRIDGE) {
        await runOrThrow(["ip", "link", "del", link.ifname]);
      }
    }
    if (await guardRouteExists()) await runOrThrow(["ip", "route", "del", "unreachable", GUARDED_RANGE]);
    await unmountEmptyNetnsDir();
  });
}

/**
 * `ip netns add` turns /run/netns into a shared bind mount. Once no namespace of anyone is
 * left, unmount it so no mount of the sandbox stays behind (ip recreates it when needed).
 */
async function unmountEmptyNetnsDir(): Promise<void> {
  if (!existsSync(NETNS_DIR) || readdirSync(NETNS_DIR).length > 0) return;
  const mountedTimes = readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .filter((line) => line.split(" ")[1] === NETNS_DIR).length;
  for (let i = 0; i < mountedTimes; i++) await runCommand(["umount", NETNS_DIR]);
}
