"""API tokens: parsing, constant-time identification, roles, and what loopback may do."""

from __future__ import annotations

import pytest

from service.auth import Caller, identify, is_loopback, parse_tokens
from service.settings import ConfigurationError

TOKENS = "alice:a-secret:operator,victor:v-secret:viewer"


def test_tokens_parse_into_names_secrets_and_roles_that_never_show() -> None:
    tokens = parse_tokens(TOKENS)
    assert [(t.name, t.role) for t in tokens] == [("alice", "operator"), ("victor", "viewer")]
    assert "a-secret" not in repr(tokens)


@pytest.mark.parametrize(
    "text", ["alice:secret", "alice:secret:admin", ":secret:viewer", "a:b:viewer,broken"]
)
def test_a_malformed_entry_is_a_configuration_error_naming_it(text: str) -> None:
    with pytest.raises(ConfigurationError, match="ORDERWATCH_API_TOKENS entry"):
        parse_tokens(text)


@pytest.mark.parametrize(
    ("header", "caller"),
    [
        ("Bearer a-secret", Caller("alice", "operator")),
        ("Bearer v-secret", Caller("victor", "viewer")),
        ("Bearer v-secret ", Caller("victor", "viewer")),
        ("Bearer a-secreT", None),
        ("Bearer a-secret-and-more", None),
        ("bearer a-secret", None),
        ("a-secret", None),
        ("Bearer ", None),
        (None, None),
    ],
)
def test_only_a_configured_bearer_token_identifies_a_caller(
    header: str | None, caller: Caller | None
) -> None:
    assert identify(parse_tokens(TOKENS), header) == caller


def test_an_operator_may_read_and_a_viewer_may_not_command() -> None:
    assert Caller("alice", "operator").may("viewer") and Caller("alice", "operator").may("operator")
    assert Caller("victor", "viewer").may("viewer") and not Caller("victor", "viewer").may("operator")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("127.8.9.1", True),
        ("10.0.0.1", False),
        ("", False),
        (None, False),
    ],
)
def test_loopback_clients_are_recognised(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback
