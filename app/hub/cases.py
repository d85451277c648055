"""Card-misuse cases and the public credit platform (M-27, M-10(6); docs/data-hub.md "Misuse cases").

An ``investigator`` (staff role) opens a case from a card's open lending flags (app/scanning/lending.py:
physical-card reads, and e-card scans found by :func:`sweep_ecard_lending`), which closes them; then
notifies the holder (SMS), records the holder's statement, and decides: ``dismissed`` (no
violation) or ``decided`` (a violation, with the reason; the holder may appeal within
``CARD_HUB_APPEAL_DAYS``). :func:`finalize_due` makes a decided case ``final`` once the appeal
period passed; an appeal (recorded by the investigator) is upheld (``overturned``) or rejected
(``final``). Only final cases reach the credit platform, in :func:`export_file`: a CSV in the
platform's record shape with the legal basis and the credit-repair date (decision +
``CARD_HUB_CREDIT_REPAIR_DAYS``), whose last line is its HMAC-SHA256 signature
(``CARD_HUB_CREDIT_EXPORT_KEY``); an overturned case that had been exported is sent again as a
``withdraw`` row. Every move is one conditional UPDATE on the case's status; every read of the
holder's data on a case page is in the audit trail (and the holder's access log).
"""
from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select, update

from app.card.devices import send_to_holder
from app.card.models import Card
from app.hub.models import HubCursor, MisuseCase
from app.identity.models import Citizen
from app.identity.people import ID_NUMBER, NAME
from app.integrations.sms import notice
from app.partners.models import Terminal
from app.platform.clock import DISPLAY_ZONE
from app.platform.db import db
from app.platform.errors import AppError
from app.platform.sql import upsert_insert
from app.runtime import Runtime
from app.scanning.lending import great_circle_m, implausible
from app.scanning.models import LendingFlag, Verification
from app.service_desk.audit import StaffActor, record_staff_access

STATEMENT = "misuse_case.statement"
LEGAL_BASIS = "《东莞市民卡管理办法》第二十七条：出借、转借市民卡或者冒用他人市民卡的，纳入公共信用信息平台"
VIOLATION = "出借、转借或冒用市民卡（card lending or use of another person's card）"
NOTICE_KINDS = {"lending": "misuse_case_notice", "concession": "concession_case_notice"}  # SMS templates (app.integrations.sms)
EXPORT_HEADER = ["操作类型 operation", "案件号 case_number", "行政相对人 name", "身份证号 id_number", "违法行为 violation",
                 "处罚依据 legal_basis", "决定日期 decided_on", "信用修复日期 repair_on", "决定机关 authority"]
SIGNATURE_PREFIX = "#signature,HMAC-SHA256,"
AUTHORITY = "东莞市人力资源和社会保障局（市民卡管理机构）"


def require_investigator(actor: StaffActor) -> None:
    """403 ``forbidden`` unless the staff member is an ``investigator``."""
    if actor.role != "investigator":
        raise AppError("forbidden", 403, "misuse cases are for investigators")


def _case(number: str) -> MisuseCase:
    case = db.session.scalar(select(MisuseCase).where(MisuseCase.case_number == number))
    if case is None:
        raise AppError("case_not_found", 404, "no such case")
    return case


def _move(rt: Runtime, number: str, sources: tuple[str, ...], **values: Any) -> MisuseCase:
    """One conditional UPDATE from one of ``sources``; 409 ``illegal_transition`` with the state."""
    moved = db.session.execute(update(MisuseCase).where(MisuseCase.case_number == number, MisuseCase.status.in_(sources))
                               .values(updated_at=rt.clock.now(), **values).returning(MisuseCase.id)).first()
    if moved is None:
        db.session.rollback()
        state = _case(number).status
        raise AppError("illegal_transition", 409, f"not possible in the case's state {state}", {"state": state})
    db.session.commit()
    return _case(number)


