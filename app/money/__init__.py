"""Benefits paid to the card (M-20 to M-22): financial and medical-insurance accounts,
disbursement batches, bank confirmations and reconciliation, citizens' queries and notices."""
