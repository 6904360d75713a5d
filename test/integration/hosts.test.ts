/**
 * The sandbox host layer on real hosts: three Debian 13 guests booted by systemd-nspawn from
 * the project image, configured by cloud-init through a NoCloud seed, on the sandbox bridge.
 * Needs root, systemd-container, nftables and the image (built here if missing, ≈ 60 s).
 * Timings are printed as a table at the end, never asserted.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { gzipSync } from "node:zlib";
import * as hosts from "../../src/sandbox/hosts";
import * as network from "../../src/sandbox/network";

const REPO = path.resolve(__dirname, "../..");
/** Fixed, so a run that was killed is cleaned up by the next one. */
const STATE_DIR = "/var/tmp/pgha-test-hosts";
const IMAGE_BASE = process.env.PGHA_IMAGE_DIR ?? "/var/lib/pgha/images";
const HTTP_PORT = 8080;
const UDP_PORT = 9999;
/** A machine directory shown read-only inside host c. */
const SHARED_DIR = path.join(STATE_DIR, "shared");

const machines = {
  a: { name: "ita", address: "10.88.0.41" },
  b: { name: "itb", address: "10.88.0.42" }, // gets gzip-compressed user-data, as EC2 nodes do
  c: { name: "itc", address: "10.88.0.43" }, // gets a read-only bind of SHARED_DIR at /mnt/shared
};
const all = Object.values(machines);

const timings: Array<[string, number]> = [];
async function timed<T>(label: string, work: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await work();
  } finally {
    timings.push([label, Date.now() - started]);
  }
}

function userDataFor(name: string): string {
  return `#cloud-config
write_files:
  - path: /srv/www/greeting
    content: "hello from ${name}\\n"
    owner: nobody:nogroup
    permissions: "0640"
runcmd:
  - [sh, -c, "echo ran >> /var/lib/pgha-test-runcmd.log"]
`;
}

/** HTTP GET from another host; true when the greeting came back. */
async function reaches(from: string, to: { name: string; address: string }): Promise<boolean> {
  const result = await hosts.hostExec(from, [
    "curl", "-sS", "--connect-timeout", "0.5", "--max-time", "1", `http://${to.address}:${HTTP_PORT}/greeting`,
  ]);
  return result.code === 0 && result.stdout.includes(`hello from ${to.name}`);
}

/** HTTP GET from the machine itself (through the bridge address 10.88.0.254). */
function machineFetch(address: string, timeoutMs = 1000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const request = http.get({ host: address, port: HTTP_PORT, path: "/greeting", timeout: timeoutMs }, (response) => {
      let body = "";
      response.on("data", (chunk: Buffer) => (body += chunk.toString()));
      response.on("end", () => resolve(body));
    });
    request.on("timeout", () => request.destroy());
    request.on("error", () => resolve(undefined));
  });
}

