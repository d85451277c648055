"""Plumbing that knows no domain: the clock, encryption and blind indexes, SQL helpers, the
key-value store, group commit, CSV reading, the JSON/HTTP error layer and cursors. Imports no domain."""
