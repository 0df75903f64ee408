"""Coupang Open API: signing, client, order sheets, actions and the sandbox."""
