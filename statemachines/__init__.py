"""Pure domain: the order and package machines, status maps, paths and the fold."""
