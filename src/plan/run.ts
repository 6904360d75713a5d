// Runs the Pulumi program offline, the way the language host would, against deterministic mocks
// (src/plan/fakes.ts) — and records everything it registered: inputs, fake outputs, parents,
// resource options and property dependencies. Used by the tests (through test/helpers/mocks.ts),
// `pgha plan`, `pgha diff` and `pgha check`. No CLI, no cloud, no credentials.
//
// Pulumi keeps its runtime state on globals: run programs one after the other (await each run).
// Each run loads the program's own modules fresh (`isolation`); the SDKs are shared.
// Mocks: notes/pulumi-offline.md §2 (API), §8 (capturing parents, options, unknowns).
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { fakeInvoke, fakeState, secretValuesOf, type FakeContext } from "./fakes";
import { PROJECT, rawStackConfig, type RawConfig } from "./config";
import { BUILD_DIR_NAME, RUNNING_COMPILED, repoRoot } from "../repo-root";

/** Pulumi's wire markers for secret values (runtime/rpc.ts). */
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
/**
 * What an unknown (preview-time) value is on the wire, and what CrossGuard's deserializer hands a
 * policy: reading it through `unknownCheckingProxy` throws `UnknownValueError`.
 */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export interface ResourceOptionsSeen {
  protect: boolean;
  retainOnDelete: boolean;
  ignoreChanges: string[];
  replaceOnChanges: string[];
  deleteBeforeReplace: boolean;
  additionalSecretOutputs: string[];
  /** URNs of explicit and implicit dependencies. */
  dependencies: string[];
  /** The explicit provider reference (`<provider urn>::<id>`), "" for the default provider. */
  provider?: string;
  /** Named resource hooks bound to it, by kind (beforeDelete …); empty kinds left out. */
  hooks?: Record<string, string[]>;
  /**
   * The URNs this resource says it was registered under before (its `aliases`, resolved as the
   * engine resolves them): a moved or renamed resource keeps its state only through these.
   * Absent on hand-built records (the policy tests').
   */
  aliases?: string[];
}

export interface RecordedResource {
  type: string;
  name: string;
  urn: string;
  id: string;
  custom: boolean;
  /** Inputs as the provider would get them, secrets unwrapped, unknowns as UNKNOWN. */
  inputs: Record<string, any>;
  /** Input paths that arrived as secrets (e.g. "secretString"). */
  secretPaths: string[];
  /** What the mock returned: inputs plus the fake outputs. */
  state: Record<string, any>;
  /** The parent's URN ("" for the stack itself). */
  parent: string;
  options: ResourceOptionsSeen;
  /** Input property → URNs of the resources its value came from. */
  propertyDependencies: Record<string, string[]>;
}

export interface ProgramRun {
  stack: string;
  config: RawConfig;
  /** Every registered resource except the root pulumi:pulumi:Stack, in registration order. */
  resources: RecordedResource[];
  stackResource?: RecordedResource;
  /** The program's exports as it returned them (Outputs not resolved; empty when it failed). */
  outputs: Record<string, any>;
  /** The stack outputs as registered with the engine: resolved, secrets unwrapped, unknowns as UNKNOWN. */
  stackOutputs: Record<string, any>;
  /** Paths in stackOutputs whose values are secrets. */
  stackOutputSecretPaths: string[];
  error?: Error;
  invokes: { token: string; inputs: Record<string, any> }[];
  /** The resource hooks the program registered, by name: their callbacks, for a test to call. */
  hooks: Record<string, (args: { urn: string; id: string; name: string; type: string; oldInputs?: Record<string, any>; oldOutputs?: Record<string, any> }) => unknown>;
  /** Every password and private key the mocks generated. */
  generatedSecrets: string[];
  ofType(type: string): RecordedResource[];
  /** The one resource of `type` named `name` (throws when missing). */
  get(type: string, name: string): RecordedResource;
  byUrn(urn: string): RecordedResource | undefined;
  /** The resource's parent chain, nearest first. */
  ancestors(r: RecordedResource): RecordedResource[];
}

/** Changes a resource's recorded inputs before the mock answers (tests break things with it). */
export type ResourceOverride = (r: { type: string; name: string; inputs: Record<string, any> }) => void;

/** How a run gets a fresh copy of the program's modules while sharing the SDKs. */
export interface ModuleIsolation {
  run(sdk: Record<string, unknown>, body: () => Promise<void>): Promise<void>;
}

