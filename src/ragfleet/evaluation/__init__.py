"""Retrieval evaluation on BEIR-format datasets."""
