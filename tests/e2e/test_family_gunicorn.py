"""Issue 18's "done when" through gunicorn on PostgreSQL + Redis: an adult member with consent, a
child, the quotas under 32 simultaneous requests, a relative's code accepted in transit and
refused at a government window, the member's history, removal ending the codes at once, and a
printed code accepted offline and online, revoked, refused online at once and offline from the
next deny list."""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from qr import offline
from standins.wechat import WeChatStandIn

from ..integration.test_family import CHILD, ELDERS, GRANDMA, GUARDIAN, GUARDIANS, SPOUSE, openid
from .test_gunicorn import Server
from .test_offline_gunicorn import P, Partner, pg_server  # noqa: F401 (the fixture)

pytestmark = pytest.mark.e2e
FAMILY = "/api/mp/v1/family-members"
BURST = 32


def _setup_partners(server: Server, tmp: Path) -> tuple[Partner, Partner]:
    roster = tmp / "family-roster.csv"
    people = [GUARDIAN, SPOUSE, GRANDMA, CHILD, *ELDERS[:BURST], *GUARDIANS[:BURST]]
    roster.write_text("name,id_number,phone,insured\n" + "".join(f"{p['name']},{p['id_number']},{p['phone']},1\n" for p in people),
                      encoding="utf-8")
    assert server.cli("roster", "import", str(roster)).returncode == 0
    gates = tmp / "gates.csv"
    gates.write_text("terminal_id,name,location\n" + "".join(f"gate-{n},Gate {n},Hall\n" for n in range(10)), encoding="utf-8")
    partners = []
    for args in (("--name", "Metro", "--scenes", "transit"), ("--name", "Tax", "--scenes", "government", "--kind", "government")):
        credentials = json.loads(server.cli("partner", "create", *args, "--json").stdout)
        assert server.cli("partner", "terminal", "import", credentials["partner_id"], str(gates)).returncode == 0
        partners.append(Partner(server, credentials))
    return partners[0], partners[1]


def _bound(server: Server, wechat: WeChatStandIn, who: dict[str, str]) -> dict[str, str]:
    answer = requests.post(server.base + "/api/mp/v1/auth/wechat", json={"code": wechat.issue_code(openid=openid(who))}, timeout=30)
    assert answer.status_code == 200, answer.text
    bearer = {"Authorization": f"Bearer {answer.json()['token']}"}
    assert requests.post(server.base + "/api/mp/v1/binding", json=who, headers=bearer, timeout=60).status_code == 200
    return bearer


def _add(server: Server, bearer: dict[str, str], who: dict[str, str], relation: str) -> requests.Response:
    return requests.post(server.base + FAMILY, headers=bearer, timeout=60,
                         json={"name": who["name"], "id_number": who["id_number"], "relation": relation})