export interface RunOptions {
  stack: string;
  /** The project directory (Pulumi.yaml, Pulumi.<stack>.yaml, index.ts). */
  root: string;
  /** The raw config map; default: rawStackConfig(root, stack, overrides). */
  config?: RawConfig;
  overrides?: Record<string, unknown>;
  /** Program entry (default: the project's index, see codeTree). */
  program?: string;
  /** Preview mode: outputs the mocks do not supply stay unknown. Default false. */
  preview?: boolean;
  /**
   * Whether the mocks answer with fake provider outputs (ids, ARNs, generated passwords: what
   * exists after `pulumi up`). false = they answer with the inputs only, so in preview mode every
   * provider-computed value stays unknown — what `pulumi preview` shows for new resources.
   * Default true.
   */
  fakeOutputs?: boolean;
  /** Instances EC2 reports as existing, by node name (a deployed stack); default none (a new stack). */
  runningInstances?: FakeContext["runningInstances"];
  /** Applied to every resource's inputs before the mock records and answers. */
  override?: ResourceOverride;
  isolation?: ModuleIsolation;
}

/**
 * Where to load the code of the project tree at `root` from (its index, src/…), as this process
 * can: under ts-node or jest, the TypeScript sources; when this process runs compiled (bin/pgha
 * runs dist/ only while it matches the sources), this repository's dist/ — and any other tree
 * (pgha diff's base ref, which has no build) from its sources, with ts-node registered on first use.
 */
export function codeTree(root: string): string {
  const dir = path.resolve(root);
  if (!RUNNING_COMPILED) return dir;
  if (dir === repoRoot()) return path.join(dir, BUILD_DIR_NAME);
  registerTypeScript();
  return dir;
}

function registerTypeScript(): void {
  if (require.extensions[".ts"]) return;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require("ts-node").register({ project: path.join(repoRoot(), "tsconfig.json"), transpileOnly: true, compilerOptions: { module: "commonjs" } });
}

/** The SDK packages shared by every run (loaded once). */
export const SHARED_PACKAGES = ["@pulumi/pulumi", "@pulumi/aws", "@pulumi/random", "@pulumi/tls", "@pulumi/command"];
let sdkModules: Record<string, unknown> | undefined;
export function sharedSdk(): Record<string, unknown> {
  if (!sdkModules) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    sdkModules = Object.fromEntries(SHARED_PACKAGES.map((name) => [name, require(name)]));
    // Every resource captures its source position from `new Error().stack` with an unlimited
    // stack depth; under jest (source maps) that is most of a run's time. Mocks need no positions.
    const { Resource } = sdkModules["@pulumi/pulumi"] as { Resource: { callsites: () => unknown[] } };
    Resource.callsites = () => [];
  }
  return sdkModules;
}

/**
 * Plain Node (the CLI): forget the cached modules of the project (not node_modules) so the program
 * and everything it imports load again; the SDKs stay, so the mocks installed below are theirs.
 */
export function requireCacheIsolation(roots: string[]): ModuleIsolation {
  return {
    async run(_sdk, body) {
      const dirs = roots.map((r) => path.resolve(r) + path.sep);
      for (const key of Object.keys(require.cache)) {
        if (key.includes(`${path.sep}node_modules${path.sep}`)) continue;
        if (dirs.some((d) => key.startsWith(d))) delete require.cache[key];
      }
      await body();
    },
  };
}

function isPlainObject(v: unknown): v is Record<string, any> {
  return !!v && typeof v === "object" && (v as object).constructor === Object;
}

/** Secrets unwrapped (their paths remembered), unknowns as UNKNOWN, assets left as they are. */
function normalizeInputs(value: any, pathSoFar: string, secretPaths: string[]): any {
  if (pulumi.isUnknown(value)) return UNKNOWN;
  if (Array.isArray(value)) return value.map((v, i) => normalizeInputs(v, `${pathSoFar}[${i}]`, secretPaths));
  if (value && typeof value === "object") {
    if (value[SIG_KEY] === SECRET_SIG) {
      secretPaths.push(pathSoFar);
      return normalizeInputs(value.value, pathSoFar, []);
    }
    if (!isPlainObject(value)) return value; // assets, archives
    const out: Record<string, any> = {};
    for (const [k, v] of Object.entries(value)) out[k] = normalizeInputs(v, pathSoFar ? `${pathSoFar}.${k}` : k, secretPaths);
    return out;
  }
  return value;
}

function propertyDependenciesOf(req: any): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const map = req?.getPropertydependenciesMap?.();
  if (!map) return out;
  for (const [k, v] of map.entries() as Iterable<[string, any]>) {
    const urns: string[] = v.getUrnsList();
    if (urns.length) out[k] = [...urns];
  }
  return out;
}

/** A URN as the engine builds it: the parent's type chain (not the Stack's) + `$` + the type. */
export function urnOf(stack: string, type: string, name: string, parentUrn = "", project = PROJECT): string {
  const parentTypes = parentUrn ? parentUrn.split("::")[2] : undefined;
  const qualified = parentTypes && parentTypes !== "pulumi:pulumi:Stack" ? `${parentTypes}$${type}` : type;
  return `urn:pulumi:${stack}::${project}::${qualified}::${name}`;
}

