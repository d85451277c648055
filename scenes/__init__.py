"""Partner-facing scanning: signed-request auth, the verification endpoint, scene policies."""
