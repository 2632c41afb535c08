"""Helpers shared by the tests: plain functions and classes, no fixtures (those are in
tests/conftest.py). Each module is named after what it helps test."""
