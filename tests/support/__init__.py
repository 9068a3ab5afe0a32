"""Helpers shared by every test layer (conftest.py only holds fixtures)."""
