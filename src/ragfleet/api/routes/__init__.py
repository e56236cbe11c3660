"""One router per resource, mounted under /v1 by ``ragfleet.api.app``."""
