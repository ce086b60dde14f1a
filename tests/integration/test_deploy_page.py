"""`make deploy EDGE=1` (local/deploy.py): the main stack gets the edge stack's outputs over its saved
parameters, and the page reaches its bucket with its inventory, then CloudFront is invalidated. S3 and
CloudFront are moto's; the stacks themselves need AWS and are not deployed here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from local.deploy import CACHE_CONTROL, edge_parameters, overrides, publish_page, sam_deploy
from local.deploy_arch import saved_deploy_settings
from local.page import MANIFEST, SAME_ORIGIN, ship
from local.page import main as page_main
from local.template import ROOT

WEB_ROOT = ROOT / "web"
ACL = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/billing-edge/0123abcd-0123-4567-89ab-0123456789ab"
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0123abcd-0123-4567-89ab-0123456789ab"


def distribution(cloudfront: Any) -> str:
    config = {
        "CallerReference": "test",
        "Comment": "the page",
        "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{"Id": "page", "DomainName": "bucket.s3.amazonaws.com"}]},
        "DefaultCacheBehavior": {"TargetOriginId": "page", "ViewerProtocolPolicy": "redirect-to-https"},
    }
    return str(cloudfront.create_distribution(DistributionConfig=config)["Distribution"]["Id"])


def test_the_page_is_uploaded_with_its_inventory_old_files_go_and_the_edge_is_invalidated(stack) -> None:
    s3, cloudfront = stack.client("s3"), stack.client("cloudfront")
    bucket = "page-deploy-test"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-2"})
    s3.put_object(Bucket=bucket, Key="old-script.js", Body=b"// from an earlier page")
    page = ship(WEB_ROOT, SAME_ORIGIN)
    distribution_id = distribution(cloudfront)

    puts: list[str] = []
    s3.meta.events.register(
        "provide-client-params.s3.PutObject", lambda params, **_: puts.append(params["Key"])
    )
    uploaded = publish_page(page, bucket, distribution_id, s3=s3, cloudfront=cloudfront)
    # The inventory last: a page check meanwhile compares the new files with the old inventory at worst
    assert puts[-1] == MANIFEST

    keys = sorted(item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == uploaded == sorted([*page.files, MANIFEST])
    index = s3.get_object(Bucket=bucket, Key="index.html")
    assert index["Body"].read() == page.files["index.html"]
    assert (index["ContentType"], index["CacheControl"]) == ("text/html; charset=utf-8", CACHE_CONTROL)
    assert s3.get_object(Bucket=bucket, Key="app.js")["ContentType"] == "text/javascript; charset=utf-8"
    assert s3.get_object(Bucket=bucket, Key=MANIFEST)["Body"].read() == page.manifest()
    # The page calls the API on its own origin
    assert b'export const API_BASE_URL = "";' in s3.get_object(Bucket=bucket, Key="config.js")["Body"].read()
    [invalidation] = cloudfront.list_invalidations(DistributionId=distribution_id)["InvalidationList"][
        "Items"
    ]
    batch = cloudfront.get_invalidation(DistributionId=distribution_id, Id=invalidation["Id"])
    assert batch["Invalidation"]["InvalidationBatch"]["Paths"]["Items"] == ["/*"]
    for key in keys:
        s3.delete_object(Bucket=bucket, Key=key)
    s3.delete_bucket(Bucket=bucket)


SAM = Path(os.environ.get("SAM_CLI", str(ROOT / ".venv-sam" / "bin" / "sam")))  # make test names it


def sam_reads(values: list[str]) -> dict[str, str]:
    """`--parameter-overrides` values as SAM CLI's own parser reads them (the SAM CLI's virtualenv)."""
    sam_python = SAM.parent / "python"
    code = (
        "import json, sys; from samcli.cli.types import CfnParameterOverridesType; "
        "print(json.dumps(CfnParameterOverridesType().convert(tuple(json.loads(sys.argv[1])), None, None)))"
    )
    result = subprocess.run(
        [str(sam_python), "-c", code, json.dumps(values)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    read: dict[str, str] = json.loads(result.stdout)
    return read


def test_the_edge_stacks_outputs_go_over_the_saved_parameters_as_sam_reads_them(tmp_path: Path) -> None:
    # Given the parameters a guided deploy saved: an empty one, one with spaces, an edge from before
    config = tmp_path / "samconfig.toml"
    saved_line = 'JwtIssuer="" SmokeCheckSchedule="rate(15 minutes)" EdgeWebAclArn="old"'
    config.write_text(
        'version = 0.1\n[default.global.parameters]\nregion = "ap-northeast-2"\n'
        '[default.deploy.parameters]\nstack_name = "billing"\n'
        f"parameter_overrides = {json.dumps(saved_line)}\n"
    )
    saved = saved_deploy_settings(config)
    assert (saved.stack_name, saved.region) == ("billing", "ap-northeast-2")

    # When the edge stack answered without a certificate (no domain)
    edge = edge_parameters({"WebAclArn": ACL}, "")
    read = sam_reads(overrides({"Architecture": "arm64"}, saved.parameters, edge, {"Quote": 'a "b"'}))

    # Then SAM reads every value whole, the edge's over the saved
    assert read == {
        "Architecture": "arm64",
        "JwtIssuer": "",
        "SmokeCheckSchedule": "rate(15 minutes)",
        "EdgeWebAclArn": ACL,
        "Quote": 'a "b"',
    }


def test_a_redeploy_without_the_domain_keeps_the_stacks_and_its_certificate() -> None:
    outputs = {"WebAclArn": ACL, "CertificateArn": CERTIFICATE}
    # No EdgeDomainName: SAM sends the stack's previous value; the certificate still comes from the edge stack
    assert edge_parameters(outputs, "") == {"EdgeWebAclArn": ACL, "EdgeCertificateArn": CERTIFICATE}
    assert edge_parameters(outputs, "pay.example.com") == {
        "EdgeWebAclArn": ACL,
        "EdgeCertificateArn": CERTIFICATE,
        "EdgeDomainName": "pay.example.com",
    }


def test_a_page_hosted_elsewhere_is_made_for_the_apis_url(tmp_path: Path, capsys) -> None:
    api = "https://abc123.execute-api.ap-northeast-2.amazonaws.com"
    assert page_main(["--api-url", api, "--out", str(tmp_path)]) == 0
    page = ship(WEB_ROOT, api)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*page.files, MANIFEST])
    assert (tmp_path / "config.js").read_bytes() == page.files["config.js"]
    assert f'export const API_BASE_URL = "{api}";' in page.files["config.js"].decode()
    assert f"connect-src {api};" in capsys.readouterr().out


def test_a_script_no_page_pins_is_never_shipped(tmp_path: Path) -> None:
    # Given the page with a module its pages do not pin: imported for its side effects only, which the
    # import reader does not follow
    root = tmp_path / "web"
    shutil.copytree(WEB_ROOT, root)
    (root / "side.js").write_text("globalThis.unchecked = true;\n")
    app = root / "app.js"
    app.write_text('import "./side.js";\n' + app.read_text())

    # Then making it refuses, naming the script
    with pytest.raises(ValueError, match=r"not pinned by any page: side\.js"):
        ship(root, SAME_ORIGIN)


def test_every_option_make_deploy_passes_is_one_sam_deploy_takes() -> None:
    # The deploys themselves need AWS; the options they pass SAM CLI can be checked against its own help
    command = sam_deploy("sam", Path("template.yaml"), "billing", "ap-northeast-2", ["--guided"], [])
    options = [part for part in command if part.startswith("--")]
    help_text = subprocess.run(
        [str(SAM), "deploy", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
    ).stdout
    assert [option for option in options if f"{option} " not in help_text] == []
