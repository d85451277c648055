"""Seeding the benchmark database quickly: PostgreSQL COPY of rows encrypted with the app's keyring.

Citizen ``i`` (id ``i + 1``) has card ``i + 1`` and one device with a known TOTP seed; the
first K citizens also have a bound mini-program account with one live bearer token.
"""
from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import psycopg

from app.identity import idnumber, people
from app.partners.partners import create_partner
from app.partners.terminals import register_terminals
from app.platform.crypto import token_digest
from app.platform.db import db
from app.runtime import EXTENSION_KEY, Runtime
from scenes.registry import SCENE_NAMES

PSEUDONYM_LETTERS = str.maketrans("0123456789", "ABCDEFGHIJ")


def random_seed() -> str:
    """A TOTP seed like ``qr.totp.new_seed`` (32 base32 characters, 160 bits), 100x faster than pyotp's."""
    return base64.b32encode(secrets.token_bytes(20)).decode()


@dataclass(frozen=True)
class Population:
    """What the load needs: (pseudonym, seed) per device, bearer tokens, partner credentials."""

    devices: list[tuple[str, str]]
    tokens: list[str]
    partner_id: str
    partner_secret: str


def seed_population(app, database_url: str, citizens: int, accounts: int) -> Population:  # type: ignore[no-untyped-def]
    """Seed citizens, cards, devices, bound accounts with tokens, and one partner; then settle the database.

    VACUUM ANALYZE and CHECKPOINT now, so autovacuum and checkpoint writes of the bulk load do not
    run during the measurement."""
    rt = app.extensions[EXTENSION_KEY]
    devices = [(f"{i:016d}".translate(PSEUDONYM_LETTERS), random_seed()) for i in range(citizens)]
    tokens = [secrets.token_urlsafe(32) for _ in range(min(accounts, citizens))]
    with psycopg.connect(database_url) as conn:
        copy_people(conn, rt, devices, rt.clock.now())
        copy_accounts(conn, tokens, rt.clock.now())
    with app.app_context():
        partner = create_partner(rt, "Bench Metro", ["transit"], SCENE_NAMES)
        gates = [f"gate-{n}" for n in range(500)] + ["replay-check"]
        register_terminals(rt, partner.partner_id, [(gate, gate, "bench station") for gate in gates])
        db.session.remove()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")
    return Population(devices, tokens, partner.partner_id, partner.secret)


BIRTHS_FROM = date(1940, 1, 1)
BIRTH_DAYS = (date(2010, 1, 1) - BIRTHS_FROM).days  # 25,568 birth dates, 1940-2009
BIRTH_STRIDE = 367  # coprime with BIRTH_DAYS: successive citizens are born about a year apart
SEQUENCES = 1000  # the three-digit sequence of GB 11643
MAX_CITIZENS = BIRTH_DAYS * SEQUENCES  # 25,568,000 distinct numbers


def synthetic_id_number(i: int) -> str:
    """A valid GB 11643 number for citizen ``i`` (0 <= i < MAX_CITIZENS), distinct for every ``i``.

    Region 441900; birth date ``BIRTHS_FROM + (i * BIRTH_STRIDE) % BIRTH_DAYS`` (so even 20 citizens
    span 1940-2009 and the transit scene's concession categories all occur), sequence ``i // BIRTH_DAYS``.
    Distinct by construction: ``i`` is ``sequence * BIRTH_DAYS + i % BIRTH_DAYS``, and multiplying by
    a stride coprime with ``BIRTH_DAYS`` permutes the residues. Raises ``ValueError`` beyond MAX_CITIZENS."""
    if not 0 <= i < MAX_CITIZENS:
        raise ValueError(f"synthetic ID numbers exist for 0 <= i < {MAX_CITIZENS}")
    sequence, day = divmod(i, BIRTH_DAYS)
    born = BIRTHS_FROM + timedelta(days=day * BIRTH_STRIDE % BIRTH_DAYS)
    first17 = f"441900{born:%Y%m%d}{sequence:03d}"
    return first17 + idnumber.check_digit(first17)


def copy_people(conn: psycopg.Connection, rt: Runtime, devices: list[tuple[str, str]], now: datetime) -> None:
    """Citizens (with the real blind index of their ID number, as the start-up checks verify),
    their active cards and one device each, by COPY."""
    keyring = rt.keyring
    copy_rows(conn, "citizens", ("id", "id_number_index", "id_number_enc", "name_enc", "phone_enc", "insured",
                                 "created_at", "updated_at"),
              ((i + 1, people.id_index(rt, number), keyring.encrypt(number, people.ID_NUMBER), keyring.encrypt("测试", people.NAME),
                keyring.encrypt("13800000000", people.PHONE), i % 2 == 0, now, now)
               for i, number in ((i, synthetic_id_number(i)) for i in range(len(devices)))))
    copy_rows(conn, "cards", ("id", "card_number", "citizen_id", "status", "contact_phone_enc", "created_at"),
              ((i + 1, f"9{i:015d}", i + 1, "active", keyring.encrypt("13800000000", people.CONTACT_PHONE), now)
               for i in range(len(devices))))
    copy_rows(conn, "devices", ("card_id", "pseudonym", "seed_enc", "created_at"),
              ((i + 1, pseudonym, keyring.encrypt(seed, people.SEED), now) for i, (pseudonym, seed) in enumerate(devices)))
    set_sequences(conn, ("citizens", "cards"))


def copy_accounts(conn: psycopg.Connection, tokens: list[str], now: datetime) -> None:
    """Account ``i`` bound to citizen ``i + 1``, with the bearer token ``tokens[i]`` (stored as its digest)."""
    copy_rows(conn, "mp_accounts", ("id", "platform", "openid", "citizen_id", "created_at", "last_login_at"),
              ((i + 1, "wechat", f"bench-openid-{i}", i + 1, now, now) for i in range(len(tokens))))
    copy_rows(conn, "auth_tokens", ("digest", "account_id", "created_at", "expires_at"),
              ((token_digest(token), i + 1, now, now + timedelta(days=1)) for i, token in enumerate(tokens)))
    set_sequences(conn, ("mp_accounts",))


def copy_rows(conn: psycopg.Connection, table: str, columns: tuple[str, ...], rows: Iterable[tuple]) -> None:  # type: ignore[type-arg]
    """Stream ``rows`` into ``table`` with one COPY."""
    with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def set_sequences(conn: psycopg.Connection, tables: tuple[str, ...]) -> None:
    """Move each table's id sequence past the ids we inserted explicitly."""
    for table in tables:
        conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT coalesce(max(id), 1) FROM {table}))")
