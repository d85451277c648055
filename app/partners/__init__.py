"""The organisations that call us: partners, their kinds, roles, scenes and secrets, their
registered terminals, member rosters, and the nonces of their signed requests (M-11)."""
