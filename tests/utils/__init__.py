"""Factories and helpers shared by the tests."""
