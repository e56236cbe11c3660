"""ragfleet: retrieval-augmented generation, embedded on a laptop or as services on Kubernetes."""

__version__ = "0.1.0"
