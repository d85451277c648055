"""The record of every verification (partner, terminal, scene, result, time; never the code), and
the card-lending flags (M-27) raised from those records."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Connection, ForeignKey, Index, String, Text, event, text
from sqlalchemy.orm import Mapped, mapped_column

from app.platform.models import Base
from app.scanning import partitions


class Verification(Base):
    """``card_id`` is set when the code named a known card, accepted or not. ``use_key``
    (device pseudonym and moving factor, never the password) is the durable one-time ledger,
    unique with ``code_step``, the partition key on PostgreSQL (app/scanning/partitions.py: one
    use key always has one code step, so the pair is as unique as the key).

    ``partner_id`` and ``card_id`` carry no foreign key (issue 25): every record is written on
    the scan path, and each key check took a ``FOR KEY SHARE`` lock on the card's and the
    partner's row (one partner row locked by every concurrent batch: multixacts) for ids the
    request had just read; partners and cards are never deleted."""

    __tablename__ = "verifications"
    __table_args__ = (
        Index("uq_verifications_use_key_step", "use_key", "code_step", unique=True),
        Index("ix_verifications_card_created", "card_id", "created_at"),
        Index("ix_verifications_created", "created_at", "id"),  # the audit seal job reads in this order
        {"postgresql_partition_by": "RANGE (code_step)"},  # create_all (tests) as the migration: partitioned
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # The code's 30-s time step (app/scanning/partitions.py): PostgreSQL partitions by it.
    code_step: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    partner_id: Mapped[int]
    terminal_id: Mapped[str] = mapped_column(String(64))
    scene: Mapped[str] = mapped_column(String(32))
    card_id: Mapped[int | None]
    accepted: Mapped[bool]
    reason: Mapped[str | None] = mapped_column(String(32))
    use_key: Mapped[str | None] = mapped_column(String(40))  # accepted uses only: qr-format.md
    disclosed: Mapped[str | None] = mapped_column(String(300))  # the subject's field names, comma-separated
    direction: Mapped[str | None] = mapped_column(String(8))  # transit: entry / exit
    linked_verification_id: Mapped[str | None] = mapped_column(String(32))  # transit: an exit's entry
    carrier: Mapped[str] = mapped_column(String(8), default="ecard", server_default="ecard")  # ecard / physical
    # DGC2 accepted online: SHA-256 (hex) of the code's bytes, so that an upload of another code with
    # the same serial and ctr is told as a clone, not a replay (app/scanning/offline_records.py).
    code_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]


@event.listens_for(Verification.__table__, "after_create")
def _first_partitions(_table: Any, connection: Connection, **_kw: Any) -> None:
    """``create_all`` on PostgreSQL: the default partition and this month's and the next two, as
    the migration makes them (app.scanning.partitions)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"CREATE TABLE {partitions.DEFAULT_PARTITION} PARTITION OF {partitions.TABLE} DEFAULT"))
        partitions.ensure(connection, datetime.now(UTC), 2)


class LendingFlag(Base):
    """M-27: one card verified at two terminals too far apart for the time between the scans
    (``kind`` ``distance``), or a concession card boarding transit at too many gates within a
    short window (``concession``, app/hub/concessions.py: ``scans`` boardings from the first to
    the second verification, ``seconds`` apart, ``distance_m`` the widest span between their
    placed terminals, 0 when fewer than two are placed). A flag never blocks the citizen;
    ``closed_at`` is set once reviewed."""

    __tablename__ = "lending_flags"

    id: Mapped[int] = mapped_column(primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"), index=True)
    first_verification_id: Mapped[str] = mapped_column(String(32))
    second_verification_id: Mapped[str] = mapped_column(String(32))
    distance_m: Mapped[int]
    seconds: Mapped[int]
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    kind: Mapped[str] = mapped_column(String(16), default="distance", server_default="distance")
    scans: Mapped[int | None]


class OfflineRecord(Base):
    """An uploaded offline scan (DGC2, docs/offline-codes.md "Records for upload"): one row per
    (partner, ``record_id``), claimed by one conditional INSERT so a re-upload answers the stored
    result (``duplicate_record``). ``serial``/``ctr``/``code_hash`` (SHA-256 of the code's bytes)
    find replays and clones; ``subject_enc`` is the answer's subject, encrypted (M-19)."""

    __tablename__ = "offline_records"
    __table_args__ = (Index("uq_offline_records_partner_record", "partner_id", "record_id", unique=True),
                      Index("ix_offline_records_serial_ctr", "serial", "ctr"),
                      Index("ix_offline_records_verification", "verification_id"))

    id: Mapped[int] = mapped_column(primary_key=True)  # `citizencard keys reencrypt` moves subject_enc by id
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    record_id: Mapped[str] = mapped_column(String(64))
    terminal_id: Mapped[str] = mapped_column(String(64))
    scene: Mapped[str] = mapped_column(String(32))
    serial: Mapped[str | None] = mapped_column(String(16))
    ctr: Mapped[int | None]
    code_hash: Mapped[str | None] = mapped_column(String(64))
    scanned_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    verification_id: Mapped[str | None] = mapped_column(String(32))
    subject_enc: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class OfflineFinding(Base):
    """What the upload detector found (``GET /api/partner/v1/offline/findings``): ``replay`` (one
    code accepted twice: at two gates, or online and at a gate), ``clone`` (the same serial and
    counter with different bytes: the certificate is revoked), ``revoked_at_scan`` (accepted after
    the revocation; ``lag_seconds`` after it). ``record_ids``: the partner's records, comma-separated."""

    __tablename__ = "offline_findings"
    __table_args__ = (Index("ix_offline_findings_partner", "partner_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    kind: Mapped[str] = mapped_column(String(16))
    serial: Mapped[str] = mapped_column(String(16))
    ctr: Mapped[int]
    record_ids: Mapped[str] = mapped_column(String(200))
    lag_seconds: Mapped[int | None]
    created_at: Mapped[datetime]
