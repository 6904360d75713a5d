// Evaluates CrossGuard policies offline, over the resources a mocked program run registered —
// the way @pulumi/policy's analyzer server does it (server.js, 1.21.0), without the CLI:
//   - resource policies see each resource's inputs; stack policies see every resource's state
//     (inputs + outputs) with parents, dependencies and property dependencies resolved;
//   - props are wrapped in `unknownCheckingProxy`: reading an unknown (preview) value throws
//     UnknownValueError, reported as an advisory "can't run during preview" — never a pass;
//   - `args.notApplicable()` marks the policy not applicable; any other error is an error;
//   - enforcement: the policy's config entry, then the config's "all", then the policy's own
//     level, then the pack's default; "remediate" counts as mandatory, "disabled" skips.
import { UnknownValueError, unknownCheckingProxy, type EnforcementLevel, type Policies, type Policy, type PolicyResource, type ResourceValidationPolicy, type StackValidationPolicy } from "@pulumi/policy";
import { ONLY_APPLIES_TO } from "../../policies/rules/common";
import { setStackContext, type StackContext } from "../../policies/rules/intent";
import type { RecordedResource } from "./run";

export type DiagnosticKind = "violation" | "unknown-at-preview" | "error";

export interface Diagnostic {
  policyName: string;
  kind: DiagnosticKind;
  enforcementLevel: EnforcementLevel;
  message: string;
  urn?: string;
  resourceType?: string;
  resourceName?: string;
}

export interface PolicyOutcome {
  policy: Policy;
  enforcementLevel: EnforcementLevel;
  /** "stack" or "resource". */
  scope: "stack" | "resource";
  diagnostics: Diagnostic[];
  /** Why the policy did not apply (stack policies, or resource policies for every resource). */
  notApplicable?: string;
  /** Resources a resource policy evaluated (not counting not-applicable ones). */
  evaluated: number;
}

export interface EvaluationResult {
  outcomes: PolicyOutcome[];
  diagnostics: Diagnostic[];
  /** Mandatory violations and errors: what fails an update. */
  blocking: Diagnostic[];
}

/** A policy pack config file: { "all": level, "<policy>": level | { enforcementLevel?, ...props } }. */
export type PolicyConfigFile = Record<string, unknown>;

const LEVELS: EnforcementLevel[] = ["advisory", "mandatory", "remediate", "disabled"];

function isLevel(v: unknown): v is EnforcementLevel {
  return typeof v === "string" && (LEVELS as string[]).includes(v);
}

/** Validates a config file's shape; returns problems (empty when fine). */
export function policyConfigProblems(config: PolicyConfigFile, policies: Policies): string[] {
  const names = new Set(policies.map((p) => p.name));
  const problems: string[] = [];
  for (const [k, v] of Object.entries(config)) {
    if (k === "all") {
      if (!isLevel(v)) problems.push(`"all" must be one of ${LEVELS.join(", ")}, not ${JSON.stringify(v)}`);
      continue;
    }
    if (!names.has(k)) problems.push(`"${k}" is not a policy of this pack (policies: ${[...names].join(", ")})`);
    else if (typeof v === "string" ? !isLevel(v) : !(v && typeof v === "object") || ("enforcementLevel" in v && !isLevel((v as any).enforcementLevel)))
      problems.push(`"${k}": expected an enforcement level or an object with enforcementLevel and the policy's settings`);
  }
  return problems;
}

export function enforcementOf(policy: Policy, config: PolicyConfigFile, packLevel: EnforcementLevel): EnforcementLevel {
  const entry = config[policy.name];
  if (isLevel(entry)) return entry;
  if (entry && typeof entry === "object" && isLevel((entry as any).enforcementLevel)) return (entry as any).enforcementLevel;
  if (isLevel(config.all)) return config.all;
  return policy.enforcementLevel ?? packLevel;
}

function settingsOf(policy: Policy, config: PolicyConfigFile): Record<string, unknown> {
  const entry = config[policy.name];
  if (!entry || typeof entry !== "object") return {};
  const { enforcementLevel: _l, ...rest } = entry as Record<string, unknown>;
  return rest;
}

class NotApplicable extends Error {
  constructor(readonly reason?: string) {
    super(reason ?? "Policy does not apply");
  }
}
const notApplicable = (reason?: string): never => {
  throw new NotApplicable(reason);
};

const emptyTags: ReadonlyMap<string, string> = new Map();

function isStackPolicy(p: Policy): p is StackValidationPolicy {
  return typeof (p as StackValidationPolicy).validateStack === "function";
}

function typeOf(resourceClass: unknown): string | undefined {
  return (resourceClass as { __pulumiType?: string } | undefined)?.__pulumiType;
}

function resourceOptions(r: RecordedResource) {
  return {
    protect: r.options.protect,
    ignoreChanges: r.options.ignoreChanges,
    aliases: [] as string[],
    customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
    additionalSecretOutputs: r.options.additionalSecretOutputs,
    deleteBeforeReplace: r.options.deleteBeforeReplace,
    parent: r.parent || undefined,
    // Not in CrossGuard's protocol; offline we know it, and prod-data-protected checks it.
    retainOnDelete: r.options.retainOnDelete,
  };
}

export interface EvaluateOptions {
  /** Every recorded resource, the root Stack included. */
  resources: RecordedResource[];
  policies: Policies;
  config?: PolicyConfigFile;
  /** The pack's default enforcement (packArgs().enforcementLevel). */
  packEnforcement: EnforcementLevel;
  /** What the engine would hand the pack about the stack (PULUMI_STACK, PULUMI_CONFIG). */
  stackContext?: StackContext;
}

