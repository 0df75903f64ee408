"""Shopee Open Platform v2: push signatures and parsing pushes into normalized events."""