def open_case(rt: Runtime, actor: StaffActor, flag_id: int) -> MisuseCase:
    """Open a case on the card of the open flag ``flag_id``, taking every open flag of that card
    (each closed by one conditional UPDATE: two investigators cannot both take one).
    404 ``not_found``; 409 ``flag_taken`` when the flag is no longer open."""
    require_investigator(actor)
    flag = db.session.execute(select(LendingFlag.card_id, LendingFlag.kind).where(LendingFlag.id == flag_id)).first()
    if flag is None:
        raise AppError("flag_not_found", 404, "no such flag")
    card_id = flag.card_id
    now = rt.clock.now()
    taken = db.session.scalars(update(LendingFlag).where(LendingFlag.card_id == card_id, LendingFlag.closed_at.is_(None))
                               .values(closed_at=now).returning(LendingFlag.id)).all()
    if flag_id not in taken:
        db.session.rollback()
        raise AppError("flag_taken", 409, "this flag is already in a case or closed")
    citizen_id = db.session.scalar(select(Card.citizen_id).where(Card.id == card_id))
    case = MisuseCase(case_number="MC" + secrets.token_hex(5).upper(), card_id=card_id, citizen_id=citizen_id,
                      kind="concession" if flag.kind == "concession" else "lending",
                      flag_ids=",".join(map(str, sorted(taken)))[:200], status="open", opened_by=actor.staff_id,
                      opened_at=now, updated_at=now)
    db.session.add(case)
    db.session.commit()
    return case


def notify(rt: Runtime, actor: StaffActor, number: str) -> MisuseCase:
    """Tell the holder by SMS that the case is open (``open`` -> ``notified``). 503
    ``sms_unavailable`` when the gateway did not take it: the case is moved back to ``open``
    (one conditional UPDATE), since the holder was not told."""
    require_investigator(actor)
    case = _move(rt, number, ("open",), status="notified", notified_at=rt.clock.now())
    card = db.session.get(Card, case.card_id)
    assert card is not None
    try:
        send_to_holder(rt, card, notice(NOTICE_KINDS.get(case.kind, "misuse_case_notice"), number))
    except AppError:
        _move(rt, number, ("notified",), status="open", notified_at=None)
        raise
    return case


def record_statement(rt: Runtime, actor: StaffActor, number: str, statement: str) -> MisuseCase:
    """The holder's account, encrypted (``notified`` -> ``answered``)."""
    require_investigator(actor)
    return _move(rt, number, ("notified",), status="answered", statement_enc=rt.keyring.encrypt(statement, STATEMENT))


def decide(rt: Runtime, actor: StaffActor, number: str, violation: bool, reason: str) -> MisuseCase:
    """Decide (``notified``/``answered`` -> ``decided`` or ``dismissed``): a violation sets the
    appeal deadline and the credit-repair date."""
    require_investigator(actor)
    now = rt.clock.now()
    if not violation:
        return _move(rt, number, ("notified", "answered"), status="dismissed", decision_reason=reason, decided_at=now)
    repair = (now + timedelta(days=rt.config["CARD_HUB_CREDIT_REPAIR_DAYS"])).astimezone(DISPLAY_ZONE).date()
    return _move(rt, number, ("notified", "answered"), status="decided", decision_reason=reason, decided_at=now,
                 appeal_until=now + timedelta(days=rt.config["CARD_HUB_APPEAL_DAYS"]), repair_on=repair)


def appeal(rt: Runtime, actor: StaffActor, number: str, grounds: str) -> MisuseCase:
    """Record the holder's appeal (``decided``/``final`` -> ``appealed``)."""
    require_investigator(actor)
    return _move(rt, number, ("decided", "final"), status="appealed", appeal_enc=rt.keyring.encrypt(grounds, STATEMENT))


def decide_appeal(rt: Runtime, actor: StaffActor, number: str, upheld: bool, outcome: str) -> MisuseCase:
    """Upheld: ``overturned`` (an exported record is withdrawn by the next export); rejected: ``final``."""
    require_investigator(actor)
    if upheld:
        return _move(rt, number, ("appealed",), status="overturned", appeal_outcome=outcome)
    return _move(rt, number, ("appealed",), status="final", appeal_outcome=outcome, final_at=rt.clock.now())


def finalize_due(rt: Runtime) -> int:
    """Make final every decided case whose appeal period is over (one UPDATE); returns how many."""
    now = rt.clock.now()
    done = db.session.execute(update(MisuseCase).where(MisuseCase.status == "decided", MisuseCase.appeal_until <= now)
                              .values(status="final", final_at=now, updated_at=now)).rowcount
    db.session.commit()
    return int(done)


