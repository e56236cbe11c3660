"""One router per resource; each carries its own ``/v1/<resource>`` prefix (``API_PREFIX``)."""
