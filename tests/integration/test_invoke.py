"""`make invoke`: the Docker-free `sam local invoke`, run as a user would, on the embedded default."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from local.template import ROOT


def run_invoke(
    event: str, env_file: str = "env", before: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PORTONE_"))}
    command = [sys.executable, "-m", "local.invoke", "--event", f"events/{event}.json"]
    command += [arg for name in before for arg in ("--before", f"events/{name}.json")]
    return subprocess.run(
        [*command, "--env-vars", f"events/{env_file}.json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_sample_event_prints_a_success_with_only_the_last_four_digits() -> None:
    result = run_invoke("issue_billing")

    assert result.returncode == 0, result.stderr[-2000:]
    response = json.loads(result.stdout)
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body["status"] == "success"
    assert body["card"]["last4"] == "0001"
    for text in (result.stdout, result.stderr):
        assert "9540490000000001" not in text.replace("-", "")
    assert '"message":"billing key issued"' in result.stderr  # logs go to stderr, as with sam local


@pytest.mark.parametrize(("event", "status"), [("invalid_expiry", 400), ("issue_billing_declined", 402)])
def test_other_events_print_their_error_response(event: str, status: int) -> None:
    result = run_invoke(event)
    assert result.returncode == 0
    assert json.loads(result.stdout)["statusCode"] == status


WITH_SUBSCRIPTION = ("schedule_plan_with_card",)


@pytest.mark.parametrize(
    ("event", "env_file", "before", "status"),
    [
        ("list_plans", "env", (), 200),
        ("schedule_plan_with_card", "env", (), 200),
        ("invalid_schedule_client_amount", "env", (), 400),
        ("portone_notice", "env", (), 200),
        ("portone_notice_form", "env", (), 200),
        ("view_subscription", "env", (), 404),  # anonymous callers never read a subscription
        ("view_subscription", "env.signed_in", WITH_SUBSCRIPTION, 200),
        ("list_billing_keys", "env", (), 200),  # an anonymous caller has none: an empty list
        ("list_billing_keys", "env.signed_in", WITH_SUBSCRIPTION, 200),
        ("schedule_plan", "env.signed_in", WITH_SUBSCRIPTION, 200),
        ("revoke_payment", "env.signed_in", WITH_SUBSCRIPTION, 404),  # its merchant_uid is not pending
        ("cancel_subscription", "env.signed_in", WITH_SUBSCRIPTION, 200),
        ("erase_customer", "env", (), 404),  # anonymous callers never erase anybody
        ("erase_customer", "env.signed_in", WITH_SUBSCRIPTION, 200),
        ("change_card", "env", (), 404),  # anonymous callers never change a subscription
        ("change_card", "env.signed_in", WITH_SUBSCRIPTION, 200),
        ("price_consent", "env.signed_in", WITH_SUBSCRIPTION, 409),  # no price change awaits consent
    ],
)
def test_each_subscription_event_gives_its_answer(event: str, env_file: str, before, status: int) -> None:
    result = run_invoke(event, env_file, before)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["statusCode"] == status


def test_the_smoke_check_event_runs_the_smoke_check() -> None:
    result = run_invoke("smoke_check")
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout) == {"status": "success"}


def test_the_change_price_event_waits_for_the_reconcilers_first_run() -> None:
    # On a fresh stack the reconciler has not yet given older subscriptions their price: refused, then done
    refused = run_invoke("change_price")
    assert refused.returncode == 0, refused.stderr[-2000:]
    assert json.loads(refused.stdout)["code"] == "UPGRADE_IN_PROGRESS"
    done = run_invoke("change_price", before=("reconcile",))
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == {
        "status": "success",
        "moved": 0,
        "unchanged": 0,
        "complete": True,
        "cursor": None,
    }


def test_the_reconcile_event_runs_the_reconciler() -> None:
    # On a fresh embedded stack nothing is due: the run finds no work and completes
    result = run_invoke("reconcile")
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout) == {"status": "success", "processed": 0, "complete": True}