# --- the credit platform export --------------------------------------------------------------------


def export_file(rt: Runtime) -> tuple[bytes, int]:
    """The signed export of every final case not yet exported (``publish``) and every overturned
    case that was (``withdraw``); each claimed by a conditional UPDATE so that no case is exported
    twice. Returns the file's bytes and the number of rows. 503 ``credit_export_key_missing``
    (before anything is claimed) when CARD_HUB_CREDIT_EXPORT_KEY is not set."""
    export_key(rt)
    now = rt.clock.now()
    published = db.session.scalars(update(MisuseCase).where(MisuseCase.status == "final", MisuseCase.exported_at.is_(None))
                                   .values(exported_at=now).returning(MisuseCase.id)).all()
    withdrawn = db.session.scalars(update(MisuseCase).where(
        MisuseCase.status == "overturned", MisuseCase.exported_at.is_not(None), MisuseCase.withdrawal_exported_at.is_(None))
        .values(withdrawal_exported_at=now).returning(MisuseCase.id)).all()
    rows = [_row(rt, case_id, "publish") for case_id in published] + [_row(rt, case_id, "withdraw") for case_id in withdrawn]
    db.session.commit()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EXPORT_HEADER)
    writer.writerows(rows)
    body = buffer.getvalue().encode()
    return body + f"{SIGNATURE_PREFIX}{sign_export(rt, body)}\n".encode(), len(rows)


def _row(rt: Runtime, case_id: int, operation: str) -> list[str]:
    case = db.session.get(MisuseCase, case_id)
    citizen = db.session.get(Citizen, case.citizen_id) if case else None
    assert case is not None and citizen is not None and case.decided_at is not None
    decrypt = rt.keyring.decrypt
    return [operation, case.case_number, decrypt(citizen.name_enc, NAME), decrypt(citizen.id_number_enc, ID_NUMBER), VIOLATION,
            LEGAL_BASIS, case.decided_at.astimezone(DISPLAY_ZONE).date().isoformat(),
            case.repair_on.isoformat() if case.repair_on else "", AUTHORITY]


def sign_export(rt: Runtime, body: bytes) -> str:
    """base64(HMAC-SHA256(CARD_HUB_CREDIT_EXPORT_KEY, every byte before the signature line))."""
    return base64.b64encode(hmac.new(export_key(rt), body, hashlib.sha256).digest()).decode()


def export_key(rt: Runtime) -> bytes:
    """CARD_HUB_CREDIT_EXPORT_KEY as bytes; 503 ``credit_export_key_missing`` when unset."""
    if not rt.config.get("CARD_HUB_CREDIT_EXPORT_KEY"):
        raise AppError("credit_export_key_missing", 503, "set CARD_HUB_CREDIT_EXPORT_KEY (agreed with the credit platform)")
    return str(rt.config["CARD_HUB_CREDIT_EXPORT_KEY"]).encode()


# --- reading (console) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseView:
    case: MisuseCase
    card_number: str
    holder_name: str  # masked
    statement: str | None
    appeal: str | None


def case_page(rt: Runtime, actor: StaffActor, number: str) -> CaseView:
    """A case as the investigator sees it; the read of the holder's data is audited first."""
    require_investigator(actor)
    case = _case(number)
    record_staff_access(rt, actor, "view", case.citizen_id, number, ("name", "misuse_case"), "misuse case")
    case = _case(number)
    card = db.session.get(Card, case.card_id)
    citizen = db.session.get(Citizen, case.citizen_id)
    assert card is not None and citizen is not None
    name = rt.keyring.decrypt(citizen.name_enc, NAME)
    decrypt = rt.keyring.decrypt
    return CaseView(case, card.card_number, name[0] + "*" * (len(name) - 1),
                    decrypt(case.statement_enc, STATEMENT) if case.statement_enc else None,
                    decrypt(case.appeal_enc, STATEMENT) if case.appeal_enc else None)


def cases(actor: StaffActor, limit: int = 200) -> list[MisuseCase]:
    """The newest cases (no personal data: numbers and states)."""
    require_investigator(actor)
    return list(db.session.scalars(select(MisuseCase).order_by(MisuseCase.id.desc()).limit(limit)))


