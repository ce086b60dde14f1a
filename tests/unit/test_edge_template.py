"""The public edge (issue 15) as the templates declare it: template.yaml's distribution, bucket and policies
(only with EdgeWebAclArn), and edge.yaml's web ACL, its logs and the certificate in us-east-1.

AWS's rules these assert are in docs/edge-evidence.md, each with its source. The web ACL's statements are
evaluated here against the API's own routes, so a renamed route cannot slip out of a rule unnoticed.
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from billing.app import ISSUE_BILLING_PATH, WEBHOOK_PATH
from billing.edge import ORIGIN_SECRET_HEADER, VIEWER_ADDRESS_HEADER
from local.edge import waf_matches
from local.page import SAME_ORIGIN, content_security_policy
from local.template import ROOT, load_template
from tests.unit.test_template import EXPECTED_ROUTES

EDGE_TEMPLATE = ROOT / "edge.yaml"
EDGE_RESOURCES = {
    "OriginSecret",
    "PageBucket",
    "PageBucketPolicy",
    "PageOriginAccessControl",
    "ViewerAddressFunction",
    "EdgeHeadersPolicy",
    "Distribution",
    "PageChangedAlarm",
    "PageCheckMissingAlarm",
}
# AWS's managed CloudFront policies (docs/edge-evidence.md §1)
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
ALL_METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"]
# The routes that take a card: the WAF rate rule and the token rule cover exactly these.
CARD_ROUTES = {
    ("POST", ISSUE_BILLING_PATH),
    ("POST", "/subscriptions/schedule"),
    ("PUT", "/subscriptions/{customer_uid}/card"),
}
PORTONE_NOTICE_ADDRESSES = ["52.78.100.19", "52.78.48.223", "52.78.5.241"]  # docs/portone-v1.md §4.6


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    return load_template()["Resources"]


@pytest.fixture(scope="module")
def distribution(resources: dict[str, Any]) -> dict[str, Any]:
    return resources["Distribution"]["Properties"]["DistributionConfig"]


@pytest.fixture(scope="module")
def edge() -> dict[str, Any]:
    return dict(cfn_yaml.load(str(EDGE_TEMPLATE)))


@pytest.fixture(scope="module")
def web_acl(edge: dict[str, Any]) -> dict[str, Any]:
    return edge["Resources"]["WebAcl"]["Properties"]


def _rule(web_acl: dict[str, Any], name: str) -> dict[str, Any]:
    [rule] = [r for r in web_acl["Rules"] if r["Name"] == name]
    return rule


def _concrete(path: str) -> str:
    """A route's path with its parameters filled in, as a request would carry it."""
    return re.sub(r"\{[^}]+\}", "cus_123", path)


def _matches(statement: dict[str, Any], method: str, path: str, ip: str = "203.0.113.7") -> bool:
    """A WAF statement evaluated for one request (the local edge's evaluator); the IP set is PortOne's."""

    def in_ip_set(arn: str) -> bool:
        assert json.loads(arn) == {"Fn::GetAtt": ["PortOneNoticeIps", "Arn"]}
        return ip in PORTONE_NOTICE_ADDRESSES

    return waf_matches(statement, method, path, in_ip_set)


# --- template.yaml: the distribution --------------------------------------------------------------------


def test_the_edge_exists_only_with_a_web_acl(resources: dict[str, Any]) -> None:
    conditions = load_template()["Conditions"]
    assert conditions["UseEdge"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "EdgeWebAclArn"}, ""]}]}
    assert {name for name, r in resources.items() if r.get("Condition") == "UseEdge"} == EDGE_RESOURCES


def test_the_distribution_sits_behind_the_web_acl_from_us_east_1(distribution: dict[str, Any]) -> None:
    assert distribution["WebACLId"] == {"Ref": "EdgeWebAclArn"}
    pattern = load_template()["Parameters"]["EdgeWebAclArn"]["AllowedPattern"]
    assert re.fullmatch(pattern, "")
    acl = (
        "arn:aws:wafv2:us-east-1:123456789012:global/webacl/billing-edge/0123abcd-0123-4567-89ab-0123456789ab"
    )
    assert re.fullmatch(pattern, acl)
    assert not re.fullmatch(pattern, acl.replace("us-east-1", "ap-northeast-2"))  # CloudFront's are us-east-1
    assert not re.fullmatch(pattern, acl.replace("global", "regional"))