/** The hook names a registration binds, by kind. */
function hooksOf(req: any): Record<string, string[]> {
  const b = req?.getHooks?.();
  if (!b) return {};
  const kinds: Record<string, string[]> = {
    beforeCreate: b.getBeforeCreateList(), afterCreate: b.getAfterCreateList(), beforeUpdate: b.getBeforeUpdateList(),
    afterUpdate: b.getAfterUpdateList(), beforeDelete: b.getBeforeDeleteList(), afterDelete: b.getAfterDeleteList(),
  };
  return Object.fromEntries(Object.entries(kinds).filter(([, names]) => names.length));
}

/**
 * The URNs a registration's aliases name. The SDK sends each alias as a URN or as a spec (name,
 * type, stack, project, parent — each defaulting to the resource's own); specs are resolved here.
 */
function aliasUrnsOf(req: any, own: { type: string; name: string; parent: string; stack: string }): string[] {
  const aliases: any[] = req?.getAliasesList?.() ?? [];
  const urns = aliases.map((alias) => {
    if (alias.getUrn?.()) return alias.getUrn() as string;
    const spec = alias.getSpec();
    const parent = spec.getNoparent() ? "" : spec.getParenturn() || own.parent;
    return urnOf(spec.getStack() || own.stack, spec.getType() || own.type, spec.getName() || own.name, parent, spec.getProject() || PROJECT);
  });
  return [...urns, ...(req?.getAliasurnsList?.() ?? [])];
}

