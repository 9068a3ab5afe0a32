"""Provincial unit adapters: take a unit's events from the hub, forward them to the city system
chosen by the case's city code, and carry the city's progress back to the hub as signed events.

Shared framework: `routing` (city table from configuration), `state` (crash-safe local SQLite),
`issues` (problems reported to the hub), `engine` (the loop), `push` (signed push receiver),
`cli` (the common command line). One package per unit: `hpf`, `medical`, `health`, `community`,
each with a pure `convert` module and a `connector` that speaks the city's transport.
"""
