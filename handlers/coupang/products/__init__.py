"""Coupang products: registering them and following their approval.

``calls`` are Coupang's product calls and ``rules`` its documented limits on a body, checked
before any call; ``approval`` registers, follows and moves a product through the listing
machine; ``read`` is what ``GET /v1/products`` and ``orderwatch products list`` show;
``routes`` and ``cli`` are those two doors. Nothing is re-exported here: importing one
module does not load the others (the sandbox needs only ``calls`` and ``rules``).
"""