export async function evaluatePolicies(opts: EvaluateOptions): Promise<EvaluationResult> {
  const config = opts.config ?? {};
  const outcomes: PolicyOutcome[] = [];
  setStackContext(opts.stackContext ?? {});
  try {
    // Stack policies get one PolicyResource per resource, linked like the server links them.
    const policyResources = new Map<string, PolicyResource>();
    const byUrn = new Map(opts.resources.map((r) => [r.urn, r]));
    for (const r of opts.resources) {
      const props = unknownCheckingProxy({ ...r.state });
      policyResources.set(r.urn, {
        type: r.type,
        props,
        urn: r.urn,
        name: r.name,
        opts: resourceOptions(r),
        dependencies: [],
        propertyDependencies: {},
        isType: (cls: unknown) => typeOf(cls) === r.type,
        asType: (cls: unknown) => (typeOf(cls) === r.type ? props : undefined),
      } as unknown as PolicyResource);
    }
    for (const r of opts.resources) {
      const pr = policyResources.get(r.urn)! as PolicyResource & { parent?: PolicyResource };
      if (r.parent && policyResources.has(r.parent)) pr.parent = policyResources.get(r.parent);
      pr.dependencies = r.options.dependencies.map((u) => policyResources.get(u)).filter((x): x is PolicyResource => !!x);
      for (const [k, urns] of Object.entries(r.propertyDependencies)) {
        pr.propertyDependencies[k] = urns.map((u) => policyResources.get(u)).filter((x): x is PolicyResource => !!x);
      }
    }
    const stackResources = [...policyResources.values()];

    for (const policy of opts.policies) {
      let level = enforcementOf(policy, config, opts.packEnforcement);
      if (level === "disabled") {
        outcomes.push({ policy, enforcementLevel: level, scope: isStackPolicy(policy) ? "stack" : "resource", diagnostics: [], notApplicable: "disabled by config", evaluated: 0 });
        continue;
      }
      if (level === "remediate") level = "mandatory";
      const settings = settingsOf(policy, config);
      const getConfig = <T extends object>() => ({ ...settings }) as T;
      const diagnostics: Diagnostic[] = [];
      const outcome: PolicyOutcome = { policy, enforcementLevel: level, scope: isStackPolicy(policy) ? "stack" : "resource", diagnostics, evaluated: 0 };
      const fail = (kind: DiagnosticKind, message: string, r?: RecordedResource) =>
        diagnostics.push({
          policyName: policy.name,
          kind,
          enforcementLevel: kind === "unknown-at-preview" ? "advisory" : level,
          message,
          urn: r?.urn,
          resourceType: r?.type,
          resourceName: r?.name,
        });

      if (isStackPolicy(policy)) {
        try {
          await Promise.resolve(
            policy.validateStack(
              { resources: stackResources, getConfig, stackTags: emptyTags, notApplicable },
              (message, urn) => fail("violation", message, urn ? byUrn.get(urn) : undefined),
            ),
          );
        } catch (e) {
          if (e instanceof NotApplicable) outcome.notApplicable = e.reason ?? "not applicable";
          else if (e instanceof UnknownValueError) fail("unknown-at-preview", `can't run policy '${policy.name}' during preview: ${(e as Error).message}`);
          else fail("error", `policy '${policy.name}' failed: ${e instanceof Error ? e.stack : String(e)}`);
        }
      } else {
        const validations = [(policy as ResourceValidationPolicy).validateResource ?? []].flat();
        const reasons = new Set<string>();
        for (const r of opts.resources) {
          if (r.type === "pulumi:pulumi:Stack") continue;
          const props = unknownCheckingProxy({ ...r.inputs });
          const args = {
            type: r.type,
            props,
            urn: r.urn,
            name: r.name,
            opts: resourceOptions(r),
            stackTags: emptyTags,
            isType: (cls: unknown) => typeOf(cls) === r.type,
            asType: (cls: unknown) => (typeOf(cls) === r.type ? props : undefined),
            getConfig,
            notApplicable,
          };
          let applicable = true;
          for (const validate of validations) {
            try {
              await Promise.resolve(validate(args as any, (message) => fail("violation", message, r)));
            } catch (e) {
              if (e instanceof NotApplicable) {
                applicable = false;
                reasons.add(e.reason ?? "not applicable");
              } else if (e instanceof UnknownValueError) fail("unknown-at-preview", `can't run policy '${policy.name}' on ${r.name} during preview: ${(e as Error).message}`, r);
              else fail("error", `policy '${policy.name}' failed on ${r.name}: ${e instanceof Error ? e.stack : String(e)}`, r);
            }
          }
          if (applicable) outcome.evaluated++;
        }
        if (outcome.evaluated === 0) {
          // Prefer the reasons that are not just "another type".
          const specific = [...reasons].filter((r) => !r.startsWith(ONLY_APPLIES_TO));
          outcome.notApplicable = specific.length ? specific.join("; ") : "no resource of the types it checks";
        }
      }
      outcomes.push(outcome);
    }
  } finally {
    setStackContext(undefined);
  }
  const diagnostics = outcomes.flatMap((o) => o.diagnostics);
  const blocking = diagnostics.filter((d) => d.kind === "error" || (d.kind === "violation" && d.enforcementLevel === "mandatory"));
  return { outcomes, diagnostics, blocking };
}
