"""Tests that kill mutants `make mutation` found surviving (docs/testing.md lists them)."""
