"""A small corpus about ragfleet itself, indexed by ``ragfleet serve`` on first start."""
