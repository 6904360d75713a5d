#!/usr/bin/env python3
"""The sandbox's deployer: what `pulumi up` does against AWS for a stack's secrets and bundles,
done against the sandbox's AWS APIs (moto's Secrets Manager, s3rver's S3) with boto3 — Debian's
python3-boto3, the AWS SDK awscli is built on. Runs on the sandbox's `aws` host with its AWS
environment (/etc/pgha/aws.env: endpoints, CA bundle, static credentials). One process for a
whole publish: awscli would start Python once per object.

stdin: JSON {"region": str,
             "secrets": [{"name": str, "value": str}],            # created or updated
             "objects": [{"bucket": str, "key": str, "b64": str}],  # uploaded in this order
             "deleteSecrets": [str], "list": {"bucket": str, "prefix": str} | null,
             "topics": [{"name": str, "inbox": str}],   # SNS topic, with an SQS queue subscribed
             "readInbox": {"queue": str, "waitSeconds": n} | null,  # receive and delete
             "metric": {"namespace": str, "name": str, "dimensions": {str: str}, "sinceSeconds": n} | null}
stdout: JSON {"secrets": {"created": n, "updated": n}, "objects": n, "keys": [str] | null,
              "topics": {name: arn}, "messages": [{"subject", "message", "timestamp", "topicArn"}] | null,
              "datapoints": [{"timestamp": str, "sum": n}] | null}

The topics are the alert topic `pulumi up` creates (components: SNS, KMS-encrypted on AWS). The
inbox queue stands in for the people subscribed to it (email, HTTPS): SNS delivers every
published message to it, and the tests read what Alertmanager sent from there.
"""
import datetime
import base64
import json
import sys

import boto3
from botocore.config import Config


def main() -> None:
    req = json.load(sys.stdin)
    region = req["region"]
    sm = boto3.client("secretsmanager", region_name=region)
    s3 = boto3.client("s3", region_name=region, config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required"))
    out = {"secrets": {"created": 0, "updated": 0}, "objects": 0, "keys": None}
    if req.get("secrets"):
        existing = set()
        for page in sm.get_paginator("list_secrets").paginate():
            existing.update(s["Name"] for s in page["SecretList"])
        for s in req["secrets"]:
            if s["name"] in existing:
                sm.put_secret_value(SecretId=s["name"], SecretString=s["value"])
                out["secrets"]["updated"] += 1
            else:
                sm.create_secret(Name=s["name"], SecretString=s["value"])
                out["secrets"]["created"] += 1
    for name in req.get("deleteSecrets") or []:
        try:
            sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
        except sm.exceptions.ResourceNotFoundException:
            pass  # already gone: deleting is idempotent
    for o in req.get("objects") or []:
        s3.put_object(Bucket=o["bucket"], Key=o["key"], Body=base64.b64decode(o["b64"]))
        out["objects"] += 1
    if req.get("topics"):
        sns = boto3.client("sns", region_name=region)
        sqs = boto3.client("sqs", region_name=region)
        out["topics"] = {}
        for t in req["topics"]:
            arn = sns.create_topic(Name=t["name"])["TopicArn"]  # idempotent
            url = sqs.create_queue(QueueName=t["inbox"])["QueueUrl"]
            queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            subscribed = any(
                s["Endpoint"] == queue_arn
                for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn)
                for s in page["Subscriptions"]
            )
            if not subscribed:
                sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
            out["topics"][t["name"]] = arn
    inbox = req.get("readInbox")
    if inbox:
        sqs = boto3.client("sqs", region_name=region)
        url = sqs.get_queue_url(QueueName=inbox["queue"])["QueueUrl"]
        messages = []
        while True:
            r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=inbox.get("waitSeconds", 0) if not messages else 0)
            batch = r.get("Messages", [])
            if not batch:
                break
            for m in batch:
                body = json.loads(m["Body"])
                messages.append({"subject": body.get("Subject"), "message": body.get("Message"), "timestamp": body.get("Timestamp"), "topicArn": body.get("TopicArn")})
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        out["messages"] = messages
    metric = req.get("metric")
    if metric:
        cw = boto3.client("cloudwatch", region_name=region)
        now = datetime.datetime.now(datetime.timezone.utc)
        r = cw.get_metric_statistics(
            Namespace=metric["namespace"], MetricName=metric["name"],
            Dimensions=[{"Name": k, "Value": v} for k, v in metric["dimensions"].items()],
            StartTime=now - datetime.timedelta(seconds=metric["sinceSeconds"]), EndTime=now + datetime.timedelta(seconds=60),
            Period=60, Statistics=["Sum"],
        )
        out["datapoints"] = sorted(({"timestamp": d["Timestamp"].isoformat(), "sum": d["Sum"]} for d in r["Datapoints"]), key=lambda d: d["timestamp"])
    listing = req.get("list")
    if listing:
        objects = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=listing["bucket"], Prefix=listing["prefix"]):
            objects.extend({"key": o["Key"], "size": o["Size"], "etag": o["ETag"]} for o in page.get("Contents", []))
        out["keys"] = [o["key"] for o in objects]
        out["objects"] = objects
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
