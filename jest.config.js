// Four projects: pure unit tests, the Pulumi program under mocks, the policy pack, and the
// integration tests that boot real hosts (run alone, in band: they share one sandbox).
const tsJest = ["ts-jest", { diagnostics: false }];
const base = {
  testEnvironment: "node",
  transform: { "^.+\\.ts$": tsJest },
  moduleFileExtensions: ["ts", "js", "json"],
  // dist/ is the compiled copy of the sources (npm run build): never a test, never a module to map.
  testPathIgnorePatterns: ["/node_modules/", "<rootDir>/dist/"],
  modulePathIgnorePatterns: ["<rootDir>/dist/"],
  // @pulumi/pulumi keeps runtime state on globals; jest 30's cleanup breaks it (notes).
  testEnvironmentOptions: { globalsCleanup: "off" },
};
module.exports = {
  projects: [
    { ...base, displayName: "unit", testMatch: ["<rootDir>/test/unit/**/*.test.ts"] },
    { ...base, displayName: "program", testMatch: ["<rootDir>/test/program/**/*.test.ts"] },
    { ...base, displayName: "policies", testMatch: ["<rootDir>/test/policies/**/*.test.ts"] },
    {
      ...base,
      displayName: "integration",
      testMatch: ["<rootDir>/test/integration/**/*.test.ts"],
      // No test on booted hosts gets jest's 5 s default: `status` alone takes 6–7 s there when
      // the machine is busy (ha.test.ts's status test failed twice in CI on it). A test that
      // needs longer still says so; this is the floor, not the budget.
      testTimeout: 120_000,
      globalSetup: "<rootDir>/test/integration/global-setup.ts",
      globalTeardown: "<rootDir>/test/integration/global-teardown.ts",
    },
  ],
};
