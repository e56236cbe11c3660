"""The ``ragfleet`` command line."""
