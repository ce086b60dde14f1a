"""`make deploy EDGE=1`: the stack with its public edge, and the card page on it (README, "The public edge").

    python -m local.deploy --template-file .aws-sam/build/template.yaml --sam .venv-sam/bin/sam
        [--stack-name NAME] [--region REGION] [--domain pay.example.com [--hosted-zone Z...]]

1. edge.yaml in us-east-1, as stack `<stack>-edge`: the WAF web ACL, its logs, and the domain's certificate
   (CloudFront takes web ACLs and certificates from us-east-1 only);
2. the main stack, with the edge stack's outputs as EdgeWebAclArn and EdgeCertificateArn over the parameters
   samconfig.toml saved (a parameter given on the command line replaces all of them, so they are merged
   here); guided when samconfig.toml names no stack yet, and then it saves them;
3. web/ made for the edge's own origin (local/page.py) uploaded to the page bucket with its manifest, files
   the page no longer has deleted, and CloudFront's cached copies invalidated.

The stack and region come from samconfig.toml unless given. AWS credentials are your own.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3

from local.deploy_arch import deployed_architecture, saved_deploy_settings
from local.page import CONTENT_TYPES, MANIFEST, SAME_ORIGIN, ShippedPage, ship
from local.template import ROOT

EDGE_TEMPLATE = ROOT / "edge.yaml"
EDGE_REGION = "us-east-1"
WEB_ROOT = ROOT / "web"
# Browsers revalidate on every load: a page with new hashes must never meet a script cached from before (its
# SRI would refuse it). CloudFront keeps them a day, or until the next deploy's invalidation.
CACHE_CONTROL = "max-age=0, s-maxage=86400"


def edge_stack_name(stack: str) -> str:
    return f"{stack}-edge"


def overrides(*layers: dict[str, str]) -> list[str]:
    """`--parameter-overrides` values, later layers over earlier ones, each quoted as SAM CLI parses them
    (an empty value or one with a space would otherwise be refused or cut at the space)."""
    merged: dict[str, str] = {}
    for layer in layers:
        merged |= layer
    # SAM CLI reads `\"` as a quote inside a quoted value and leaves every other backslash as it is.
    return ['{}="{}"'.format(name, value.replace('"', '\\"')) for name, value in merged.items()]


def edge_parameters(outputs: dict[str, str], domain: str) -> dict[str, str]:
    """The main stack's edge parameters from the edge stack's outputs. A domain not given now keeps the one
    the stack has (SAM sends a parameter it is not given as the previous value)."""
    parameters = {"EdgeWebAclArn": outputs["WebAclArn"]}
    if "CertificateArn" in outputs:
        parameters["EdgeCertificateArn"] = outputs["CertificateArn"]
    if domain:
        parameters["EdgeDomainName"] = domain
    return parameters


def publish_page(page: ShippedPage, bucket: str, distribution: str, *, s3: Any, cloudfront: Any) -> list[str]:
    """Upload the page, then its manifest (last: a page check meanwhile compares the new files with it at
    worst), delete what it no longer has, invalidate the edge's copies. Returns the keys uploaded."""
    objects = {**page.files, MANIFEST: page.manifest()}
    for key, body in [*sorted(page.files.items()), (MANIFEST, objects[MANIFEST])]:
        content_type = CONTENT_TYPES.get(Path(key).suffix, "application/octet-stream")
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type, CacheControl=CACHE_CONTROL)
    stale = [
        item["Key"]
        for listing in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for item in listing.get("Contents", [])
        if item["Key"] not in objects
    ]
    if stale:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key} for key in stale]})
    cloudfront.create_invalidation(
        DistributionId=distribution,
        InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/*"]}, "CallerReference": str(time.time_ns())},
    )
    return sorted(objects)


def stack_outputs(stack: str, region: str) -> dict[str, str]:
    described = boto3.client("cloudformation", region_name=region).describe_stacks(StackName=stack)
    return {o["OutputKey"]: o["OutputValue"] for o in described["Stacks"][0].get("Outputs", [])}


def sam_deploy(
    sam: str, template: Path, stack: str, region: str, options: list[str], parameters: list[str]
) -> list[str]:
    """A `sam deploy` command line; samconfig.toml's deploy settings apply to both stacks (the IAM
    capability, a change set shown and confirmed, SAM's own artifact bucket in the stack's region)."""
    return [
        *(sam, "deploy", "--template-file", str(template), "--stack-name", stack, "--region", region),
        *options,
        *("--parameter-overrides", *parameters),
    ]


def _run(command: list[str]) -> None:
    print("$ " + shlex.join(command), flush=True)
    subprocess.run(command, check=True)  # noqa: S603 (our own sam, our own arguments)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template-file", type=Path, required=True, help="the built template (make build)")
    parser.add_argument("--sam", required=True, help="the SAM CLI")
    parser.add_argument("--arch", default="arm64", help="the architecture built")
    parser.add_argument("--stack-name", help="default: samconfig.toml's stack_name")
    parser.add_argument("--region", help="default: samconfig.toml's region")
    parser.add_argument("--domain", default="", help="the edge's own domain (EdgeDomainName)")
    parser.add_argument("--hosted-zone", default="", help="its Route 53 zone, where ACM validates it")
    parser.add_argument("--samconfig", type=Path, default=ROOT / "samconfig.toml")
    args = parser.parse_args(argv)

    settings = saved_deploy_settings(args.samconfig)
    stack, region = args.stack_name or settings.stack_name, args.region or settings.region
    if not stack or not region:
        parser.error("name the stack and its region (--stack-name, --region), or save them in samconfig.toml")
    guided = not settings.stack_name  # the first deploy: sam asks, then saves the answers
    deployed = deployed_architecture(args.samconfig)
    if not guided and deployed != args.arch:
        parser.error(f"built for {args.arch}, but the stack deploys {deployed}: make deploy ARCH={deployed}")

    edge_stack = edge_stack_name(stack)
    # Only what is given: a parameter left out keeps the stack's value (SAM sends it as the previous one), so
    # a redeploy without --domain does not take the certificate the distribution uses away.
    edge_given = {"EdgeDomainName": args.domain, "HostedZoneId": args.hosted_zone}
    edge_overrides = {"BillingStackName": stack} | {
        name: value for name, value in edge_given.items() if value
    }
    _run(sam_deploy(args.sam, EDGE_TEMPLATE, edge_stack, EDGE_REGION, [], overrides(edge_overrides)))
    edge = edge_parameters(stack_outputs(edge_stack, EDGE_REGION), args.domain)
    # The page's inventory is pinned by the stack (PageManifestDigest): the page check refuses another.
    page = ship(WEB_ROOT, SAME_ORIGIN)
    pinned = {"PageManifestDigest": page.manifest_digest()}
    parameters = overrides({"Architecture": args.arch}, settings.parameters, edge, pinned)
    _run(sam_deploy(args.sam, args.template_file, stack, region, ["--guided"] if guided else [], parameters))

    outputs = stack_outputs(stack, region)
    uploaded = publish_page(
        page,
        outputs["PageBucketName"],
        outputs["DistributionId"],
        s3=boto3.client("s3", region_name=region),
        cloudfront=boto3.client("cloudfront"),
    )
    print(f"page: {len(uploaded)} files at {outputs['EdgeUrl']}/ (CloudFront invalidated)")
    print(f"PortOne's notices: {outputs['NoticeUrl']} (set it in PortOne's console as the webhook URL too)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
