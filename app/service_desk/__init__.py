"""Customer service (M-14, M-25): complaints and tickets, staff accounts and console sessions,
purpose-bound look-ups of a citizen's data, and the hash-chained audit trail."""
