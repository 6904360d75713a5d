// The config gate: stack config → validated StackConfig and ClusterSpec, before any resource
// exists. The program's index.ts, the CLI and the sandbox all come through `loadAndValidate`.
//
// Input is the flat map Pulumi hands a program ("postgres-ha:patroni" → JSON text), or the same
// keys read from Pulumi.<stack>.yaml by the offline commands (../stack-file.ts). Every problem is
// reported in one round: the schema's, the rules between keys (run on whatever passed the
// schema), and the rules on the derived cluster (../validate-spec.ts), each with the key, the value,
// what is allowed and the command that fixes it.
//
// This file is the module's public API; the code is split by responsibility:
//   raw.ts              reading Pulumi's raw config map
//   data-paths.ts       paths into plain data, and the deep merge over the tier's defaults
//   schema-problems.ts  the schema's problems, and what is left once refused values are out
//   gate.ts             the gate: every check in one round, one ConfigError
export { ConfigError, formatProblems, keyOf, PROJECT, type ConfigProblem } from "../problems";
export { MANAGED_PARAMETERS } from "../parameters";
export { validateSpec } from "../validate-spec";
export { projectConfigFromRaw } from "./raw";
export { loadAndValidate, loadStackConfig, resolveConfig, type LoadOptions } from "./gate";
