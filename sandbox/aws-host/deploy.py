#!/usr/bin/env python3
"""The sandbox's deployer: what `pulumi up` does against AWS for a stack's secrets and bundles,
done against the sandbox's AWS APIs (moto's Secrets Manager, s3rver's S3) with boto3 — Debian's
python3-boto3, the AWS SDK awscli is built on. Runs on the sandbox's `aws` host with its AWS
environment (/etc/pgha/aws.env: endpoints, CA bundle, static credentials). One process for a
whole publish: awscli would start Python once per object.

stdin: JSON {"region": str,
             "secrets": [{"name": str, "value": str}],            # created or updated
             "objects": [{"bucket": str, "key": str, "b64": str}],  # uploaded in this order
             "deleteSecrets": [str], "list": {"bucket": str, "prefix": str} | null}
stdout: JSON {"secrets": {"created": n, "updated": n}, "objects": n, "keys": [str] | null}
"""
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
    listing = req.get("list")
    if listing:
        keys = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=listing["bucket"], Prefix=listing["prefix"]):
            keys.extend(o["Key"] for o in page.get("Contents", []))
        out["keys"] = keys
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
