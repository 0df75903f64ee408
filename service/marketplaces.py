"""The marketplaces this build serves: the one core module, with the composition root
(service/app.py, cli.py, demo.py), that names them. Adding a marketplace is a package under
``handlers/`` that fills in the port (service/marketplace.py) and one line here."""

from __future__ import annotations

from service.marketplace import Marketplace


def installed() -> tuple[Marketplace, ...]:
    """Every installed marketplace, each serving once it is configured."""
    from handlers.coupang.marketplace import MARKETPLACE as coupang
    from handlers.shopee.marketplace import MARKETPLACE as shopee

    return (shopee, coupang)
