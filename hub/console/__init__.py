"""督查督办: the supervision and operations console, the deadline warnings and the reports."""