def test_the_page_comes_from_the_private_bucket_through_origin_access_control(
    resources: dict[str, Any], distribution: dict[str, Any]
) -> None:
    page = next(o for o in distribution["Origins"] if o["Id"] == "page")
    assert page["DomainName"] == {"Fn::GetAtt": ["PageBucket", "RegionalDomainName"]}
    assert page["OriginAccessControlId"] == {"Fn::GetAtt": ["PageOriginAccessControl", "Id"]}
    assert page["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    oac = resources["PageOriginAccessControl"]["Properties"]["OriginAccessControlConfig"]
    assert (oac["OriginAccessControlOriginType"], oac["SigningBehavior"], oac["SigningProtocol"]) == (
        "s3",
        "always",
        "sigv4",
    )


def test_the_bucket_is_private_owner_enforced_and_read_by_this_distribution_over_tls_only(
    resources: dict[str, Any],
) -> None:
    bucket = resources["PageBucket"]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"], True
    )
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}

    allow, deny = resources["PageBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert (allow["Effect"], allow["Principal"], allow["Action"]) == (
        "Allow",
        {"Service": "cloudfront.amazonaws.com"},
        "s3:GetObject",
    )
    source = allow["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
    assert source.endswith(":distribution/${Distribution}")
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "s3:*")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_page_is_cached_read_only_and_redirected_to_https(distribution: dict[str, Any]) -> None:
    default = distribution["DefaultCacheBehavior"]
    assert default["TargetOriginId"] == "page"
    assert default["ViewerProtocolPolicy"] == "redirect-to-https"
    assert default["AllowedMethods"] == ["GET", "HEAD"]
    assert default["CachePolicyId"] == CACHING_OPTIMIZED
    assert distribution["DefaultRootObject"] == "index.html"