async function eventually<T>(probe: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (accept(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function startHttpServer(host: string): Promise<void> {
  await hosts.hostExecChecked(host, [
    "systemd-run", "--unit=pgha-test-http", "--property=User=nobody",
    "python3", "-m", "http.server", String(HTTP_PORT), "--directory", "/srv/www",
  ]);
  await eventually(() => hosts.hostExec(host, ["curl", "-sf", `http://127.0.0.1:${HTTP_PORT}/greeting`]), (r) => r.code === 0);
}

const UDP_SINK = `import socket
sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sink.bind(("0.0.0.0", ${UDP_PORT}))
while True:
    data, _ = sink.recvfrom(1024)
    with open("/run/udp-received", "ab") as received:
        received.write(data + b"\\n")
`;

async function sendDatagram(from: string, toAddress: string, token: string): Promise<void> {
  await hosts.hostExecChecked(from, ["bash", "-c", `echo ${token} > /dev/udp/${toAddress}/${UDP_PORT}`]);
}

async function received(host: string): Promise<string> {
  return (await hosts.hostExec(host, ["cat", "/run/udp-received"])).stdout;
}

/** Gone, or a zombie (whose command line is empty) waiting to be reaped. */
function isDead(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8") === "";
  } catch {
    return true;
  }
}

function mountsUnder(directory: string): string[] {
  return readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[1] ?? "")
    .filter((target) => target.startsWith(directory));
}

function sandboxCgroups(): string[] {
  return ["/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"]
    .filter(existsSync)
    .flatMap((hierarchy) => readdirSync(hierarchy).filter((entry) => /^hs-it[abc]$/.test(entry)));
}

/**
 * Another sandbox (the cluster the other integration tests share) may be up on the machine:
 * then only this suite's hosts must be gone, and the shared bridge stays.
 */
let otherSandboxHosts: string[] = [];
const ours = (name: string) => /^(pgha-|vpgha-|hs-)?it[abc]$/.test(name) || /(^|[-/])it[abc]($|\/)/.test(name);

async function expectNothingLeft(): Promise<void> {
  const inventory = await network.networkInventory();
  const leftovers = hosts.sandboxLeftovers();
  if (otherSandboxHosts.length === 0) {
    expect(inventory).toEqual({ bridge: false, guardRoute: false, faultTable: false, namespaces: [], hostLinks: [] });
    expect(leftovers).toEqual({ cgroups: [], mounts: [], registeredHosts: [] });
  } else {
    expect(inventory.namespaces.filter(ours)).toEqual([]);
    expect(inventory.hostLinks.filter(ours)).toEqual([]);
    expect(leftovers.registeredHosts.filter(ours)).toEqual([]);
    expect(leftovers.cgroups.filter(ours)).toEqual([]);
    expect(leftovers.mounts.filter((m) => m.includes(STATE_DIR))).toEqual([]);
  }
  expect(mountsUnder(STATE_DIR)).toEqual([]);
  expect(sandboxCgroups().filter(ours)).toEqual([]);
  expect(existsSync(path.join(STATE_DIR, "hosts", machines.a.name))).toBe(false);
  const guests = execFileSync("ps", ["-eo", "args"]).toString().split("\n").filter((line) => /systemd-nspawn .*-M it[abc]/.test(line));
  expect(guests).toEqual([]);
}

let image: string;

// Booting hosts takes seconds, more while the shared cluster runs beside them.
jest.setTimeout(120_000);

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error("the host-layer tests boot real hosts and must run as root");
  image = execFileSync("bash", [path.join(REPO, "sandbox/build-image.sh"), IMAGE_BASE], {
    stdio: ["ignore", "pipe", "inherit"],
  }).toString().trim();
  await hosts.cleanupAll(STATE_DIR);
  otherSandboxHosts = hosts.sandboxLeftovers().registeredHosts.filter((h) => !ours(h));
  mkdirSync(SHARED_DIR, { recursive: true });
  writeFileSync(path.join(SHARED_DIR, "note"), "from the machine\n");
});

afterAll(async () => {
  await hosts.cleanupAll(STATE_DIR);
  const width = Math.max(...timings.map(([label]) => label.length));
  console.log(`host layer timings\n${timings.map(([label, ms]) => `  ${label.padEnd(width)}  ${String(ms).padStart(6)} ms`).join("\n")}`);
});

describe("sandbox hosts", () => {
  test("boots three hosts in parallel; cloud-init is done without errors or warnings", async () => {
    await timed("boot 3 hosts in parallel", async () => {
      await Promise.all(
        all.map((host) =>
          hosts.bootHost(
            {
              name: host.name,
              address: host.address,
              userData: host === machines.b ? gzipSync(userDataFor(host.name)) : userDataFor(host.name),
              binds: host === machines.c ? [{ source: SHARED_DIR, target: "/mnt/shared", readOnly: true }] : [],
            },
            { image, stateDir: STATE_DIR },
          ),
        ),
      );
      const states = await Promise.all(all.map((host) => hosts.waitForBoot(host.name, 60_000)));
      expect(states).toEqual(["running", "running", "running"]);
    });
    const machineIds = await Promise.all(all.map((host) => hosts.hostExecChecked(host.name, ["cat", "/etc/machine-id"])));
    expect(new Set(machineIds).size).toBe(all.length); // each host is its own instance
    for (const host of all) {
      const status = await hosts.cloudInitStatus(host.name);
      expect(status).toMatchObject({ status: "done", extendedStatus: "done", errors: [], recoverableErrors: {} });
      expect(status.detail).toContain("DataSourceNoCloud");
      expect(await hosts.hostState(host.name)).toBe("running");
    }
  });

  test("accepts gzip-compressed user-data (what EC2 nodes get, to stay under 16 KB)", async () => {
    const seed = readFileSync(path.join(hosts.hostRootDirectory(machines.b.name), "var/lib/cloud/seed/nocloud/user-data"));
    expect([...seed.subarray(0, 2)]).toEqual([0x1f, 0x8b]);
    expect(await hosts.hostExecChecked(machines.b.name, ["cat", "/srv/www/greeting"])).toBe("hello from itb\n");
  });

  test("cloud-init wrote files with the owner and mode asked, and runcmd ran once", async () => {
    for (const host of all) {
      expect(await hosts.hostExecChecked(host.name, ["stat", "-c", "%U:%G %a", "/srv/www/greeting"])).toBe("nobody:nogroup 640\n");
      expect(await hosts.hostExecChecked(host.name, ["cat", "/var/lib/pgha-test-runcmd.log"])).toBe("ran\n");
      expect((await hosts.hostExecChecked(host.name, ["hostname"])).trim()).toBe(host.name);
    }
  });

  test("binds show machine directories inside the host, read-only when asked", async () => {
    expect(await hosts.hostExecChecked(machines.c.name, ["cat", "/mnt/shared/note"])).toBe("from the machine\n");
    const write = await hosts.hostExec(machines.c.name, ["touch", "/mnt/shared/written-by-guest"]);
    expect(write.code).not.toBe(0);
    expect(write.stderr).toMatch(/Read-only file system/);
  });

  test("bootHost is idempotent and refuses a changed definition", async () => {
    const before = hosts.guestPid(machines.a.name);
    await hosts.bootHost({ ...machines.a, userData: userDataFor(machines.a.name) }, { image, stateDir: STATE_DIR });
    expect(hosts.guestPid(machines.a.name)).toBe(before);
    await expect(
      hosts.bootHost({ ...machines.a, userData: "#cloud-config\n{}\n" }, { image, stateDir: STATE_DIR }),
    ).rejects.toThrow(/different definition.*resetHost/s);
  });

  test("hostExec runs in the guest: its user, working directory, input and environment", async () => {
    const result = await hosts.hostExec(machines.a.name, ["sh", "-c", 'id -un; pwd; cat; echo "$GREETING"'], {
      user: "nobody", cwd: "/tmp", input: "from stdin\n", env: { GREETING: "hi" },
    });
    expect(result).toMatchObject({ code: 0, stdout: "nobody\n/tmp\nfrom stdin\nhi\n" });
    expect((await hosts.hostExec(machines.a.name, ["sh", "-c", "exit 3"])).code).toBe(3);
    expect(await hosts.hostExec(machines.a.name, ["sleep", "5"], { timeoutMs: 300 })).toMatchObject({ code: 124, timedOut: true });
  });

  test("hosts have their address and no default route, reach each other, and the machine reaches them", async () => {
    await Promise.all(all.map((host) => startHttpServer(host.name)));
    for (const host of all) {
      const routes = await hosts.hostExecChecked(host.name, ["ip", "-4", "route"]);
      expect(routes).not.toMatch(/default/);
      expect(await hosts.hostExecChecked(host.name, ["ip", "-4", "-o", "addr", "show", "dev", "eth0"])).toContain(`${host.address}/24`);
    }
    expect(await reaches(machines.b.name, machines.a)).toBe(true);
    expect(await reaches(machines.c.name, machines.b)).toBe(true);
    expect(await reaches(machines.a.name, machines.c)).toBe(true);
    expect(await machineFetch(machines.a.address)).toBe("hello from ita\n");
  });

  test("partition drops traffic both ways between two groups; heal restores it", async () => {
    await timed("partition (2 groups)", () => network.partition([machines.a.address], [machines.b.address, machines.c.address]));
    await network.partition([machines.a.address], [machines.b.address, machines.c.address]); // idempotent
    expect(await reaches(machines.b.name, machines.a)).toBe(false);
    expect(await reaches(machines.a.name, machines.c)).toBe(false);
    expect(await reaches(machines.b.name, machines.c)).toBe(true); // same side
    expect(await machineFetch(machines.a.address)).toBe("hello from ita\n"); // the harness keeps control
    const rules = execFileSync("nft", ["list", "table", "bridge", network.FAULT_TABLE]).toString();
    expect(rules.match(/drop comment/g)).toHaveLength(6); // 2 directions × 3 chains, added once
    await timed("heal", () => network.heal());
    expect(await reaches(machines.b.name, machines.a)).toBe(true);
    expect(await reaches(machines.a.name, machines.c)).toBe(true);
  });

  test("a one-directional partition drops only packets from A to B", async () => {
    const sink = Buffer.from(UDP_SINK);
    for (const host of [machines.a, machines.b]) {
      await hosts.hostExecChecked(host.name, ["tee", "/usr/local/bin/udp-sink.py"], { input: sink });
      await hosts.hostExecChecked(host.name, ["systemd-run", "--unit=pgha-test-udp", "python3", "/usr/local/bin/udp-sink.py"]);
    }
    await eventually(
      async () => {
        await sendDatagram(machines.a.name, machines.b.address, "warmup");
        return received(machines.b.name);
      },
      (text) => text.includes("warmup"),
    );
    await network.partition([machines.a.address], [machines.b.address], { direction: "a-to-b" });
    await sendDatagram(machines.a.name, machines.b.address, "a-to-b-during");
    await sendDatagram(machines.b.name, machines.a.address, "b-to-a-during");
    expect(await eventually(() => received(machines.a.name), (text) => text.includes("b-to-a-during"))).toContain("b-to-a-during");
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await received(machines.b.name)).not.toContain("a-to-b-during");
    await network.heal();
    await sendDatagram(machines.a.name, machines.b.address, "a-to-b-after");
    expect(await eventually(() => received(machines.b.name), (text) => text.includes("a-to-b-after"))).toContain("a-to-b-after");
  });

  test("isolate cuts a host off from the other hosts only; linkDown cuts the machine off too", async () => {
    await network.isolate(machines.c.name);
    expect(await reaches(machines.a.name, machines.c)).toBe(false);
    expect(await reaches(machines.c.name, machines.b)).toBe(false);
    expect(await machineFetch(machines.c.address)).toBe("hello from itc\n");
    await network.heal();
    expect(await reaches(machines.a.name, machines.c)).toBe(true);

    await network.linkDown(machines.c.name);
    expect(await machineFetch(machines.c.address, 500)).toBeUndefined();
    await network.linkUp(machines.c.name);
    expect(await eventually(() => machineFetch(machines.c.address), (body) => body !== undefined)).toBe("hello from itc\n");
    expect(await eventually(() => reaches(machines.a.name, machines.c), (ok) => ok)).toBe(true);
  });

  test("hostPids shows the guest's processes with their machine-side pids", async () => {
    const [server] = hosts.hostPids(machines.a.name, "python3").filter((pid) =>
      readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("http.server"),
    );
    expect(server).toBeDefined();
    const nsPids = /NSpid:\s+(\d+)\s+(\d+)/.exec(readFileSync(`/proc/${server}/status`, "utf8"));
    expect(Number(nsPids?.[1])).toBe(server);
    const guestView = await hosts.hostExecChecked(machines.a.name, ["pgrep", "-f", "http.server"]);
    expect(guestView.trim().split("\n")).toContain(nsPids?.[2]);
    const init = hosts.hostProcesses(machines.a.name).find((process) => process.guestPid === 1);
    expect(init).toMatchObject({ pid: hosts.guestPid(machines.a.name), command: "systemd" });
    expect(hosts.hostPids(machines.a.name, "no-such-process")).toEqual([]);
  });

  test("power cut, then start: the host comes back with its disk and cloud-init does not run again", async () => {
    const machineId = await hosts.hostExecChecked(machines.b.name, ["cat", "/etc/machine-id"]);
    expect(machineId.trim()).toMatch(/^[0-9a-f]{32}$/);
    await timed("power cut", () => hosts.powerCut(machines.b.name));
    expect(await hosts.hostState(machines.b.name)).toBe("stopped");
    expect(hosts.guestPid(machines.b.name)).toBeUndefined();
    await expect(hosts.hostExec(machines.b.name, ["true"])).rejects.toThrow(/not running.*startHost/);
    await timed("start after power cut", async () => {
      await hosts.startHost(machines.b.name);
      expect(await hosts.waitForBoot(machines.b.name, 60_000)).toBe("running");
    });
    expect(await hosts.hostExecChecked(machines.b.name, ["cat", "/etc/machine-id"])).toBe(machineId);
    expect(await hosts.hostExecChecked(machines.b.name, ["cat", "/var/lib/pgha-test-runcmd.log"])).toBe("ran\n");
    expect(await hosts.hostExecChecked(machines.b.name, ["cat", "/srv/www/greeting"])).toBe("hello from itb\n");
    await startHttpServer(machines.b.name); // transient units do not survive a power cut
    expect(await reaches(machines.a.name, machines.b)).toBe(true);
  });

  test("reboot from inside: the supervisor boots the host again with its disk and network", async () => {
    const bootId = () => hosts.hostExecChecked(machines.c.name, ["cat", "/proc/sys/kernel/random/boot_id"]);
    const before = { pid: hosts.guestPid(machines.c.name), bootId: await bootId() };
    expect(await timed("reboot (systemctl reboot → running)", () => hosts.rebootHost(machines.c.name, 60_000))).toBe("running");
    expect(hosts.guestPid(machines.c.name)).not.toBe(before.pid);
    expect(await bootId()).not.toBe(before.bootId); // nspawn gives each boot its own boot_id
    expect(await hosts.hostExecChecked(machines.c.name, ["cat", "/var/lib/pgha-test-runcmd.log"])).toBe("ran\n");
    await startHttpServer(machines.c.name);
    expect(await reaches(machines.a.name, machines.c)).toBe(true);
    expect(readFileSync(path.join(STATE_DIR, "hosts", machines.c.name, "console.log"), "utf8")).toMatch(/exited with status 133/);
  });

  test("graceful shutdown stops the host's units in order and leaves it stopped", async () => {
    expect(await timed("graceful shutdown", () => hosts.shutdownHost(machines.a.name))).toBe("graceful");
    expect(await hosts.hostState(machines.a.name)).toBe("stopped");
    expect(hosts.hostProcesses(machines.a.name)).toEqual([]);
    expect(await hosts.shutdownHost(machines.a.name)).toBe("graceful"); // already off: nothing to do
  });

  test("after a kill -9 of supervisors and nspawn, cleanupAll removes everything and hosts boot again", async () => {
    for (const host of [machines.b, machines.c]) {
      const directory = path.join(STATE_DIR, "hosts", host.name);
      const pids = ["supervisor.pid", "nspawn.pid"].map((file) => Number(readFileSync(path.join(directory, file), "utf8")));
      for (const pid of pids) process.kill(pid, "SIGKILL"); // the guests live on, orphaned
      for (const pid of pids) await eventually(async () => isDead(pid), (dead) => dead);
    }
    await expect(hosts.startHost(machines.b.name)).rejects.toThrow(/cleanupAll/);
    const report = await timed("cleanupAll (2 orphaned guests, 1 stopped host)", () => hosts.cleanupAll(STATE_DIR));
    expect(report.hosts.sort()).toEqual(["ita", "itb", "itc"]);
    expect(report.networkRemoved).toBe(otherSandboxHosts.length === 0);
    await expectNothingLeft();

    await timed("boot after cleanup", async () => {
      await hosts.bootHost({ ...machines.a, userData: userDataFor(machines.a.name) }, { image, stateDir: STATE_DIR });
      expect(await hosts.waitForBoot(machines.a.name, 60_000)).toBe("running");
    });
    expect((await hosts.cloudInitStatus(machines.a.name)).extendedStatus).toBe("done");
    await hosts.cleanupAll(STATE_DIR);
    await expectNothingLeft();
  });

  test("resetHost deletes a host's disk, so a new definition boots as a new instance", async () => {
    const definition = { ...machines.a, userData: userDataFor(machines.a.name) };
    await hosts.bootHost(definition, { image, stateDir: STATE_DIR });
    await hosts.waitForBoot(machines.a.name, 60_000);
    const firstMachineId = await hosts.hostExecChecked(machines.a.name, ["cat", "/etc/machine-id"]);
    await timed("resetHost (running host)", () => hosts.resetHost(machines.a.name));
    expect(existsSync(path.join(STATE_DIR, "hosts", machines.a.name))).toBe(false);
    expect(network.listSandboxNamespaces()).not.toContain(network.namespaceName(machines.a.name));
    expect(() => hosts.guestPid(machines.a.name)).toThrow(hosts.UnknownHostError);

    await hosts.bootHost({ ...definition, userData: userDataFor("renamed") }, { image, stateDir: STATE_DIR });
    await hosts.waitForBoot(machines.a.name, 60_000);
    expect(await hosts.hostExecChecked(machines.a.name, ["cat", "/srv/www/greeting"])).toBe("hello from renamed\n");
    expect(await hosts.hostExecChecked(machines.a.name, ["cat", "/etc/machine-id"])).not.toBe(firstMachineId);
    await hosts.cleanupAll(STATE_DIR);
    await expectNothingLeft();
  });
});
