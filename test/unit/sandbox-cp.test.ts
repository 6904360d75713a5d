// `sandbox cp` argument parsing: which end is a host, and what is refused before any copy.
import { parseCopyEnd } from "../../src/sandbox/operate";

const hosts = ["db1", "db2", "etcd1", "lb1"];

describe("sandbox cp ends", () => {
  it.each([
    ["db1:/var/log/pgha/backup.log", { host: "db1", path: "/var/log/pgha/backup.log" }],
    ["etcd1:/tmp/x", { host: "etcd1", path: "/tmp/x" }],
    ["./db1:/tmp/x", { path: "./db1:/tmp/x" }],
    ["backup.log", { path: "backup.log" }],
    ["/tmp/db1.dump", { path: "/tmp/db1.dump" }],
    ["db1:relative", { path: "db1:relative" }],
  ])("%s → %j", (spec, want) => {
    expect(parseCopyEnd(spec, hosts)).toEqual(want);
  });

  it("names the hosts when a host-looking end is not one, and says how to mean a local file", () => {
    expect(() => parseCopyEnd("db9:/tmp/x", hosts)).toThrow("db9:/tmp/x: no host db9 in the sandbox (hosts: db1, db2, etcd1, lb1); write ./db9:/tmp/x for a file on the machine");
  });
});