def open_flags_for_cases(actor: StaffActor) -> list[Any]:
    """The open lending flags an investigator may open a case from."""
    from app.scanning.lending import open_flags

    require_investigator(actor)
    return open_flags()


# --- e-card scans at distant terminals ---------------------------------------------------------------

def _ecard_scans(since: datetime, until: datetime, window_start: datetime) -> list[Any]:
    """Accepted e-card scans after ``since`` at placed terminals, each with the card's scan before
    it (from ``window_start`` on): one query with LAG over each card's scans."""
    window = {"partition_by": Verification.card_id, "order_by": (Verification.created_at, Verification.id)}
    scans = (select(Verification.id, Verification.card_id, Verification.created_at, Terminal.latitude, Terminal.longitude,
                    func.lag(Verification.id).over(**window).label("prev_id"),
                    func.lag(Verification.created_at).over(**window).label("prev_at"),
                    func.lag(Terminal.latitude).over(**window).label("prev_lat"),
                    func.lag(Terminal.longitude).over(**window).label("prev_lon"))
             .join(Terminal, and_(Terminal.partner_id == Verification.partner_id, Terminal.terminal_id == Verification.terminal_id))
             .where(Verification.accepted.is_(True), Verification.carrier == "ecard", Verification.card_id.is_not(None),
                    Terminal.latitude.is_not(None), Verification.created_at > window_start, Verification.created_at <= until)
             .subquery())
    return list(db.session.execute(select(scans).where(scans.c.created_at > since, scans.c.prev_id.is_not(None))))


SWEEP_CURSOR = "lending:ecard"
SWEEP_SETTLE_SECONDS = 5


def sweep_ecard_lending(rt: Runtime) -> int:
    """Flag e-card scans of one card at two terminals too far apart for the time between them,
    within ``CARD_HUB_ECARD_LENDING_MINUTES`` (the e-card extension of the M-27 signal). The
    window since the last sweep is claimed by one conditional UPDATE of the cursor (two sweeps
    never flag a pair twice). Returns the number of flags made."""
    now = rt.clock.now()
    until = now - timedelta(seconds=SWEEP_SETTLE_SECONDS)
    since = claim_window(until)
    if since is None:
        return 0
    minutes = rt.config["CARD_HUB_ECARD_LENDING_MINUTES"]
    rows = _ecard_scans(since, until, since - timedelta(minutes=minutes))
    made = 0
    for row in rows:
        seconds = (as_aware(row.created_at) - as_aware(row.prev_at)).total_seconds()
        distance = great_circle_m(row.prev_lat, row.prev_lon, row.latitude, row.longitude)
        if seconds <= minutes * 60 and implausible(distance, seconds, rt.config["CARD_LENDING_SPEED_KMH"]):
            db.session.add(LendingFlag(card_id=row.card_id, first_verification_id=row.prev_id, second_verification_id=row.id,
                                       distance_m=round(distance), seconds=round(seconds), created_at=now))
            made += 1
    db.session.commit()
    return made


def as_aware(moment: Any) -> datetime:
    """LAG's value loses the column type on SQLite (a string there)."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def claim_window(until: datetime, name: str = SWEEP_CURSOR) -> datetime | None:
    """Move the sweep cursor ``name`` (Unix microseconds) to ``until``; the previous position
    (an hour before ``until`` the first time), or None when another sweep moved it first."""
    table = HubCursor.__table__
    first = int((until - timedelta(hours=1)).timestamp() * 1_000_000)
    db.session.execute(upsert_insert(db.engine.dialect.name, table).values(name=name, position=first)
                       .on_conflict_do_nothing(index_elements=[table.c.name]))
    old = db.session.scalar(select(HubCursor.position).where(HubCursor.name == name))
    target = int(until.timestamp() * 1_000_000)
    if old is None or old >= target:
        db.session.commit()
        return None
    moved = db.session.execute(update(HubCursor).where(HubCursor.name == name, HubCursor.position == old)
                               .values(position=target)).rowcount
    if not moved:
        db.session.rollback()
        return None
    return datetime.fromtimestamp(old / 1_000_000, UTC)

