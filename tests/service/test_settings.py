"""Settings from the environment: the Shopee credentials and push URL."""

from __future__ import annotations

import pytest

from service.settings import ConfigurationError, Secret, Settings


def test_partner_keys_are_comma_separated_secrets_for_rotation() -> None:
    settings = Settings.from_environ(
        {"ORDERWATCH_SHOPEE_PARTNER_KEY": " new-key , old-key,, ", "ORDERWATCH_SHOPEE_PARTNER_ID": "2001234"}
    )
    assert [key.reveal() for key in settings.shopee_partner_keys] == ["new-key", "old-key"]
    assert all(isinstance(key, Secret) for key in settings.shopee_partner_keys)
    assert settings.shopee_partner_id == "2001234"
    assert "new-key" not in repr(settings) and "old-key" not in str(settings.shopee_partner_keys)


def test_unset_means_no_key_no_partner_and_the_request_url() -> None:
    settings = Settings.from_environ({})
    assert settings.shopee_partner_keys == ()
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
