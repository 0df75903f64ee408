"""Coupang product bodies for tests: a valid one (after Coupang's own example) to break."""

from __future__ import annotations

from typing import Any


def valid_body(name: str = "테스트 상품 등록 백설 찹쌀 호떡믹스 500g", items: int = 1) -> dict[str, Any]:
    """A product body within every documented limit."""
    return {
        "displayCategoryCode": 81592,
        "sellerProductName": name,
        "vendorId": "A00012345",
        "saleStartedAt": "2026-11-30T00:00:00",
        "saleEndedAt": "2099-01-01T23:59:59",
        "displayProductName": "백설 찹쌀 호떡믹스 500g 2개입",
        "brand": "백설",
        "deliveryMethod": "SEQUENCIAL",
        "deliveryCompanyCode": "KGB",
        "deliveryChargeType": "FREE",
        "deliveryCharge": 0,
        "requested": True,
        "items": [
            {
                "itemName": f"호떡믹스 500g x{n + 1}",
                "originalPrice": 13000,
                "salePrice": 10000,
                "maximumBuyCount": "9999",
                "maximumBuyForPerson": "0",
                "outboundShippingTimeDay": "2",
                "searchTags": ["호떡", "믹스"],
                "images": [
                    {
                        "imageOrder": 0,
                        "imageType": "REPRESENTATION",
                        "vendorPath": "http://img.example.com/a.jpg",
                    },
                    {"imageOrder": 1, "imageType": "DETAIL", "cdnPath": "vendor_inventory/1/b.png"},
                ],
                "attributes": [{"attributeTypeName": "수량", "attributeValueName": f"{n + 1}개"}],
            }
            for n in range(items)
        ],
    }