def test_every_route_goes_to_the_api_uncached_https_only_with_every_method_and_header(
    distribution: dict[str, Any],
) -> None:
    behaviors = distribution["CacheBehaviors"]
    for _, path in EXPECTED_ROUTES:
        # CloudFront takes the first behavior whose pattern matches (`*` spans slashes, as in fnmatch)
        behavior = next(b for b in behaviors if fnmatch.fnmatchcase(_concrete(path), b["PathPattern"]))
        assert behavior["TargetOriginId"] == "api", path
    for behavior in behaviors:
        assert behavior["TargetOriginId"] == "api"
        # A card sent over plain HTTP is refused (403), not redirected: the redirect comes after it went out
        assert behavior["ViewerProtocolPolicy"] == "https-only"
        assert behavior["AllowedMethods"] == ALL_METHODS
        assert behavior["CachePolicyId"] == CACHING_DISABLED
        # Every viewer header but Host; Authorization too, as caching is disabled
        assert behavior["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER
        assert behavior["FunctionAssociations"] == [
            {
                "EventType": "viewer-request",
                "FunctionARN": {"Fn::GetAtt": ["ViewerAddressFunction", "FunctionMetadata.FunctionARN"]},
            }
        ]
        assert behavior["ResponseHeadersPolicyId"] == {"Ref": "EdgeHeadersPolicy"}
    # The page's paths stay the page's
    for page_path in ("/", "/index.html", "/account.html", "/app.js", "/config.js"):
        assert not any(fnmatch.fnmatchcase(page_path, b["PathPattern"]) for b in behaviors), page_path


def test_the_api_origin_is_the_http_api_over_tls_with_the_origin_secret(distribution: dict[str, Any]) -> None:
    api = next(o for o in distribution["Origins"] if o["Id"] == "api")
    assert api["DomainName"] == {
        "Fn::Select": [2, {"Fn::Split": ["/", {"Fn::GetAtt": ["BillingApi", "ApiEndpoint"]}]}]
    }
    assert api["CustomOriginConfig"] == {
        "OriginProtocolPolicy": "https-only",
        "OriginSSLProtocols": ["TLSv1.2"],
    }
    [header] = api["OriginCustomHeaders"]
    assert header["HeaderName"] == ORIGIN_SECRET_HEADER
    # The current value, of the version a rotation pins (a reference that changes is read again)
    assert header["HeaderValue"] == {
        "Fn::Sub": "{{resolve:secretsmanager:${OriginSecret}:SecretString:current::${OriginSecretVersion}}}"
    }


def test_the_origin_secret_is_generated_with_no_previous_value(resources: dict[str, Any]) -> None:
    generate = resources["OriginSecret"]["Properties"]["GenerateSecretString"]
    assert json.loads(generate["SecretStringTemplate"]) == {"previous": ""}
    assert generate["GenerateStringKey"] == "current"
    assert generate["PasswordLength"] >= 32  # edge.py refuses shorter values


def test_the_viewer_function_writes_the_viewer_address_over_the_clients(resources: dict[str, Any]) -> None:
    function = resources["ViewerAddressFunction"]["Properties"]
    assert function["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    assert function["AutoPublish"] is True
    # Run its code as CloudFront would, on a request whose client wrote the header itself
    event = {
        "viewer": {"ip": "2001:db8::7"},
        "request": {
            "method": "POST",
            "uri": ISSUE_BILLING_PATH,
            "headers": {VIEWER_ADDRESS_HEADER: {"value": "1.1.1.1"}},
        },
    }
    script = (
        function["FunctionCode"] + f"\nprocess.stdout.write(JSON.stringify(handler({json.dumps(event)})));"
    )
    result = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=30, check=True)  # noqa: S607
    request = json.loads(result.stdout)
    assert request["headers"][VIEWER_ADDRESS_HEADER] == {"value": "2001:db8::7"}
    assert (request["method"], request["uri"]) == ("POST", ISSUE_BILLING_PATH)


def test_every_answer_carries_hsts_and_the_pages_policy_for_its_own_origin(resources: dict[str, Any]) -> None:
    config = resources["EdgeHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"][
        "SecurityHeadersConfig"
    ]
    hsts = config["StrictTransportSecurity"]
    assert hsts["AccessControlMaxAgeSec"] >= 365 * 86400
    assert hsts["Override"] is True
    policy = config["ContentSecurityPolicy"]
    assert policy["Override"] is True
    # The policy make dev serves, with the API on the page's own origin
    assert policy["ContentSecurityPolicy"] == content_security_policy([SAME_ORIGIN])
    assert config["FrameOptions"] == {"FrameOption": "DENY", "Override": True}


def test_a_custom_domain_has_its_certificate_by_sni_and_modern_tls(distribution: dict[str, Any]) -> None:
    template = load_template()
    assert distribution["Aliases"] == {
        "Fn::If": ["HasEdgeDomain", [{"Ref": "EdgeDomainName"}], {"Ref": "AWS::NoValue"}]
    }
    condition, with_domain, without = distribution["ViewerCertificate"]["Fn::If"]
    assert condition == "HasEdgeDomain"
    assert with_domain == {
        "AcmCertificateArn": {"Ref": "EdgeCertificateArn"},
        "SslSupportMethod": "sni-only",
        "MinimumProtocolVersion": "TLSv1.2_2021",
    }
    assert without == {"CloudFrontDefaultCertificate": True}
    certificate = template["Parameters"]["EdgeCertificateArn"]["AllowedPattern"]
    arn = "arn:aws:acm:us-east-1:123456789012:certificate/0123abcd-0123-4567-89ab-0123456789ab"
    assert re.fullmatch(certificate, arn)
    assert not re.fullmatch(certificate, arn.replace("us-east-1", "ap-northeast-2"))
    rule = template["Rules"]["EdgeDomainWithEdgeAndCertificate"]
    assert [a["Assert"] for a in rule["Assertions"]] == [
        {"Fn::Not": [{"Fn::Equals": [{"Ref": "EdgeWebAclArn"}, ""]}]},
        {"Fn::Not": [{"Fn::Equals": [{"Ref": "EdgeCertificateArn"}, ""]}]},
    ]


def test_portone_is_told_the_edges_address_whenever_there_is_an_edge(resources: dict[str, Any]) -> None:
    expected = {
        "Fn::If": [
            "HasEdgeDomain",
            {"Fn::Sub": "https://${EdgeDomainName}" + WEBHOOK_PATH},
            {
                "Fn::If": [
                    "UseEdge",
                    {"Fn::Sub": "https://${Distribution.DomainName}" + WEBHOOK_PATH},
                    {"Fn::Sub": "${BillingApi.ApiEndpoint}" + WEBHOOK_PATH},
                ]
            },
        ]
    }
    function = resources["BillingFunction"]["Properties"]
    assert function["Environment"]["Variables"]["NOTICE_URL"] == expected
    assert load_template()["Outputs"]["NoticeUrl"]["Value"] == expected


def test_the_function_reads_the_origin_secret_only_with_the_edge(resources: dict[str, Any]) -> None:
    function = resources["BillingFunction"]["Properties"]
    assert function["Environment"]["Variables"]["ORIGIN_SECRET_ID"] == {
        "Fn::If": ["UseEdge", {"Ref": "OriginSecret"}, ""]
    }
    assert {
        "Fn::If": [
            "UseEdge",
            {"AWSSecretsManagerGetSecretValuePolicy": {"SecretArn": {"Ref": "OriginSecret"}}},
            {"Ref": "AWS::NoValue"},
        ]
    } in function["Policies"]


# --- edge.yaml: the web ACL in us-east-1 ------------------------------------------------------------------


def test_the_edge_stack_deploys_only_in_us_east_1_with_cloudfront_scope(edge: dict[str, Any]) -> None:
    [assertion] = edge["Rules"]["OnlyInUsEast1"]["Assertions"]
    assert assertion["Assert"] == {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}
    assert edge["Resources"]["WebAcl"]["Properties"]["Scope"] == "CLOUDFRONT"
    assert edge["Resources"]["PortOneNoticeIps"]["Properties"]["Scope"] == "CLOUDFRONT"


def test_portones_notices_pass_before_any_rule_that_could_block_them(
    edge: dict[str, Any], web_acl: dict[str, Any]
) -> None:
    default = edge["Parameters"]["PortOneNoticeAddresses"]["Default"]
    assert default.split(",") == [f"{ip}/32" for ip in PORTONE_NOTICE_ADDRESSES]
    first = min(web_acl["Rules"], key=lambda r: r["Priority"])
    assert (first["Name"], first["Action"]) == ("PortOneNotices", {"Allow": {}})
    for ip in PORTONE_NOTICE_ADDRESSES:
        assert _matches(first["Statement"], "POST", WEBHOOK_PATH, ip)
    # Only PortOne's, and only its notices
    assert not _matches(first["Statement"], "POST", WEBHOOK_PATH, "203.0.113.7")
    assert not _matches(first["Statement"], "POST", ISSUE_BILLING_PATH, PORTONE_NOTICE_ADDRESSES[0])


def test_the_managed_rule_groups_block_as_aws_ships_them(web_acl: dict[str, Any]) -> None:
    managed = {
        r["Statement"]["ManagedRuleGroupStatement"]["Name"]: r
        for r in web_acl["Rules"]
        if "ManagedRuleGroupStatement" in r["Statement"]
    }
    assert set(managed) == {
        "AWSManagedRulesAmazonIpReputationList",
        "AWSManagedRulesAnonymousIpList",
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
    }
    assert all(r["OverrideAction"] == {"None": {}} for r in managed.values())  # not overridden to count
    assert all(r["Statement"]["ManagedRuleGroupStatement"]["VendorName"] == "AWS" for r in managed.values())
    priorities = [r["Priority"] for r in web_acl["Rules"]]
    assert len(set(priorities)) == len(priorities)


def test_card_requests_are_rate_limited_per_viewer_address(
    edge: dict[str, Any], web_acl: dict[str, Any]
) -> None:
    rule = _rule(web_acl, "CardRequestsPerAddress")
    # Blocked with the API's own 429 shape, which the page explains (web/messages.js TOO_MANY_ATTEMPTS)
    for name in ("CardRequestsPerAddress", "RequestsPerAddress"):
        response = _rule(web_acl, name)["Action"]["Block"]["CustomResponse"]
        assert response["ResponseCode"] == 429
        body = web_acl["CustomResponseBodies"][response["CustomResponseBodyKey"]]
        assert body["ContentType"] == "APPLICATION_JSON"
        assert json.loads(body["Content"])["code"] == "TOO_MANY_ATTEMPTS"
        assert _rule(web_acl, name)["Statement"]["RateBasedStatement"]["AggregateKeyType"] == "IP"
    rate = rule["Statement"]["RateBasedStatement"]
    # WAF on CloudFront sees the viewer's own connection: a forwarded header would be the client's to write
    assert rate["AggregateKeyType"] == "IP"
    assert rate["EvaluationWindowSec"] in (60, 120, 300, 600)
    assert rate["Limit"] == {"Ref": "CardRequestsPerAddress"}
    assert edge["Parameters"]["CardRequestsPerAddress"]["MinValue"] >= 10  # WAF's lowest limit
    scope = rate["ScopeDownStatement"]
    for method, path in EXPECTED_ROUTES:
        assert _matches(scope, method, _concrete(path)) == ((method, path) in CARD_ROUTES), path


def test_card_requests_need_the_token_the_page_load_earned(
    edge: dict[str, Any], web_acl: dict[str, Any]
) -> None:
    page_load = _rule(web_acl, "PageLoadChallenge")
    token = _rule(web_acl, "CardRequestsNeedToken")
    assert page_load["Action"] == token["Action"] == {"Challenge": {}}
    assert page_load["Priority"] < token["Priority"]
    # The page load: a GET that accepts HTML (the only kind WAF can challenge)
    get, accept = page_load["Statement"]["AndStatement"]["Statements"]
    assert get["ByteMatchStatement"]["SearchString"] == "GET"
    assert accept["ByteMatchStatement"]["FieldToMatch"] == {"SingleHeader": {"Name": "accept"}}
    assert accept["ByteMatchStatement"]["SearchString"] == "text/html"
    # Every card route, never a preflight or another route
    for method, path in EXPECTED_ROUTES:
        assert _matches(token["Statement"], method, _concrete(path)) == ((method, path) in CARD_ROUTES), path
    assert not _matches(token["Statement"], "OPTIONS", ISSUE_BILLING_PATH)
    # A token lasts while a customer types a card
    immunity = web_acl["ChallengeConfig"]["ImmunityTimeProperty"]["ImmunityTime"]
    assert immunity == {"Ref": "TokenImmunitySeconds"}
    assert edge["Parameters"]["TokenImmunitySeconds"]["MinValue"] >= 300
    assert edge["Parameters"]["TokenImmunitySeconds"]["Default"] >= 900


def test_waf_logs_go_to_a_group_named_as_waf_requires_with_tokens_redacted(edge: dict[str, Any]) -> None:
    group = edge["Resources"]["WafLogGroup"]["Properties"]
    assert group["LogGroupName"] == {"Fn::Sub": "aws-waf-logs-${BillingStackName}"}
    logging = edge["Resources"]["WafLogging"]["Properties"]
    assert logging["ResourceArn"] == {"Fn::GetAtt": ["WebAcl", "Arn"]}
    # The group's ARN without the ":*" its Arn attribute ends in
    assert logging["LogDestinationConfigs"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${WafLogGroup}"}
    ]
    redacted = [f["SingleHeader"]["Name"] for f in logging["RedactedFields"]]
    assert redacted == ["authorization", "cookie", "idempotency-key"]


def test_the_certificate_is_validated_by_dns_in_us_east_1(edge: dict[str, Any]) -> None:
    certificate = edge["Resources"]["Certificate"]
    assert certificate["Condition"] == "HasDomain"
    assert certificate["Properties"]["ValidationMethod"] == "DNS"
    assert edge["Outputs"]["CertificateArn"]["Value"] == {"Ref": "Certificate"}
    assert edge["Outputs"]["WebAclArn"]["Value"] == {"Fn::GetAtt": ["WebAcl", "Arn"]}
