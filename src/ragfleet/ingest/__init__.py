"""Parsing, chunking and the indexing pipeline."""
