// The monitoring node's Alertmanager configuration (issue 12): every alert of the stack goes to
// its SNS topic (Alertmanager's SNS receiver, signed with SigV4 by the node's instance role on
// EC2; in the sandbox the same receiver publishes to moto's SNS API). Pages repeat hourly while
// they fire, tickets twice a day; resolutions are sent too. Credentials come from the SDK's chain:
// the instance role on EC2, the sandbox's static credentials file (AWS_SHARED_CREDENTIALS_FILE).
import YAML from "yaml";
import type { ClusterSpec } from "../spec";

export interface AlertmanagerOptions {
  topicArn: string;
  region: string;
  /** The SNS API's URL where it is not AWS's own (the sandbox's moto); undefined: AWS's endpoint for the region. */
  apiUrl?: string;
  /** The CA that verifies apiUrl (the sandbox's); undefined: the system store. */
  caFile?: string;
}

/** Where the account of the topic's ARN goes in the bundle's copy; pgha-setup monitoring fills it in from STS. */
export const ACCOUNT_PLACEHOLDER = "@AWS_ACCOUNT_ID@";

/** The alert topic's ARN in the bundle: the account is known on the node only (STS, the instance role). */
export function topicArnTemplate(spec: ClusterSpec): string {
  return `arn:aws:sns:${spec.region}:${ACCOUNT_PLACEHOLDER}:${spec.monitoring.topicName}`;
}

export const PAGE_REPEAT = "1h";
export const TICKET_REPEAT = "12h";

export function alertmanagerConfig(spec: ClusterSpec, o: AlertmanagerOptions): object {
  const sns = {
    topic_arn: o.topicArn,
    ...(o.apiUrl ? { api_url: o.apiUrl } : {}),
    ...(o.caFile ? { http_config: { tls_config: { ca_file: o.caFile } } } : {}),
    sigv4: { region: o.region },
    send_resolved: true,
    subject: `[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} (${spec.stack}/${spec.scope}, {{ .CommonLabels.severity }})`,
    message: `{{ range .Alerts }}{{ .Status }}: {{ .Annotations.summary }}\nfirst step: {{ .Annotations.first_step }}\npromise: {{ .Annotations.promise }}\nsince: {{ .StartsAt }}\n\n{{ end }}`,
  };
  return {
    route: {
      receiver: "sns",
      group_by: ["alertname", "node"],
      group_wait: "10s",
      group_interval: "1m",
      repeat_interval: TICKET_REPEAT,
      routes: [{ receiver: "sns", matchers: ['severity="page"'], repeat_interval: PAGE_REPEAT }],
    },
    // A page silences the tickets it explains: no leader makes the members' and the endpoint's alerts noise.
    inhibit_rules: [
      { source_matchers: ['alertname="PghaLeaderMissing"'], target_matchers: ['alertname=~"PghaReadWriteEndpointEmpty|PghaSynchronousStandbyMissing"'] },
      { source_matchers: ['alertname="PghaArchiveBehindRpo"'], target_matchers: ['alertname="PghaArchiveFailing"'] },
    ],
    receivers: [{ name: "sns", sns_configs: [sns] }],
  };
}

export function renderAlertmanagerConfig(spec: ClusterSpec, o: AlertmanagerOptions): string {
  return `# Alertmanager of stack ${spec.stack} (cluster ${spec.scope}). Rendered by postgres-ha.\n${YAML.stringify(alertmanagerConfig(spec, o), { lineWidth: 0 })}`;
}
