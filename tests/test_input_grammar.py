"""The grammars behind the trust boundary accept what legitimate configuration needs.

The hostile corpus (tests/hostile) shows what is refused; these show the rules are not so
strict that ordinary values fail, and pin a few exact boundaries.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from agentplane.config import untrusted
from agentplane.config.addresses import url_problem
from agentplane.config.base import group_path, name_problem
from agentplane.quantity import parse_quantity


@pytest.mark.parametrize(
    "url",
    [
        "https://otlp.example.com",
        "https://otlp.example.com:4318/v1/traces",
        "http://collector.payments.svc:4317",
        "http://collector.payments.svc.cluster.local:4318",
        "https://1.1.1.1/otlp",
    ],
)
def test_team_endpoints_that_are_accepted(url: str) -> None:
    assert url_problem(url, own_namespace="payments") is None


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://collector.support.svc:4317", "outside the team's own namespace"),
        ("https://192.168.1.10", "private"),
        ("https://100.64.0.1", "private"),  # carrier-grade NAT is not global
        ("https://[fd00::1]", "private"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("https://example.com/a/./b", "'.' or '..'"),
        ("https://example.com:0", "port"),
    ],
)
def test_team_endpoints_that_are_refused(url: str, words: str) -> None:
    problem = url_problem(url, own_namespace="payments")
    assert problem is not None and words in problem
    assert url not in problem  # never quoted: a URL may carry a secret


def test_operator_endpoints_may_be_private_but_never_local_or_metadata() -> None:
    assert url_problem("http://tempo.observability.svc:4318", private_ok=True) is None
    assert url_problem("https://10.1.2.3:4318", private_ok=True) is None
    assert "link-local" in (url_problem("http://169.254.169.254/", private_ok=True) or "")
    assert "loopback" in (url_problem("http://127.0.0.1:4318", private_ok=True) or "")


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("500m", Decimal("0.5")),
        ("4Gi", Decimal(2**32)),
        ("1E", None),
        ("1E3", Decimal(1000)),
        ("8Ei", None),
        ("1e3", Decimal(1000)),
        ("2", Decimal(2)),
    ],
)
def test_quantities(text: str, amount: Decimal | None) -> None:
    if amount is None:
        with pytest.raises(ValueError, match="more than any cluster holds"):
            parse_quantity(text)
    else:
        assert parse_quantity(text) == amount


def test_names_and_group_paths() -> None:
    assert name_problem("payments-admins") is None
    assert name_problem("a" * 63) is None and name_problem("a" * 64) is not None
    for bad in ("Payments", "9lives", "x-", "-x", "a_b", "a.b", "a/b", "système"):
        assert name_problem(bad) is not None, bad
    assert group_path("payments", "payments-admins") == "/payments/payments-admins"


def test_the_alphabet_of_team_files() -> None:
    assert (
        untrusted.scan(
            {"name": "acme", "egress": ["*.stripe.com"], "telemetry": {"endpoint": "https://o.example.com:4318/v1"}}
        )
        == []
    )
    ((field, problem),) = untrusted.scan({"agents": [{"name": "x${y}"}]})
    assert field == "agents[0].name" and "'$'" in problem and "x${y}" not in problem
    ((field, problem),) = untrusted.scan({"owners": ["sk-ant-api03-abcdefghijklmnopqrstuvwx"]})
    assert field == "owners[0]" and "credential" in problem and "abcdefghijklmnop" not in problem
