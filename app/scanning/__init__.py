"""A scanned code or card read: the decision, the scene policy call, the record, the one-time
ledger and the codes issued against it, guessing throttles, transit pairing, lending signals
(M-27) and the holder's history."""
