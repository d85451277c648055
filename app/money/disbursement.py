"""Disbursement batches (M-20, M-22): a department (partner role ``disburse``) pays benefits to
citizens' cards.

A batch arrives through ``POST /api/partner/v1/disbursement-batches`` or ``citizencard disburse
import FILE.csv``. Every line is validated (docs/benefits.md lists the reasons); valid lines are
recorded as ``pending`` disbursements to the recipient's financial account, which the holding
bank then credits or returns (app.money.settlement).

Exactly once: the database keeps one batch per (department, batch reference) and one line per
(department, line reference), and lines are inserted with ``INSERT ... ON CONFLICT DO NOTHING``,
so a resubmitted batch, a repeated line or two racing batches never pay twice. Lines already on
record are counted as ``duplicates``.

Fast and lock-light (bench/disbursement_import.py): lines go in chunks of :data:`CHUNK` lines,
each in its own short transaction. Meanwhile a thread parses and checks the next chunk and
resolves all its recipients in two queries on a connection of its own (by blind index, by card
number). On PostgreSQL a chunk of new lines is ``COPY``-ed straight into the table inside a
savepoint; when a line reference is already on record the unique constraint refuses it and the
chunk goes through a temporary staging table and ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``
(SQLite always does). Nothing here writes to, or locks rows of, the tables a verification writes
(cards, verifications).
"""
from __future__ import annotations

import contextlib
import queue
import re
import threading
from collections.abc import Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

import psycopg
from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, any_, literal, select, true
from sqlalchemy.dialects.postgresql import ARRAY

from app.card.models import CARD_CANCELLED, Card
from app.identity import idnumber
from app.identity.models import Citizen
from app.identity.people import id_index
from app.money.models import DISBURSEMENT_PENDING, Disbursement, DisbursementBatch, FinancialAccount
from app.platform.csvfile import column_count_ok, records
from app.platform.db import db
from app.platform.models import UTCDateTime
from app.platform.sql import batched, upsert_insert
from app.runtime import Runtime

T_ = TypeVar("T_")
CHUNK = 5000
REFERENCE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
PERIOD = re.compile(r"(20[0-9]{2}|19[0-9]{2})-(0[1-9]|1[0-2])")
CARD_NUMBER = re.compile(r"[0-9]{16}")
MAX_AMOUNT_FEN = 10_000_000_00  # 10 million yuan: larger is a keying error, not a benefit
LINE_FIELDS = ("line_reference", "id_number", "card_number", "benefit_type", "amount_fen", "period")

#: Why a line is refused (docs/benefits.md). Stable codes.
REASONS = (
    "wrong_column_count", "line_reference_invalid", "duplicate_in_batch", "recipient_missing", "recipient_ambiguous", "id_number_invalid",
    "card_number_invalid", "recipient_unknown", "no_card", "card_cancelled", "no_financial_account", "benefit_type_unknown",
    "amount_not_integer", "amount_not_positive", "amount_too_large", "period_invalid",
)

INSERTED_COLUMNS = ("batch_id", "department_id", "line_reference", "citizen_id", "financial_account_id", "bank_partner_id",
                    "benefit_type", "amount_fen", "period", "status", "posted_at")

_STAGE = Table(  # a per-transaction landing table; its own metadata keeps it out of the schema
    "disbursement_stage", MetaData(),
    Column("batch_id", Integer), Column("department_id", Integer), Column("line_reference", String(64)),
    Column("citizen_id", Integer), Column("financial_account_id", Integer), Column("bank_partner_id", Integer),
    Column("benefit_type", String(32)), Column("amount_fen", BigInteger), Column("period", String(7)),
    Column("status", String(8)), Column("posted_at", UTCDateTime()),
    prefixes=["TEMPORARY"],
)


class LineRejected(ValueError):
    """A line that cannot be paid; the text is one of :data:`REASONS`."""


@dataclass(frozen=True)
class Line:
    """A checked line: ``recipient_key`` is ("id", blind index) or ("card", card number).
    ``id_number`` (ID-number lines) is checked in full only when no citizen has it: every number on
    the roster is valid, so most lines skip the check (docs/benefits.md, Performance)."""

    position: int
    line_reference: str
    recipient_key: tuple[str, str]
    benefit_type: str
    amount_fen: int
    period: str
    id_number: str | None = None


