"""Test helpers that drive the HTTP API as a mini-program and a partner terminal would."""
from __future__ import annotations

import io
import json
import re
import secrets
from typing import Any

import pyotp

from app.identity.roster import import_roster
from app.partners.partners import create_partner
from app.partners.terminals import register_terminals
from app.platform.clock import FrozenClock
from app.runtime import EXTENSION_KEY
from scenes.registry import SCENE_NAMES
from scenes.signing import authorization_header
from standins.wechat import WeChatStandIn

PERSON = {"name": "陈小明", "id_number": "441900198506151235", "phone": "13800138000"}
UNINSURED = {"name": "黄嘉怡", "phone": "13800138001"}
VERIFY_PATH = "/api/partner/v1/verifications"
TERMINALS = tuple(f"gate-{n}" for n in range(60)) + ("t1",)


def dispose(app: Any) -> None:
    """End a test app: its session and its connection pool."""
    from app.platform.db import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def roster_text(rows: list[tuple[str, str, str, str]]) -> str:
    return "name,id_number,phone,insured\n" + "".join(",".join(row) + "\n" for row in rows)


class ApiClient:
    """A Flask test client plus the steps of the main story."""

    def __init__(self, app: Any, wechat: WeChatStandIn, clock: FrozenClock) -> None:
        self.app, self.wechat, self.clock = app, wechat, clock
        self.client = app.test_client()

    @property
    def rt(self) -> Any:
        return self.app.extensions[EXTENSION_KEY]

    def import_sample_roster(self) -> Any:
        from importlib import resources

        text = resources.files("app").joinpath("samples/roster.csv").read_text(encoding="utf-8")
        with self.app.app_context():
            return import_roster(self.rt, io.StringIO(text))

    def import_roster(self, text: str) -> Any:
        with self.app.app_context():
            return import_roster(self.rt, io.StringIO(text))

    def login(self, openid: str | None = None) -> str:
        response = self.client.post("/api/mp/v1/auth/wechat", json={"code": self.wechat.issue_code(openid=openid)})
        assert response.status_code == 200, response.json
        return response.json["token"]

    def bearer(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def bind(self, token: str, person: dict[str, str] = PERSON) -> Any:
        return self.client.post("/api/mp/v1/binding", json=person, headers=self.bearer(token))

    def bound_citizen(self, openid: str | None = None) -> str:
        """Import the sample roster, log in and bind the sample person; returns the token."""
        self.import_sample_roster()
        token = self.login(openid)
        assert self.bind(token).status_code == 200
        return token

    def code(self, token: str) -> str:
        response = self.client.get("/api/mp/v1/card/code", headers=self.bearer(token))
        assert response.status_code == 200, response.json
        return response.json["code"]

    def partner(self, scenes: tuple[str, ...] = ("transit",), name: str = "Metro", kind: str = "organisation",
                terminals: tuple[str, ...] = TERMINALS, roles: tuple[str, ...] = ()) -> dict[str, str]:
        """A partner with registered terminals (by default gate-0 ... gate-59 and t1) and ``roles``."""
        with self.app.app_context():
            credentials = create_partner(self.rt, name, scenes, SCENE_NAMES, kind, roles)
            register_terminals(self.rt, credentials.partner_id, [(t, f"Gate {t}", f"{name} hall") for t in terminals])
        return {"partner_id": credentials.partner_id, "secret": credentials.secret}

    def signed_post(self, partner: dict[str, str], body: bytes, path: str = VERIFY_PATH,
                    timestamp: int | None = None, nonce: str | None = None, method: str = "POST") -> Any:
        header = authorization_header(partner["partner_id"], partner["secret"], method, path, body,
                                      int(self.clock.time()) if timestamp is None else timestamp,
                                      nonce or secrets.token_hex(12))
        return self.client.open(path, method=method, data=body,
                                headers={"Authorization": header, "Content-Type": "application/json"})

    def verify(self, partner: dict[str, str], code: str, terminal_id: str = "gate-1", scene: str = "transit",
               **extra: str) -> Any:
        body = json.dumps({"code": code, "scene": scene, "terminal_id": terminal_id, **extra}).encode()
        return self.signed_post(partner, body)


CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
STAFF_PASSWORD = "correct horse battery staple"


def new_staff(app: Any, username: str, role: str, department: str | None = None) -> str:
    """Create a staff account; returns its TOTP seed."""
    from app.service_desk.staff import create_staff

    with app.app_context():
        return create_staff(app.extensions[EXTENSION_KEY], username, role, STAFF_PASSWORD, department).totp_seed


class Console:
    """A browser-like session on the staff console (its own cookie jar), through the test client."""

    def __init__(self, app: Any, clock: FrozenClock) -> None:
        self.app, self.clock = app, clock
        self.client = app.test_client()

    def csrf(self, path: str = "/console/login") -> str:
        page = self.client.get(path)
        match = CSRF_FIELD.search(page.get_data(as_text=True))
        assert match, page.get_data(as_text=True)[:500]
        return match.group(1)

    def login(self, username: str, seed: str, password: str = STAFF_PASSWORD, otp: str | None = None) -> Any:
        self.username, self.seed = username, seed
        code = otp or pyotp.TOTP(seed).at(int(self.clock.time()))
        return self.client.post("/console/login", data={"csrf_token": self.csrf(), "username": username,
                                                        "password": password, "otp": code})

    def login_again(self) -> Any:
        """After the clock moved past the idle timeout (and into a new TOTP step)."""
        return self.login(self.username, self.seed)

    def post(self, path: str, form_page: str = "/console/", **data: str) -> Any:
        return self.client.post(path, data={"csrf_token": self.csrf(form_page), **data})

    def get(self, path: str) -> Any:
        return self.client.get(path)


def verification_row(verification_id: str) -> Any:
    """The verification record of ``verification_id`` (its primary key is (id, code_step): no ``session.get``)."""
    from sqlalchemy import select

    from app.platform.db import db
    from app.scanning.models import Verification

    return db.session.scalars(select(Verification).where(Verification.id == verification_id)).first()
