"""Settings from the environment: the Shopee credentials and push URL."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import anyio
import pytest

from handlers.shopee.client import ShopeeClient
from handlers.shopee.sandbox import SandboxClock, create_sandbox
from service.db import Database
from service.marketplace import open_clients
from service.marketplaces import installed
from service.settings import ConfigurationError, Secret, Settings
from tests.live_server import serve


def test_partner_keys_are_comma_separated_secrets_for_rotation() -> None:
    settings = Settings.from_environ(
        {"ORDERWATCH_SHOPEE_PARTNER_KEY": " new-key , old-key,, ", "ORDERWATCH_SHOPEE_PARTNER_ID": "2001234"}
    )
    assert [key.reveal() for key in settings.shopee_partner_keys] == ["new-key", "old-key"]
    assert all(isinstance(key, Secret) for key in settings.shopee_partner_keys)
    assert settings.shopee_partner_id == "2001234"
    assert "new-key" not in repr(settings) and "old-key" not in str(settings.shopee_partner_keys)


def test_the_push_partner_key_has_its_own_setting_and_alone_verifies_pushes() -> None:
    settings = Settings.from_environ(
        {
            "ORDERWATCH_SHOPEE_PARTNER_KEY": "api-key",
            "ORDERWATCH_SHOPEE_PUSH_PARTNER_KEY": " push-new , push-old ",
        }
    )
    assert [key.reveal() for key in settings.shopee_push_keys] == ["push-new", "push-old"]
    assert [key.reveal() for key in settings.shopee_partner_keys] == ["api-key"], "API calls sign with it"
    assert all(isinstance(key, Secret) for key in settings.shopee_push_keys)
    assert "push-new" not in repr(settings) and "push-old" not in str(settings.shopee_push_keys)


def test_without_a_push_partner_key_the_api_partner_keys_verify_pushes() -> None:
    settings = Settings.from_environ({"ORDERWATCH_SHOPEE_PARTNER_KEY": "new-key,old-key"})
    assert settings.shopee_push_partner_keys == ()
    assert [key.reveal() for key in settings.shopee_push_keys] == ["new-key", "old-key"]


def test_a_push_partner_key_is_never_an_api_key() -> None:
    settings = Settings.from_environ({"ORDERWATCH_SHOPEE_PUSH_PARTNER_KEY": "push-key"})
    assert settings.shopee_partner_keys == ()
    assert [key.reveal() for key in settings.shopee_push_keys] == ["push-key"]


def test_unset_means_no_key_no_partner_and_the_request_url() -> None:
    settings = Settings.from_environ({})
    assert settings.shopee_partner_keys == () and settings.shopee_push_keys == ()
    assert settings.shopee_partner_id is None
    assert settings.shopee_push_url is None


def test_the_push_url_is_kept_exactly_as_registered() -> None:
    url = "https://orderwatch.example.com:8443/webhooks/shopee?tenant=a"
    assert Settings.from_environ({"ORDERWATCH_SHOPEE_PUSH_URL": f" {url} "}).shopee_push_url == url


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("ORDERWATCH_SHOPEE_PUSH_URL", "/webhooks/shopee", "ORDERWATCH_SHOPEE_PUSH_URL"),
        ("ORDERWATCH_SHOPEE_PUSH_URL", "ftp://example.com/x", "ORDERWATCH_SHOPEE_PUSH_URL"),
        ("ORDERWATCH_SHOPEE_PARTNER_ID", "partner-7", "ORDERWATCH_SHOPEE_PARTNER_ID"),
    ],
)
def test_an_unusable_value_names_its_variable(name: str, value: str, says: str) -> None:
    with pytest.raises(ConfigurationError, match=says):
        Settings.from_environ({name: value})


def test_outlet_shops_are_outlet_main_pairs() -> None:
    settings = Settings.from_environ({"ORDERWATCH_SHOPEE_OUTLET_SHOPS": " 2001:1000, 2002:1000 ,"})
    assert settings.shopee_outlet_shops == (("2001", "1000"), ("2002", "1000"))


@pytest.mark.parametrize("text", ["2001", "2001:", "abc:1000", "1000:1000", "2001;1000"])
def test_a_malformed_outlet_pair_is_a_configuration_error_naming_the_variable(text: str) -> None:
    with pytest.raises(ConfigurationError, match="ORDERWATCH_SHOPEE_OUTLET_SHOPS"):
        Settings.from_environ({"ORDERWATCH_SHOPEE_OUTLET_SHOPS": text})


@pytest.mark.parametrize("value", ["0", "-5", "often"])
def test_the_reconcile_interval_must_be_a_positive_number(value: str) -> None:
    with pytest.raises(ConfigurationError, match="ORDERWATCH_SHOPEE_RECONCILE_SECONDS"):
        Settings.from_environ({"ORDERWATCH_SHOPEE_RECONCILE_SECONDS": value})


def test_the_api_base_is_shopees_production_host_unless_set() -> None:
    assert Settings.from_environ({}).shopee_api_base == "https://partner.shopeemobile.com"
    local = Settings.from_environ({"ORDERWATCH_SHOPEE_API_BASE": "http://127.0.0.1:9000/"})
    assert local.shopee_api_base == "http://127.0.0.1:9000"
    with pytest.raises(ConfigurationError, match="ORDERWATCH_SHOPEE_API_BASE"):
        Settings.from_environ({"ORDERWATCH_SHOPEE_API_BASE": "partner.shopeemobile.com"})


def test_api_calls_are_signed_with_the_api_partner_key_never_the_push_partner_key(db: Database) -> None:
    sandbox_app = create_sandbox(2001234, "api-key", clock=SandboxClock(int(time.time())))
    sandbox_app.state.sandbox.add_shop(680000123, access_token="token-0001")
    with serve(sandbox_app) as base:
        settings = Settings(
            shopee_partner_id="2001234",
            shopee_partner_keys=(Secret("api-key"),),
            shopee_push_partner_keys=(Secret("push-key"),),
            shopee_api_base=base,
        )

        async def shop_call(settings: Settings) -> dict[str, Any]:
            async with contextlib.AsyncExitStack() as stack:
                found = dict(open_clients(installed(), settings, stack))
                client: ShopeeClient | None = found.get("shopee")
                if client is None:
                    return {}
                await client.get_shop_relation("680000123", "token-0001")
                return found

        assert "shopee" in anyio.run(shop_call, settings), "signed with the API key, which the sandbox checks"
        push_only = Settings(
            shopee_partner_id="2001234", shopee_push_partner_keys=(Secret("push-key"),), shopee_api_base=base
        )
        assert anyio.run(shop_call, push_only) == {}, "no Shopee client without an API partner key"


@pytest.mark.parametrize(
    ("environ", "says"),
    [
        ({"ORDERWATCH_SHOPEE_PARTNER_ID": "2001887"}, "ORDERWATCH_SHOPEE_PARTNER_KEY is not"),
        (
            {"ORDERWATCH_COUPANG_VENDOR_ID": "A00012345"},
            "ORDERWATCH_COUPANG_ACCESS_KEY, ORDERWATCH_COUPANG_SECRET_KEY not set",
        ),
        (
            {"ORDERWATCH_COUPANG_ACCESS_KEY": "ak-half", "ORDERWATCH_COUPANG_SECRET_KEY": "sk-half"},
            "ORDERWATCH_COUPANG_VENDOR_ID not set",
        ),
    ],
)
def test_half_set_marketplace_credentials_are_refused_at_start(environ: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigurationError, match=says) as refused:
        Settings.from_environ(environ)
    assert "ak-half" not in str(refused.value) and "sk-half" not in str(refused.value)


def test_whole_credentials_or_a_push_key_alone_are_fine() -> None:
    assert Settings.from_environ({"ORDERWATCH_SHOPEE_PARTNER_KEY": "k"}).shopee_partner_id is None
    whole = {
        "ORDERWATCH_COUPANG_VENDOR_ID": "A00012345",
        "ORDERWATCH_COUPANG_ACCESS_KEY": "ak",
        "ORDERWATCH_COUPANG_SECRET_KEY": "sk",
    }
    assert Settings.from_environ(whole).coupang_vendor_id == "A00012345"