@dataclass
class BatchReport:
    """``accepted``: new pending disbursements; ``duplicates``: lines already on record (never
    paid twice); ``rejected``: (position, line reference or None, reason). The line reference is
    None unless it passed the reference check: an invalid one is the line's content (e.g. a name
    and ID number in a file with shifted columns), never repeated back."""

    batch_reference: str
    accepted: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str | None, str]] = field(default_factory=list)


def submit_batch(rt: Runtime, department_id: int, batch_reference: str,
                 lines: Iterable[tuple[int, Mapping[str, Any] | None]]) -> BatchReport:
    """Validate and record a batch; ``lines`` are (position, fields of :data:`LINE_FIELDS`, or
    None for a CSV row with the wrong number of columns).

    Commits once per chunk of :data:`CHUNK` lines. Raises ValueError for a malformed batch
    reference. The same batch reference may be submitted again (e.g. a large batch in parts):
    lines already on record are ``duplicates``. The batch is recorded with the first line that
    passes every check: a submission whose every line is rejected leaves no batch behind.
    """
    if not REFERENCE.fullmatch(batch_reference):
        raise ValueError("the batch reference must be 1-64 of A-Za-z0-9_.:-")
    report = BatchReport(batch_reference)
    batch_id: int | None = None
    checked = _resolvedbatched(db.engine, batched(_checked_lines(rt, lines, report), CHUNK))
    for chunk, recipients in read_ahead(checked):
        rows = _payable_rows(rt, department_id, chunk, recipients, report)
        if rows:
            batch_id = batch_id or _batch_id(rt, department_id, batch_reference)
            _insert_chunk(batch_id, rows, report)
        db.session.commit()
    report.rejected.sort(key=lambda rejected: rejected[0])
    return report


def _batch_id(rt: Runtime, department_id: int, batch_reference: str) -> int:
    table = DisbursementBatch.__table__
    db.session.execute(upsert_insert(db.engine.dialect.name, table).values(
        department_id=department_id, batch_reference=batch_reference, created_at=rt.clock.now(),
    ).on_conflict_do_nothing(index_elements=[table.c.department_id, table.c.batch_reference]))
    db.session.commit()
    return db.session.scalar(select(DisbursementBatch.id).where(
        DisbursementBatch.department_id == department_id, DisbursementBatch.batch_reference == batch_reference))


def _checked_lines(rt: Runtime, lines: Iterable[tuple[int, Mapping[str, Any] | None]], report: BatchReport) -> Iterator[Line]:
    types = frozenset(rt.config["CARD_BENEFIT_TYPES"])
    seen: set[str] = set()
    for position, fields in lines:
        if fields is None:
            report.rejected.append((position, None, "wrong_column_count"))
            continue
        reference = fields.get("line_reference")
        try:
            line = check_line(rt, position, fields, types)
            if line.line_reference in seen:
                raise LineRejected("duplicate_in_batch")
        except LineRejected as exc:
            report.rejected.append((position, _valid_reference(reference), str(exc)))
            continue
        seen.add(line.line_reference)
        yield line


def _valid_reference(reference: Any) -> str | None:
    """``reference`` when it is a well-formed line reference, else None."""
    return reference if isinstance(reference, str) and REFERENCE.fullmatch(reference) else None


def check_line(rt: Runtime, position: int, fields: Mapping[str, Any], benefit_types: frozenset[str]) -> Line:
    """One line checked on its own (the recipient is resolved later, per chunk); raises LineRejected."""
    reference = fields.get("line_reference")
    if not isinstance(reference, str) or not REFERENCE.fullmatch(reference):
        raise LineRejected("line_reference_invalid")
    recipient, id_number = _recipient_key(rt, _text(fields.get("id_number")), _text(fields.get("card_number")))
    if fields.get("benefit_type") not in benefit_types:
        raise LineRejected("benefit_type_unknown")
    period = fields.get("period")
    if not isinstance(period, str) or not PERIOD.fullmatch(period):
        raise LineRejected("period_invalid")
    return Line(position, reference, recipient, fields["benefit_type"], parse_amount(fields.get("amount_fen")), period, id_number)


def _text(value: Any) -> str | None:
    """Empty CSV cells and JSON nulls are absent."""
    if value is None or value == "":
        return None
    return str(value)


