// formatStatus, the human form of `npx pgha sandbox status`: the lines for each repository's
// catalogue and for the leader's replication slots, from a status object (no sandbox needed; the
// integration tests check the same lines against a booted cluster).
import { formatStatus, type SandboxStatus } from "../../src/sandbox/cluster";
import { CATALOGUE_SKIPPED } from "../../src/sandbox/cluster/status";

function statusWith(over: Partial<SandboxStatus>): SandboxStatus {
  const repo = { region: "eu-west-1", endpoint: "https://s3.sandbox.internal:443", address: "10.88.0.250", bucket: "b1", running: true };
  return {
    stack: "prod",
    healthy: true,
    problems: [],
    members: [],
    endpoints: { readWrite: { host: "rw", address: "10.88.0.30", port: 5000 }, readOnly: { host: "ro", address: "10.88.0.30", port: 5001 } },
    connection: { superuser: "", readOnly: "", caFile: "/ca", sslmode: "verify-full", serviceFile: "/svc", roles: {} },
    etcd: [],
    hosts: [],
    s3: { endpoint: repo.endpoint, address: repo.address, running: true, bucket: "b1" },
    repositories: [
      { ...repo, name: "repo1", newestWal: "000000020000000000000012", newestBackup: { label: "20261204-150000F", type: "full", stop: "2026-12-04T15:00:09Z" }, backups: 3, catalogueError: null },
      { ...repo, name: "repo2", region: "eu-central-1", bucket: "b2", running: false, newestWal: null, newestBackup: null, backups: null, catalogueError: "its S3 endpoint is stopped" },
    ],
    aws: { endpoint: "https://aws", address: "10.88.0.249", state: "running" },
    drift: null,
    restoreClusters: [],
    replicationSlots: [
      { name: "db2", active: true, retainedBytes: 1048576 * 0.5, walStatus: "reserved" },
      { name: "db3", active: false, retainedBytes: 1048576 * 160, walStatus: "extended" },
    ],
    archiving: null,
    image: "img",
    stateDir: "/state",
    dataPaths: {},
    ...over,
  } as SandboxStatus;
}

describe("sandbox status, human form", () => {
  it("one line per repository: what its catalogue holds, or why it was not read", () => {
    const lines = formatStatus(statusWith({})).split("\n");
    expect(lines).toContain("repo1 (eu-west-1, b1): 3 backup(s), newest 20261204-150000F (full, ended 2026-12-04T15:00:09Z), newest WAL 000000020000000000000012");
    expect(lines).toContain("repo2 (eu-central-1, b2): catalogue not read: its S3 endpoint is stopped");
  });

  it("a status that skipped the catalogues (--watch) prints no repository catalogue line", () => {
    const catalogueLines = (st: SandboxStatus) => formatStatus(st).split("\n").filter((l) => /^repo\d \(/.test(l)).map((l) => l.slice(0, 5));
    // The same filter finds both lines when the catalogues were read (it is not blind)...
    expect(catalogueLines(statusWith({}))).toEqual(["repo1", "repo2"]);
    // ...and none, not even a "not read" one, when they were skipped; the endpoints' line still names both.
    const s = statusWith({});
    s.repositories = s.repositories.map((r) => ({ ...r, newestWal: null, newestBackup: null, backups: null, catalogueError: CATALOGUE_SKIPPED }));
    expect(catalogueLines(s)).toEqual([]);
    expect(formatStatus(s)).toContain("s3: repo1 eu-west-1 running (https://s3.sandbox.internal:443), repo2 eu-central-1 DOWN");
  });

  it("the leader's slots: active or INACTIVE, the WAL each retains, and a wal_status other than reserved", () => {
    expect(formatStatus(statusWith({})).split("\n")).toContain("slots on the leader: db2 active 0.5 MiB retained, db3 INACTIVE 160.0 MiB retained (extended)");
    expect(formatStatus(statusWith({ replicationSlots: null }))).not.toContain("slots on the leader");
  });
});