export async function runProgram(opts: RunOptions): Promise<ProgramRun> {
  const root = path.resolve(opts.root);
  const config = opts.config ?? rawStackConfig(root, opts.stack, opts.overrides).config;
  const region = config["aws:region"] ?? "eu-west-1";
  const ctx: FakeContext = {
    region,
    runningInstances: opts.runningInstances,
    // A StackReference's target: another stack of this project, as its stack file says.
    stackConfig: (stack) => (fs.existsSync(path.join(root, `Pulumi.${stack}.yaml`)) ? rawStackConfig(root, stack).config : undefined),
  };
  const program = opts.program ?? path.join(codeTree(root), "index");
  const isolation = opts.isolation ?? requireCacheIsolation([root, path.dirname(program)]);
  const records: RecordedResource[] = [];
  const invokes: ProgramRun["invokes"] = [];
  const generatedSecrets: string[] = [];
  const hooks: ProgramRun["hooks"] = {};
  let outputs: Record<string, any> = {};
  let stackOutputs: Record<string, any> = {};
  const stackOutputSecretPaths: string[] = [];
  let error: Error | undefined;

  const sdk = sharedSdk();
  const sdkPulumi = sdk["@pulumi/pulumi"] as typeof pulumi;
  await isolation.run(sdk, async () => {
    let pendingRequest: any;
    let lastRecord: RecordedResource | undefined;
    await sdkPulumi.runtime.setMocks(
      {
        newResource(args) {
          const req = pendingRequest;
          pendingRequest = undefined;
          const secretPaths: string[] = [];
          const inputs = normalizeInputs(args.inputs, "", secretPaths);
          opts.override?.({ type: args.type, name: args.name, inputs });
          const fake = args.custom && opts.fakeOutputs !== false ? fakeState(args.type, args.name, inputs, ctx) : { id: "", state: {} };
          const id = args.id || fake.id;
          const state = { ...inputs, ...fake.state };
          generatedSecrets.push(...secretValuesOf(args.type, state));
          lastRecord = {
            type: args.type,
            name: args.name,
            urn: "",
            id,
            custom: args.custom ?? true,
            inputs,
            secretPaths,
            state,
            parent: req?.getParent?.() ?? "",
            options: {
              protect: !!req?.getProtect?.(),
              retainOnDelete: !!req?.getRetainondelete?.(),
              ignoreChanges: req?.getIgnorechangesList?.() ?? [],
              replaceOnChanges: req?.getReplaceonchangesList?.() ?? [],
              deleteBeforeReplace: !!req?.getDeletebeforereplace?.(),
              additionalSecretOutputs: req?.getAdditionalsecretoutputsList?.() ?? [],
              dependencies: req?.getDependenciesList?.() ?? [],
              provider: req?.getProvider?.() ?? "",
              hooks: hooksOf(req),
              aliases: aliasUrnsOf(req, { type: args.type, name: args.name, parent: req?.getParent?.() ?? "", stack: opts.stack }),
            },
            propertyDependencies: propertyDependenciesOf(req),
          };
          records.push(lastRecord);
          return { id, state };
        },
        call(args) {
          invokes.push({ token: args.token, inputs: args.inputs });
          return fakeInvoke(args.token, args.inputs, ctx);
        },
      },
      PROJECT,
      opts.stack,
      opts.preview ?? false,
      // The organization of a self-managed backend ("organization"): StackReferences name
      // organization/project/stack.
      "organization",
    );
    // Resource hooks: the mock monitor cannot register them (the engine would call them back
    // over gRPC). The runtime's callback registry is replaced by one that keeps each hook here.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    (require("@pulumi/pulumi/runtime/state") as { getStore(): { callbacks?: unknown } }).getStore().callbacks = {
      async registerResourceHook(hook: { name: string; callback: ProgramRun["hooks"][string] }) {
        hooks[hook.name] = hook.callback;
      },
      async awaitStackRegistrations() {},
    };
    // Wrap the mock monitor to see what MockResourceArgs lacks: parent, options, dependencies.
    const monitor = sdkPulumi.runtime.getMonitor() as any;
    // URNs as the engine builds them. The mock qualifies a type with its parent's last type only
    // (and with pulumi:pulumi:Stack at the top), so a resource moved under another grandparent
    // would keep its URN here while `pulumi up` would replace it: plans, diffs and the URN lists
    // (src/plan/urns.ts) must see the engine's.
    monitor.newUrn = (parent: string, type: string, name: string) => urnOf(opts.stack, type, name, parent);
    // Registered and read resources (a StackReference) alike: the mock calls newResource
    // synchronously, before its first await, so the record it made is the one to give the URN.
    for (const method of ["registerResource", "readResource"] as const) {
      const original = monitor[method].bind(monitor);
      monitor[method] = (req: any, callback: (err: any, resp: any) => void) => {
        pendingRequest = req;
        lastRecord = undefined;
        const result = original(req, (err: any, resp: any) => {
          if (resp && record) record.urn = resp.getUrn();
          callback(err, resp);
        });
        const record = lastRecord as RecordedResource | undefined; // set by newResource above
        return result;
      };
    }
    // And what the program registers as outputs: the Stack's are the stack outputs.
    const registerOutputs = monitor.registerResourceOutputs.bind(monitor);
    monitor.registerResourceOutputs = (req: any, callback: (err: any, resp: any) => void) => {
      if (typeof req.getUrn?.() === "string" && req.getUrn().includes("::pulumi:pulumi:Stack::") && req.getOutputs?.()) {
        stackOutputs = normalizeInputs(sdkPulumi.runtime.deserializeProperties(req.getOutputs(), true), "", stackOutputSecretPaths);
      }
      return registerOutputs(req, callback);
    };
    sdkPulumi.runtime.setAllConfig(config, []);
    // Pulumi stamps every internal promise with `new Error().stack`; jest's source-mapped stack
    // formatting makes that most of a run's time. Plain V8 frames (unmapped) are enough here.
    const { prepareStackTrace, stackTraceLimit } = Error;
    Error.prepareStackTrace = (err, frames) => `${err}\n${frames.map((f) => `    at ${f}`).join("\n")}`;
    Error.stackTraceLimit = 12;
    try {
      outputs = (await sdkPulumi.runtime.runInPulumiStack(async () => {
        // The language host would fail the update here; the run keeps the error for its caller
        // (a rejected Stack initialisation would otherwise surface as an unhandled rejection).
        try {
          return { ...(await import(program)) };
        } catch (e) {
          error = e as Error;
          return {};
        }
      })) as Record<string, any>;
    } catch (e) {
      error = e as Error;
    }
    try {
      await (sdkPulumi.runtime as any).waitForRPCs();
    } catch (e) {
      error ??= e as Error;
    }
    Error.prepareStackTrace = prepareStackTrace;
    Error.stackTraceLimit = stackTraceLimit;
  });

  const stackResource = records.find((r) => r.type === "pulumi:pulumi:Stack");
  const resources = records.filter((r) => r !== stackResource);
  const byUrn = new Map(records.map((r) => [r.urn, r]));
  return {
    stack: opts.stack,
    config,
    resources,
    stackResource,
    outputs,
    stackOutputs,
    stackOutputSecretPaths,
    error,
    invokes,
    hooks,
    generatedSecrets: [...new Set(generatedSecrets.filter(Boolean))],
    ofType: (type) => resources.filter((r) => r.type === type),
    get(type, name) {
      const found = resources.find((r) => r.type === type && r.name === name);
      if (!found) {
        const names = resources.filter((r) => r.type === type).map((r) => r.name);
        throw new Error(`no ${type} named ${name}; registered: ${names.join(", ") || "(none of this type)"}`);
      }
      return found;
    },
    byUrn: (urn) => byUrn.get(urn),
    ancestors(r) {
      const chain: RecordedResource[] = [];
      let cur = byUrn.get(r.parent);
      while (cur) {
        chain.push(cur);
        cur = byUrn.get(cur.parent);
      }
      return chain;
    },
  };
}