def _recipient_key(rt: Runtime, id_number: str | None, card_number: str | None) -> tuple[tuple[str, str], str | None]:
    """The look-up key, and the normalised ID number (None for a card number)."""
    if id_number is None and card_number is None:
        raise LineRejected("recipient_missing")
    if id_number is not None and card_number is not None:
        raise LineRejected("recipient_ambiguous")
    if card_number is not None:
        if not CARD_NUMBER.fullmatch(card_number):
            raise LineRejected("card_number_invalid")
        return ("card", card_number), None
    number = idnumber.normalize(id_number or "")
    if len(number) != idnumber.LENGTH:
        raise LineRejected("id_number_invalid")
    return ("id", id_index(rt, number)), number


def parse_amount(value: Any) -> int:
    """A positive whole number of fen: a JSON integer or a CSV string of ASCII digits."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 15:
        value = int(value)
    elif isinstance(value, str) and value.isascii() and value.startswith("-") and value[1:].isdigit():
        value = -1
    if isinstance(value, bool) or not isinstance(value, int):
        raise LineRejected("amount_not_integer")
    if value <= 0:
        raise LineRejected("amount_not_positive")
    if value > MAX_AMOUNT_FEN:
        raise LineRejected("amount_too_large")
    return value


def read_ahead(items: Iterable[T_], depth: int = 2) -> Iterator[T_]:
    """Yield ``items`` while a thread already produces the next ones (at most ``depth`` ahead):
    checking a chunk in Python overlaps with the database writing the previous one. An exception
    of the producer is raised here, in the consumer."""
    slots: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                slots.put(("item", item))
            slots.put(("end", None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            slots.put(("error", exc))
        finally:
            if isinstance(items, Generator):
                items.close()  # e.g. gives back the look-up connection at once

    producer = threading.Thread(target=produce, name="read-ahead", daemon=True)
    producer.start()
    try:
        while True:
            kind, value = slots.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        while producer.is_alive():  # unblock a producer waiting on a full queue, then let it end
            with contextlib.suppress(queue.Empty):
                slots.get(timeout=0.05)


@dataclass(frozen=True)
class Recipient:
    citizen_id: int
    card_id: int | None
    card_status: str | None
    account_id: int | None
    bank_id: int | None


def _resolvedbatched(engine: Any, chunks: Iterable[list[Line]]) -> Iterator[tuple[list[Line], dict[tuple[str, str], Recipient]]]:
    """Each chunk with its recipients, looked up on a connection of its own (read only), so that
    this runs in the read-ahead thread while the session writes the previous chunk."""
    with engine.connect() as connection:
        for chunk in chunks:
            recipients = _resolve(connection, chunk)
            connection.rollback()  # hold no snapshot between chunks
            yield chunk, recipients


def _resolve(connection: Any, chunk: list[Line]) -> dict[tuple[str, str], Recipient]:
    """Every recipient of the chunk with their card's status and account, in two queries (by blind
    index, by card number)."""
    indexes = [line.recipient_key[1] for line in chunk if line.recipient_key[0] == "id"]
    numbers = [line.recipient_key[1] for line in chunk if line.recipient_key[0] == "card"]
    columns = (Citizen.id, Card.id, Card.status, FinancialAccount.id, FinancialAccount.bank_partner_id)
    found: dict[tuple[str, str], Recipient] = {}
    if indexes:
        query = (select(Citizen.id_number_index, *columns).outerjoin(Card, Card.citizen_id == Citizen.id)
                 .outerjoin(FinancialAccount, (FinancialAccount.card_id == Card.id) & FinancialAccount.closed_at.is_(None))
                 .where(_one_of(connection, Citizen.id_number_index, indexes)))
        found.update((("id", row[0]), Recipient(*row[1:])) for row in connection.execute(query).all())
    if numbers:
        query = (select(Card.card_number, *columns).join(Citizen, Citizen.id == Card.citizen_id)
                 .outerjoin(FinancialAccount, (FinancialAccount.card_id == Card.id) & FinancialAccount.closed_at.is_(None))
                 .where(_one_of(connection, Card.card_number, numbers)))
        found.update((("card", row[0]), Recipient(*row[1:])) for row in connection.execute(query).all())
    return found


def _one_of(connection: Any, column: Any, values: list[str]) -> Any:
    """``column = ANY(:array)`` on PostgreSQL (one parameter, however many values), else ``IN``."""
    if connection.dialect.name == "postgresql":
        return column == any_(literal(values, ARRAY(String)))
    return column.in_(values)


def _refusal(line: Line, recipient: Recipient | None, today: date) -> str | None:
    if recipient is None:
        return "recipient_unknown" if line.id_number is None or _valid_id_number(line.id_number, today) else "id_number_invalid"
    if recipient.card_id is None:
        return "no_card"
    if recipient.card_status == CARD_CANCELLED:
        return "card_cancelled"
    if recipient.account_id is None:
        return "no_financial_account"
    return None


def _valid_id_number(number: str, today: date) -> bool:
    try:
        idnumber.validate(number, today)
    except idnumber.IdNumberError:
        return False
    return True


def _payable_rows(rt: Runtime, department_id: int, chunk: list[Line], recipients: dict[tuple[str, str], Recipient],
                  report: BatchReport) -> list[tuple[Any, ...]]:
    """The chunk's lines that pass the recipient checks, as rows of :data:`INSERTED_COLUMNS` but
    the batch id; the others go to ``report.rejected``."""
    now = rt.clock.now()
    rows = []
    for line in chunk:
        recipient = recipients.get(line.recipient_key)
        reason = _refusal(line, recipient, now.date())
        if reason is not None or recipient is None:
            report.rejected.append((line.position, line.line_reference, reason or "recipient_unknown"))
            continue
        rows.append((department_id, line.line_reference, recipient.citizen_id, recipient.account_id,
                     recipient.bank_id, line.benefit_type, line.amount_fen, line.period, DISBURSEMENT_PENDING, now))
    return rows


def _insert_chunk(batch_id: int, payable: list[tuple[Any, ...]], report: BatchReport) -> None:
    # By line reference: racing batches take row locks in one order, so never deadlock.
    rows = sorted(((batch_id, *row) for row in payable), key=lambda row: row[2])
    inserted = _insert_new(rows)
    report.accepted += inserted
    report.duplicates += len(rows) - inserted


def _insert_new(rows: list[tuple[Any, ...]]) -> int:
    """Insert the rows whose line reference is new; returns how many were inserted."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql" and _copied_straight(connection, rows):
        return len(rows)
    _STAGE.create(connection)
    _load(connection, "disbursement_stage", rows)
    table = Disbursement.__table__
    statement = upsert_insert(connection.dialect.name, table).from_select(
        INSERTED_COLUMNS, select(*_STAGE.c).where(true()).order_by(_STAGE.c.line_reference),  # WHERE: for SQLite's parser
    ).on_conflict_do_nothing(index_elements=[table.c.department_id, table.c.line_reference])
    inserted = connection.execute(statement.execution_options(preserve_rowcount=True)).rowcount
    _STAGE.drop(connection)
    return inserted


