"""The card and its carriers (M-3): binding (issuing the e-card to a resident on the roster),
devices and seeds, the physical card's life, loss reports, replacement fees (M-24), PINs, the
contact phone, and the partner banks' reports."""
