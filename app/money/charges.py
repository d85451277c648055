"""Charges on a verification (M-4, M-20, M-23.7; docs/payments.md "For merchants"): a partner
with the ``merchant`` role charges the holder of one of its accepted verifications, and the
platform routes the charge to the bank of the card's financial account (app.money.charge_bank).

Before a charge is recorded, in this order: the idempotency key (a retry answers the first
charge), the verification (the merchant's own, accepted, naming a card, at most
:data:`CHARGE_WINDOW` old, not a relative's code unless the family entry allows charges; an
offline record is named by its ``record_id`` once settled; the HTTP layer reads it from the
scanning domain, app.scanning.charge_targets), the
card's open financial account, the payment deny list (a card owing a declined charge is refused
online), the scene's largest single charge (``CARD_CHARGE_SCENE_LIMITS``), the e-card password
above ``CARD_CHARGE_PASSWORD_FREE_FEN`` (the People's Bank barcode-payment rules: small amounts
password-free, a daily cap), then the card's day total, counted first and decided in the same
conditional statement (``INSERT ... ON CONFLICT DO UPDATE ... WHERE total + amount <= limit``);
on PostgreSQL the writes are one prepared statement (app.money.charge_write).
The charge itself is one ``INSERT ... ON CONFLICT DO NOTHING``: one charge per verification
(unique ``verification_id``) and per (merchant, idempotency key); the loser of a race rolls back
its day count. Every charge writes the ledger entry ``charge`` in the same transaction.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from app.card.models import Card
from app.card.passwords import require_password
from app.money import ledger
from app.money.charge_write import ChargeConflict, charge_params, write_charge
from app.money.fares import Ride, ride_fare
from app.money.models import CHARGE_DEBITED, CHARGE_PENDING, Charge, ChargeDayTotal, FinancialAccount, PaymentNotice
from app.partners.partners import PartnerView
from app.platform.city_time import in_city_time
from app.platform.db import db
from app.platform.errors import AppError
from app.platform.raw_sql import on_postgresql
from app.platform.sql import upsert_insert
from app.runtime import Runtime

CHARGE_WINDOW = timedelta(hours=24)
MAX_AMOUNT_FEN = 999_999_999


@dataclass(frozen=True)
class ChargeRequest:
    """What the merchant asks; ``amount_fen`` None only for a transit exit whose fare the platform
    computes (``fare``, from app.money.fares)."""

    idempotency_key: str
    description: str
    amount_fen: int | None
    password: str | None = None


@dataclass(frozen=True)
class Verified:
    """The merchant's verification to charge, as the scanning domain recorded it (resolved by the
    HTTP layer: money does not read scanning's tables)."""

    verification_id: str
    scene: str
    card_id: int | None
    accepted: bool
    created_at: datetime
    proxy_allowed: bool | None = None  # None: not a relative's code; else the family entry's proxy_charges switch


def create_charge(rt: Runtime, merchant: PartnerView, request: ChargeRequest, verified: Verified | None,
                  ride: Ride | None = None) -> tuple[Any, bool]:
    """Record the charge on ``verified`` (None: no such verification of the merchant's) and commit;
    ``ride`` (a transit exit's, or an unfinished ride's entry) makes the fare when the amount is
    missing (app.money.fares) and is charged once (unique ride entry). Returns (the charge or its row,
    replayed). Errors: 404 ``verification_unknown``,
    403 ``proxy_charge_not_allowed`` (a relative's code, the family entry's switch off),
    409 ``verification_refused``, ``verification_too_old``, ``no_financial_account``,
    ``payment_debt``, ``verification_already_charged``, ``idempotency_key_reused``,
    ``daily_limit_reached``; 422 ``scene_not_chargeable``, ``amount_over_scene_limit``,
    the password's 403 ``password_required``/``password_not_set``, 422
    ``password_wrong``, 429 ``password_locked``."""
    if on_postgresql():
        return _charge_in_one_statement(rt, merchant, request, verified, ride)
    earlier = _by_key(merchant.id, request.idempotency_key)
    if earlier is not None:
        return _replay(earlier, request, verified), True
    verification = _verification(rt, verified)
    payer = _payer(verification.card_id)  # type: ignore[arg-type]
    if payer.account_id is None:
        raise AppError("no_financial_account", 409, "the card has no financial account to charge")
    if payer.in_debt:
        raise AppError("payment_debt", 409, "the card owes a declined charge: the holder must pay it off first")
    amount, how = (request.amount_fen, None) if request.amount_fen is not None else ride_fare(rt, merchant.id, ride)
    _check_scene_limit(rt, verification.scene, amount)
    _check_password(rt, payer, amount, request.password)
    now = rt.clock.now()
    count_day(rt, payer.card_id, city_day(now), amount)
    charge = _insert(merchant.id, request, verification, payer, (amount, how, ride), now)
    if charge is None:  # a racing retry with the same key won
        return _replay(_by_key(merchant.id, request.idempotency_key), request, verified), True
    ledger.append(charge, "charge", f"charge:{charge.id}", now, amount)
    if amount == 0:  # a free ride (a 0 % concession): debited at once, never sent to the bank
        ledger.append(charge, "debit", f"debit:{charge.id}", now, 0)
    if amount >= rt.config["CARD_CHARGE_NOTICE_FEN"]:
        add_notice(rt, charge.id, charge.citizen_id, "large_charge")
    db.session.commit()
    return charge, False


def _charge_in_one_statement(rt: Runtime, merchant: PartnerView, request: ChargeRequest, verified: Verified | None,
                             ride: Ride | None) -> tuple[Any, bool]:
    """:func:`create_charge` on PostgreSQL: the checks that need no write (a refusal first looks
    for the key's earlier charge, which a retry answers), then the one statement of
    app.money.charge_write, which reads the card, its account and debts, counts the day, inserts
    the charge, its ledger entry and notice, and commits."""
    try:
        verification, amount, how = _decide(rt, merchant, request, verified, ride)
    except AppError:
        earlier = _by_key(merchant.id, request.idempotency_key)
        if earlier is None:
            raise
        return _replay(earlier, request, verified), True
    limit = rt.config["CARD_CHARGE_DAILY_LIMIT_FEN"]
    extra = {"description": request.description, "fare": how, "limit": limit,
             "ride_entry_id": ride.entry_verification_id if ride else None, "ride_exit_at": ride.exit_at if ride else None,
             "notice_fen": rt.config["CARD_CHARGE_NOTICE_FEN"]}
    now = rt.clock.now()
    target = (verification.verification_id, verification.scene, verification.card_id)
    try:
        row = write_charge(charge_params(merchant.id, request.idempotency_key, target, amount, city_day(now), extra, now))  # type: ignore[arg-type]
    except ChargeConflict:
        row = None
    if row is None or row.earlier_id is not None:
        earlier = _by_key(merchant.id, request.idempotency_key)
        if earlier is None:
            raise AppError("verification_already_charged", 409, "this verification (or this ride) was already charged")
        return _replay(earlier, request, verified), True
    if row.payer_account_id is None:
        raise AppError("no_financial_account", 409, "the card has no financial account to charge")
    if row.payer_in_debt:
        raise AppError("payment_debt", 409, "the card owes a declined charge: the holder must pay it off first")
    if row.id is None:
        raise AppError("daily_limit_reached", 409, "the card's charges today would pass its daily limit", {"limit_fen": limit})
    return row, False


def _decide(rt: Runtime, merchant: PartnerView, request: ChargeRequest, verified: Verified | None,
            ride: Ride | None) -> tuple[Verified, int, str | None]:
    """The checks before the write, in :func:`create_charge`'s order: the verification, the fare,
    the scene's limit, above the password-free amount the account, the deny list (both checked
    again by the statement) and the password; an amount over the daily limit by itself."""
    verification = _verification(rt, verified)
    amount, how = (request.amount_fen, None) if request.amount_fen is not None else ride_fare(rt, merchant.id, ride)
    _check_scene_limit(rt, verification.scene, amount)
    if amount > rt.config["CARD_CHARGE_PASSWORD_FREE_FEN"]:
        payer = _payer(verification.card_id)  # type: ignore[arg-type]
        if payer.account_id is None:
            raise AppError("no_financial_account", 409, "the card has no financial account to charge")
        if payer.in_debt:
            raise AppError("payment_debt", 409, "the card owes a declined charge: the holder must pay it off first")
        _check_password(rt, payer, amount, request.password)
    limit = rt.config["CARD_CHARGE_DAILY_LIMIT_FEN"]
    if amount > limit:
        raise AppError("daily_limit_reached", 409, "the amount is over the card's daily limit", {"limit_fen": limit})
    return verification, amount, how


@dataclass(frozen=True)
class Payer:
    """The card charged, its open financial account (None: none) and whether it owes a debt."""

    card_id: int
    citizen_id: int
    has_password: bool
    account_id: int | None
    bank_id: int | None
    in_debt: bool


def _payer(card_id: int) -> Payer:
    """One query: the card, its open financial account and the payment deny list (the card's
    ``payment_debt_fen``, kept with the ledger's debt entries: app.money.ledger.append)."""
    row = db.session.execute(
        select(Card.id, Card.citizen_id, Card.password_hash.is_not(None), FinancialAccount.id, FinancialAccount.bank_partner_id,
               Card.payment_debt_fen > 0)
        .outerjoin(FinancialAccount, (FinancialAccount.card_id == Card.id) & FinancialAccount.closed_at.is_(None))
        .where(Card.id == card_id)).one()
    return Payer(*row)


def city_day(instant: datetime) -> date:
    """The city's calendar day (Asia/Shanghai) of ``instant``."""
    return in_city_time(instant).date()


def _by_key(merchant_id: int, key: str) -> Charge | None:
    return db.session.scalar(select(Charge).where(Charge.merchant_partner_id == merchant_id, Charge.idempotency_key == key))


def _replay(earlier: Charge, request: ChargeRequest, verified: Verified | None) -> Charge:
    """A retry answers the first charge; the same key for another verification or amount is 409."""
    same_target = verified is not None and verified.verification_id == earlier.verification_id
    if not same_target or request.amount_fen not in (None, earlier.amount_fen):
        raise AppError("idempotency_key_reused", 409, "this idempotency_key was used for another charge",
                       {"charge_id": earlier.id})
    return earlier


def _verification(rt: Runtime, found: Verified | None) -> Verified:
    if found is None:
        raise AppError("verification_unknown", 404, "no settled verification of yours with this id")
    if not found.accepted or found.card_id is None:
        raise AppError("verification_refused", 409, "the verification was refused: nothing to charge")
    if _utc(found.created_at) < _utc(rt.clock.now() - CHARGE_WINDOW):
        raise AppError("verification_too_old", 409, "charge within 24 hours of the verification")
    if found.proxy_allowed is False:
        raise AppError("proxy_charge_not_allowed", 403, "a relative showed this code and the holder has not allowed "
                       "charges on codes shown for them")
    return found


def _utc(instant: datetime) -> datetime:
    """``instant`` as a naive UTC time (rows read through psycopg are aware in the connection's zone)."""
    return instant.astimezone(UTC).replace(tzinfo=None) if instant.tzinfo else instant


def _check_scene_limit(rt: Runtime, scene: str, amount: int) -> None:
    limits = rt.config["CARD_CHARGE_SCENE_LIMITS"]
    if scene not in limits:
        raise AppError("scene_not_chargeable", 422, "charges are not taken in this scene", {"scene": scene})
    if amount > limits[scene]:
        raise AppError("amount_over_scene_limit", 422, "the amount is over the scene's largest charge",
                       {"scene": scene, "limit_fen": limits[scene]})


