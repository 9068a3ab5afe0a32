"""Contract registry: subjects, numbered versions and their compatibility rules.

`hub.registry.compat` is the pure, table-driven JSON Schema compatibility checker (no Flask, no
SQLAlchemy); the registry API and storage build on it.
"""
