"""Stand-in social security card service centre (社会保障卡服务中心), the eighth linked item.

It is registered at runtime (no code in the hub knows it): it receives pushes, verifies the
hub's signature with the key from the hub's JWKS, fetches its payload contract from the hub's
registry to validate what it got, dedupes by event id, and reports progress back signed.
"""