def _check_password(rt: Runtime, payer: Payer, amount: int, password: str | None) -> None:
    """Above ``CARD_CHARGE_PASSWORD_FREE_FEN`` the holder types the e-card password (app.card.passwords)."""
    if amount <= rt.config["CARD_CHARGE_PASSWORD_FREE_FEN"]:
        return
    if not payer.has_password:
        raise AppError("password_not_set", 403, "this amount needs the e-card password, which the holder has not set",
                       {"password_free_fen": rt.config["CARD_CHARGE_PASSWORD_FREE_FEN"]})
    if password is None:
        raise AppError("password_required", 403, "this amount needs the holder's e-card password (send it as password)",
                       {"password_free_fen": rt.config["CARD_CHARGE_PASSWORD_FREE_FEN"]})
    require_password(rt, db.session.get(Card, payer.card_id), password)


def count_day(rt: Runtime, card_id: int, day: date, amount: int) -> int:
    """Add ``amount`` to the card's total for ``day`` unless that passes the daily limit, in one
    conditional statement (counted and decided together); returns the new total. 409
    ``daily_limit_reached``. Runs in the caller's transaction (a refused charge rolls it back)."""
    limit = rt.config["CARD_CHARGE_DAILY_LIMIT_FEN"]
    if amount > limit:
        raise AppError("daily_limit_reached", 409, "the amount is over the card's daily limit", {"limit_fen": limit})
    table = ChargeDayTotal.__table__
    total = db.session.execute(upsert_insert(db.engine.dialect.name, table).values(
        card_id=card_id, day=day, total_fen=amount,
    ).on_conflict_do_update(
        index_elements=[table.c.card_id, table.c.day], set_={"total_fen": table.c.total_fen + amount},
        where=table.c.total_fen + amount <= limit,
    ).returning(table.c.total_fen)).scalar()
    if total is None:
        db.session.rollback()
        raise AppError("daily_limit_reached", 409, "the card's charges today would pass its daily limit", {"limit_fen": limit})
    return int(total)


def uncount_day(card_id: int, day: date, amount: int) -> None:
    """Give ``amount`` back to the card's day (a voided charge), in the caller's transaction."""
    table = ChargeDayTotal.__table__
    db.session.execute(table.update().where(table.c.card_id == card_id, table.c.day == day)
                       .values(total_fen=table.c.total_fen - amount))


def _insert(merchant_id: int, request: ChargeRequest, verification: Verified, payer: Payer,
            priced: tuple[int, str | None, Ride | None], now: datetime) -> Any:
    """The new charge's row (all its columns); None when a racing request with the same
    idempotency key recorded it first."""
    amount, fare, ride = priced
    table = Charge.__table__
    row = db.session.execute(upsert_insert(db.engine.dialect.name, table).values(
        merchant_partner_id=merchant_id, idempotency_key=request.idempotency_key, verification_id=verification.verification_id,
        scene=verification.scene, card_id=payer.card_id, citizen_id=payer.citizen_id, financial_account_id=payer.account_id,
        bank_partner_id=payer.bank_id, amount_fen=amount, description=request.description, fare=fare,
        status=CHARGE_DEBITED if amount == 0 else CHARGE_PENDING, settled_at=now if amount == 0 else None,
        declines=0, refunded_fen=0, created_at=now,
        ride_entry_id=ride.entry_verification_id if ride else None, ride_exit_at=ride.exit_at if ride else None,
    ).on_conflict_do_nothing().returning(*table.c)).first()
    if row is None:
        db.session.rollback()  # the day count goes back with it
        if _by_key(merchant_id, request.idempotency_key) is not None:
            return None
        raise AppError("verification_already_charged", 409, "this verification (or this ride) was already charged")
    return row


def add_notice(rt: Runtime, charge_id: int, citizen_id: int, kind: str) -> None:
    """A notice to the holder (once per charge and kind), in the caller's transaction."""
    table = PaymentNotice.__table__
    db.session.execute(upsert_insert(db.engine.dialect.name, table).values(
        charge_id=charge_id, citizen_id=citizen_id, kind=kind, created_at=rt.clock.now(),
    ).on_conflict_do_nothing(index_elements=[table.c.charge_id, table.c.kind]))
