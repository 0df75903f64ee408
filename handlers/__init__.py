"""One package per marketplace: signing, parsing into events, API clients, actions."""
