"""A charge's write on PostgreSQL in ONE statement, prepared, on the pool's psycopg connection
(issue 22, bench/charges.py; the same raw path as verifications: app.platform.raw_sql).

The unit-of-work path (app.money.charges, kept for SQLite) took about eight round trips: the
idempotency key, the card with its account and debts, the day total, the charge, the ledger
entry, the notice, COMMIT. Here one autocommit statement (one transaction) does all of it, with
every guarantee of that path:

* ``earlier``: the (merchant, idempotency key)'s charge, if any: a retry answers it and counts nothing;
* ``payer``: the card, its open financial account and whether it owes a declined charge (the
  payment deny list: the card's ``payment_debt_fen``, kept by app.money.ledger.append);
* ``counted``: the day total, counted first and decided in the same conditional
  ``INSERT ... ON CONFLICT DO UPDATE ... WHERE total + amount <= limit`` (nothing when the key was
  used, there is no account or the card owes);
* ``charged``: the charge, ``INSERT ... ON CONFLICT DO NOTHING`` (one per verification, per ride
  entry and per (merchant, key)), only from a counted day;
* the ledger entry ``charge`` and, at or above ``CARD_CHARGE_NOTICE_FEN``, the holder's notice, from the
  inserted charge; a charge of 0 fen (a free ride under a 0 % concession) is ``debited`` at once with
  its ``debit`` entry: the bank is never asked to debit nothing.

When the charge's INSERT meets a conflict (a racing request charged the verification or used the
key first) after the day was counted, the statement's last SELECT fails on purpose (a text that is
not an integer, ``charge_conflict:<total>``), so PostgreSQL rolls the whole statement back, the
day count with it: the caller then reads why (a replay, or ``verification_already_charged``).
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row

from app.platform.raw_sql import may_prepare, pooled_psycopg
from app.platform.sql import release_session

CONFLICT_MARK = "charge_conflict"

CHARGE_SQL = f"""
WITH earlier AS (
  SELECT id FROM charges WHERE merchant_partner_id = %(merchant)s AND idempotency_key = %(key)s
), payer AS (
  SELECT c.id AS card_id, c.citizen_id, fa.id AS account_id, fa.bank_partner_id, c.payment_debt_fen > 0 AS in_debt
  FROM cards c LEFT JOIN financial_accounts fa ON fa.card_id = c.id AND fa.closed_at IS NULL
  WHERE c.id = %(card_id)s
), counted AS (
  INSERT INTO charge_day_totals AS t (card_id, day, total_fen)
  SELECT card_id, %(day)s, %(amount)s FROM payer
  WHERE account_id IS NOT NULL AND NOT in_debt AND NOT EXISTS (SELECT 1 FROM earlier)
  ON CONFLICT (card_id, day) DO UPDATE SET total_fen = t.total_fen + EXCLUDED.total_fen
  WHERE t.total_fen + EXCLUDED.total_fen <= %(limit)s
  RETURNING t.total_fen
), charged AS (
  INSERT INTO charges (merchant_partner_id, idempotency_key, verification_id, scene, card_id, citizen_id,
                       financial_account_id, bank_partner_id, amount_fen, description, fare, status, declines,
                       refunded_fen, created_at, ride_entry_id, ride_exit_at, settled_at)
  SELECT %(merchant)s, %(key)s, %(verification_id)s, %(scene)s, p.card_id, p.citizen_id, p.account_id,
         p.bank_partner_id, %(amount)s, %(description)s, %(fare)s,
         CASE WHEN %(amount)s = 0 THEN 'debited' ELSE 'pending' END, 0, 0, %(now)s, %(ride_entry_id)s,
         %(ride_exit_at)s, CASE WHEN %(amount)s = 0 THEN %(now)s END
  FROM payer p, counted
  ON CONFLICT DO NOTHING
  RETURNING *
), entry AS (
  INSERT INTO ledger_entries (event_key, kind, charge_id, merchant_partner_id, bank_partner_id, card_id,
                              amount_fen, merchant_fen, debt_fen, created_at)
  SELECT 'charge:' || id, 'charge', id, merchant_partner_id, bank_partner_id, card_id, amount_fen, 0, 0, created_at
  FROM charged
  UNION ALL  -- a free ride (0 fen): debited at once, never sent to the bank
  SELECT 'debit:' || id, 'debit', id, merchant_partner_id, bank_partner_id, card_id, 0, 0, 0, created_at
  FROM charged WHERE amount_fen = 0
), notice AS (
  INSERT INTO payment_notices (charge_id, citizen_id, kind, created_at)
  SELECT id, citizen_id, 'large_charge', created_at FROM charged WHERE amount_fen >= %(notice_fen)s
)
SELECT (SELECT id FROM earlier) AS earlier_id, p.account_id AS payer_account_id, p.in_debt AS payer_in_debt,
       CASE WHEN c.id IS NULL AND k.total_fen IS NOT NULL
            THEN ('{CONFLICT_MARK}:' || k.total_fen)::int END AS conflict,
       c.*
FROM payer p LEFT JOIN counted k ON true LEFT JOIN charged c ON true
"""


class ChargeConflict(Exception):
    """The charge's INSERT met a racing charge of the same verification, ride or key: nothing was written."""


def write_charge(params: dict[str, Any]) -> Any:
    """Run :data:`CHARGE_SQL` with ``params`` (merchant, key, verification_id, scene, card_id, day,
    amount, limit, description, fare, now, ride_entry_id, ride_exit_at, notice_fen): one
    autocommit statement, prepared. Returns its row: ``earlier_id`` (the key's charge: nothing
    written), ``payer_account_id``/``payer_in_debt``, and the new charge's columns (``id`` None:
    the day's limit refused it, or there was no account or a debt). Raises :class:`ChargeConflict`."""
    release_session()
    with pooled_psycopg() as conn:
        try:
            return conn.cursor(row_factory=namedtuple_row).execute(CHARGE_SQL, params, prepare=may_prepare(conn)).fetchone()
        except psycopg.errors.InvalidTextRepresentation as exc:
            if CONFLICT_MARK in str(exc):
                raise ChargeConflict from exc
            raise


def charge_params(merchant_id: int, key: str, target: tuple[str, str, int], amount: int, day: date,
                  extra: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The statement's parameters: ``target`` is (verification_id, scene, card_id); ``extra`` has
    description, fare, ride_entry_id, ride_exit_at, limit and notice_fen."""
    verification_id, scene, card_id = target
    return {"merchant": merchant_id, "key": key, "verification_id": verification_id, "scene": scene, "card_id": card_id,
            "amount": amount, "day": day, "now": now, **extra}
