#!/bin/bash
# apply-dynamic-config — run by `pulumi up` (components/dynamicConfig.ts) on the machine that
# deploys: waits until every PostgreSQL instance is online in SSM, sends the desired Patroni
# dynamic configuration with SSM Run Command (one node at a time), waits for the result, and on
# failure prints every node's output and what to run next. Needs bash, awscli v2 and credentials.
# Environment: PGHA_INSTANCE_IDS (space-separated), PGHA_REGION, PGHA_CONFIG_HASH,
# PGHA_SSM_PARAMETERS (AWS-RunShellScript parameters, JSON), PGHA_NODE_READY_TIMEOUT (s).
set -euo pipefail
say() { echo "[postgres-ha dynamic config] $*" >&2; }
read -r -a ids <<< "$PGHA_INSTANCE_IDS"
region="$PGHA_REGION"
deadline=$(( $(date +%s) + PGHA_NODE_READY_TIMEOUT ))
for id in "${ids[@]}"; do
  until [ "$(aws ssm describe-instance-information --region "$region" --filters "Key=InstanceIds,Values=$id" --query 'InstanceInformationList[0].PingStatus' --output text 2>/dev/null || true)" = Online ]; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      say "$id is not online in SSM after $PGHA_NODE_READY_TIMEOUT s. Check that its SSM agent runs and that it reaches the SSM endpoints (docs/aws.md, 'Reaching a node'), then run pulumi up again."
      exit 1
    fi
    sleep 10
  done
done
say "applying dynamic configuration ${PGHA_CONFIG_HASH:0:12} to ${ids[*]}"
command_id=$(aws ssm send-command --region "$region" --document-name AWS-RunShellScript \
  --comment "postgres-ha dynamic config ${PGHA_CONFIG_HASH:0:12}" --instance-ids "${ids[@]}" \
  --max-concurrency 1 --max-errors 0 --parameters "$PGHA_SSM_PARAMETERS" \
  --query Command.CommandId --output text)
while :; do
  status=$(aws ssm list-commands --region "$region" --command-id "$command_id" --query 'Commands[0].Status' --output text)
  case "$status" in
    Success) break ;;
    Pending|InProgress|Delayed) sleep 5 ;;
    *)
      say "SSM command $command_id ended with status $status; output of each node:"
      aws ssm list-command-invocations --region "$region" --command-id "$command_id" --details \
        --query 'CommandInvocations[].[InstanceId,Status,CommandPlugins[0].Output]' --output text >&2 || true
      say "next: aws ssm start-session --region $region --target <instance id>, then: sudo pgha-dynamic diff"
      exit 1 ;;
  esac
done
aws ssm list-command-invocations --region "$region" --command-id "$command_id" --details \
  --query 'CommandInvocations[].[InstanceId,CommandPlugins[0].Output]' --output text
say "applied on ${#ids[@]} node(s)"
