"""Shopee's error vocabulary: which error names (with their messages) mean what.

:func:`error_kind` sorts an answer's ``error`` into the kinds of :mod:`handlers.errors` that
:mod:`handlers.shopee.client` raises; the names, with their sources, are recorded in
docs/platforms.md. Apart from the client so that the list of names, which grows with each
call orderwatch makes, reads on its own.
"""

from __future__ import annotations

# Shopee's error names, from the error lists of the published API pages
# (tests/conformance/samples/shopee/*.json). Common ones may come prefixed
# ("common.error_auth", "common.invalid_shop"); the part after the last dot is compared.
# Authorization and configuration failures: not worth retrying, someone must act.
# error_permission: "Sorry you don't have the permission" / "Please link shop and partner".
_PARTNER_ERRORS = {
    "error_auth", "error_sign", "invalid_partner_id", "error_partner_key_expired", "error_permission",
}  # fmt: skip
# invalid_acceess_token (sic) is in no published error list (Shopee's lists answer a bad token
# as error_auth "Invalid access_token."): SDKs and integrations report it seen live, so it is
# still recognised. invalid_code is get_access_token's spent or expired authorization code.
_TOKEN_ERRORS = {"invalid_access_token", "invalid_acceess_token", "refresh_token_expired", "invalid_code"}
# shop_banned: "Permissions for shop authorization and API calls have been suspended";
# error_shop "shopid is invalid", common.invalid_shop "Shop id is invalid"; the merchant and
# supplier names are refresh_access_token's for those kinds of account.
_SHOP_ERRORS = {
    "shop_no_linked", "shop_access_expired", "error_shop_refresh_token", "shop_banned", "error_shop",
    "invalid_shop", "invalid_shop_id", "invalid_main_acount_id", "merchant_no_linked",
    "merchant_access_expired", "error_merchant_refresh_token", "supplier_no_linked",
    "supplier_access_expired",
}  # fmt: skip
AUTH_ERRORS = frozenset(_PARTNER_ERRORS | _TOKEN_ERRORS | _SHOP_ERRORS)
# error_param names a wrong parameter, but a wrong partner id is answered as error_param
# "Invalid partner_id." on most pages (invalid_partner_id on get_access_token): a
# configuration failure, not a rejected request.
AUTH_MESSAGES = frozenset({("error_param", "invalid partner_id.")})
# error_limit alone (or common.) is the daily quota; a module's error_limit is that module's
# refusal ("order.error_limit" "Can not cancel this order.", "logistics.error_limit" "Parcel
# count should not exceed limit."), a rejection.
# error_rate_limit is in no published list of the calls orderwatch makes (integrations' notes
# quote it); HTTP 429 is what the client retries on, whatever the name.
RATE_LIMIT_ERRORS = frozenset({"error_rate_limit", "error_limit"})
RETRIED_RATE_LIMIT = frozenset({"error_rate_limit"})  # the daily quota resets at midnight only
_COMMON = ("", "common")
# error_inner: "Inner error, please try later."; error_config (the shipping-document pages):
# "Something is wrong, please try again later."
UNAVAILABLE_ERRORS = frozenset({"error_server", "error_network", "error_inner", "error_config"})


def error_kind(code: str, message: str = "") -> str | None:
    """What a Shopee error name (with its message) is: "auth", "rate_limit", "unavailable",
    or None for a rejected request."""
    module, _, base = code.strip().rpartition(".")
    module, base = module.strip(), base.strip()
    if base in RATE_LIMIT_ERRORS and module in _COMMON:
        return "rate_limit"
    if base in AUTH_ERRORS or (base, message.strip().lower()) in AUTH_MESSAGES:
        return "auth"
    if base in UNAVAILABLE_ERRORS:
        return "unavailable"
    return None


# The error of a batch call whose every entry failed; each entry's fail_error says why.
BATCH_ALL_FAILED = "batch_api_all_failed"
