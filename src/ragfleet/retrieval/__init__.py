"""Sparse encoding, vector stores, filters and the search service."""