def _verify(partner: Partner, code: str, scene: str = "transit", terminal: str = "gate-1") -> dict:
    body = json.dumps({"code": code, "scene": scene, "terminal_id": terminal}).encode()
    answer = partner.request("POST", f"{P}/verifications", body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_family_members_relatives_codes_and_printed_codes_through_gunicorn(
        pg_server: Server, wechat: WeChatStandIn, tmp_path: Path) -> None:  # noqa: F811
    server = pg_server
    metro, tax = _setup_partners(server, tmp_path)
    son, mother = _bound(server, wechat, GUARDIAN), _bound(server, wechat, GRANDMA)
    get = lambda path, who: requests.get(server.base + path, headers=who, timeout=60)  # noqa: E731

    entry = _add(server, son, GRANDMA, "parent").json()
    assert entry["status"] == "pending" and GRANDMA["id_number"] not in json.dumps(entry)
    assert get(f"{FAMILY}/{entry['id']}/code", son).json()["error"]["code"] == "family_member_pending"
    confirmation = f"{server.base}{FAMILY}/{entry['id']}/confirmation"
    refused = requests.post(confirmation, headers=mother, json={}, timeout=60)
    assert refused.json()["error"]["code"] == "real_person_required"  # WeChat face checks are configured
    face = wechat.issue_face_result(openid(GRANDMA), GRANDMA["name"], GRANDMA["id_number"])
    confirmed = requests.post(confirmation, headers=mother, json={"real_person_token": face}, timeout=60)
    assert confirmed.json()["status"] == "active" and confirmed.json()["confirmed_assurance"] == "real_person"
    logged = [(item["role"], item["action"]) for item in get("/api/mp/v1/me/access-log", mother).json()["items"]]
    assert logged == [("self", "family_confirm"), ("relative", "family_add")]
    accepted = _verify(metro, get(f"{FAMILY}/{entry['id']}/code", son).json()["code"])
    assert accepted["accepted"] and accepted["subject"]["proxy"] is True and accepted["subject"]["relation"] == "parent"
    refused = _verify(tax, get(f"{FAMILY}/{entry['id']}/code", son).json()["code"], "government")
    assert refused["accepted"] is False and refused["reason"] == "proxy_not_accepted"
    history = get("/api/mp/v1/card/verifications", mother).json()["items"]
    assert sorted(str(item["shown_by"]) for item in history) == ["None", "relative (parent)"]

    child = _add(server, son, CHILD, "child").json()
    assert child["status"] == "active" and child["minor"] is True

    guardians = [_bound(server, wechat, g) for g in GUARDIANS[:BURST]]
    with ThreadPoolExecutor(BURST) as pool:
        statuses = sorted(pool.map(lambda g: _add(server, g, SPOUSE, "spouse").status_code, guardians))
    assert statuses == [201] * 2 + [409] * (BURST - 2)  # a member on at most 2 lists
    with ThreadPoolExecutor(BURST) as pool:
        statuses = list(pool.map(lambda e: _add(server, son, e, "grandparent").status_code, ELDERS[:BURST]))
    # the son already has 1 elder: 3 more fit; 8 of his 10 additions an hour are left (2 used), counted first
    assert statuses.count(201) == 3 and statuses.count(409) == 5 and statuses.count(429) == BURST - 8

    code = get(f"{FAMILY}/{entry['id']}/code", son).json()["code"]
    assert requests.delete(f"{server.base}{FAMILY}/{entry['id']}", headers=mother, timeout=60).status_code == 204
    assert _verify(metro, code, terminal="gate-2")["reason"] == "code_invalid"  # at once

    issued = requests.post(f"{server.base}{FAMILY}/{child['id']}/printed-codes", headers=son, timeout=60,
                           json={"scenes": ["transit"], "days": 180})
    assert issued.status_code == 201, issued.text
    printed = issued.json()["code"]
    assert _verify(metro, printed, terminal="gate-3")["accepted"] is True
    root = offline.read_root_key(json.loads(server.cli("offline", "root-key").stdout))
    trust = offline.read_trust_list(metro.request("GET", f"{P}/offline/trust-list").content, root)

    def deny() -> offline.DenyList:
        return offline.read_deny_list(metro.request("GET", f"{P}/offline/deny-list").content, trust.deny_list_key)

    assert offline.printed.check(printed, trust, deny(), "transit", int(time.time())).accepted
    pdf = get(f"{FAMILY}/{child['id']}/printed-code.pdf", son)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert requests.delete(f"{server.base}{FAMILY}/{child['id']}/printed-codes", headers=son, timeout=60).status_code == 204
    time.sleep(1.1)
    assert _verify(metro, printed, terminal="gate-4")["reason"] == "card_inactive"  # online: at once
    deadline = time.time() + 30
    while offline.printed.check(printed, trust, deny(), "transit", int(time.time())).accepted and time.time() < deadline:
        time.sleep(1)  # the next deny-list version (at most DENY_MIN_INTERVAL s after the last)
    assert offline.printed.check(printed, trust, deny(), "transit", int(time.time())).reason == "card_inactive"

    server.stop()
    log = server.log_path.read_text()
    for private in (GRANDMA["id_number"], CHILD["id_number"], GRANDMA["name"], printed, code):
        assert private not in log