def _copied_straight(connection: Any, rows: list[tuple[Any, ...]]) -> bool:
    """PostgreSQL's fast path for the usual case, a chunk of new lines: ``COPY`` straight into
    ``disbursements`` inside a savepoint. When a line reference is already on record (a
    resubmission, or a racing batch that committed it first), the unique constraint refuses the
    COPY, the savepoint is rolled back and False sends the chunk through the staging table."""
    try:
        with connection.connection.driver_connection.transaction():  # inside the session's transaction: a SAVEPOINT
            _load(connection, "disbursements", rows)
    except psycopg.errors.UniqueViolation:
        return False
    return True


def _load(connection: Any, table: str, rows: list[tuple[Any, ...]]) -> None:
    """PostgreSQL: ``COPY`` the rows into ``table``; SQLite: one executemany into the staging table."""
    if connection.dialect.name == "postgresql":
        driver = connection.connection.driver_connection
        with driver.cursor().copy(f"COPY {table} ({', '.join(INSERTED_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    connection.execute(_STAGE.insert(), [dict(zip(INSERTED_COLUMNS, row, strict=True)) for row in rows])


def read_batch_csv(stream: Iterable[str]) -> Iterator[tuple[int, dict[str, str | None] | None]]:
    """(line number, fields) of a batch CSV whose header is exactly :data:`LINE_FIELDS`; fields
    are None for a row with the wrong number of columns. CsvFileError (app.platform.csvfile) when the file
    as a whole cannot be read."""
    for line, record in records(stream, [LINE_FIELDS], f"the header must be exactly {','.join(LINE_FIELDS)}"):
        yield line, record if column_count_ok(record) else None
