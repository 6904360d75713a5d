// A bad config stops the program before any resource is registered, with one readable error
// (a RunError: the CLI prints its message without a stack trace) naming the key and the value.
import { runProgram, stackConfig, type ProgramRun } from "../helpers/mocks";

function expectCleanConfigError(run: ProgramRun, ...fragments: string[]) {
  expect(run.error).toBeDefined();
  expect((run.error as unknown as { __pulumiRunError?: boolean }).__pulumiRunError).toBe(true);
  const message = run.error!.message;
  for (const f of fragments) expect(message).toContain(f);
  expect(message).toContain(`Pulumi.${run.stack}.yaml`);
  expect(message).not.toMatch(/^\s+at /m);
  expect(run.resources).toHaveLength(0);
  expect(run.invokes).toHaveLength(0);
}

describe("config errors surface before any resource", () => {
  test("tier missing", async () => {
    const run = await runProgram({ stack: "dev", overrides: { tier: undefined } });
    expectCleanConfigError(run, "postgres-ha:tier", "(not set)", "dev, staging, prod");
  });

  test("unknown tier", async () => {
    const run = await runProgram({ stack: "dev", overrides: { tier: "production" } });
    expectCleanConfigError(run, "postgres-ha:tier", '"production"', "dev, staging, prod");
  });

  test("ttl below loop_wait + 2·retry_timeout", async () => {
    const run = await runProgram({ stack: "staging", overrides: { patroni: { ttl: 20, loopWait: 10, retryTimeout: 10 } } });
    expectCleanConfigError(run, "postgres-ha:patroni.ttl", "20");
  });

  test("a misspelt key", async () => {
    const run = await runProgram({ stack: "prod", overrides: { postgress: { nodes: 3 } } });
    expectCleanConfigError(run, "postgres-ha:postgress", "unknown key", "did you mean `postgres-ha:postgres`?");
  });

  test("schema and cross-field mistakes together, in one message", async () => {
    const run = await runProgram({
      stack: "staging",
      overrides: {
        patroni: { tll: 30 }, // schema: unknown key
        haproxy: { checkIntervalMs: 10 }, // schema: below 200
        etcd: { nodes: 2 }, // rule: even
        network: { allowedClientCidrs: ["10.0.0.0/8", "0.0.0.0/0"] }, // rule: the whole internet
        postgres: { parameters: { max_wal_senders: 1 } }, // derived: too few for 3 members
      },
    });
    expectCleanConfigError(
      run,
      "5 problems",
      "postgres-ha:patroni.tll = 30",
      "postgres-ha:haproxy.checkIntervalMs = 10",
      "postgres-ha:etcd.nodes = 2",
      "postgres-ha:network.allowedClientCidrs[1] = \"0.0.0.0/0\"",
      "postgres-ha:postgres.parameters.max_wal_senders = 1",
    );
  });

  test("archive_timeout removed through postgres.parameters is refused, not deployed", async () => {
    const run = await runProgram({ stack: "prod", overrides: { postgres: { parameters: { archive_timeout: null } } } });
    expectCleanConfigError(run, "postgres-ha:postgres.parameters.archive_timeout = null", "and set postgres-ha:backup.archiveTimeoutSeconds instead", "1 problem,");
  });

  test("an even etcd member count, and every other problem in the same message", async () => {
    const run = await runProgram({ stack: "staging", overrides: { etcd: { nodes: 2 }, backup: { archiveTimeoutSeconds: 600 } } });
    expectCleanConfigError(run, "postgres-ha:etcd.nodes = 2", "postgres-ha:backup.archiveTimeoutSeconds = 600", "2 problems");
  });

  test("aws:region missing", async () => {
    const config = stackConfig("dev");
    delete config["aws:region"];
    const run = await runProgram({ stack: "dev", config });
    expectCleanConfigError(run, "aws:region", "is required");
  });

  test("an S3 limit the schema cannot see: the IA transition at or after the logical dumps' expiration", async () => {
    const run = await runProgram({ stack: "dev", overrides: { backup: { logicalRetentionWeeks: 4, logicalInfrequentAccessAfterDays: 30 } } });
    expectCleanConfigError(run, "postgres-ha:backup.logicalInfrequentAccessAfterDays = 30", "28 days");
  });
});
