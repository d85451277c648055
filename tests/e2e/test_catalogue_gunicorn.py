"""Issue 23 part 2 through gunicorn on PostgreSQL + Redis: departments keep their service items
through the signed partner API (role catalogue), every change versioned; citizens search in
Chinese, by scene, department and distance; the open-data export (JSON, CSV); the supervisor's
consistency checks; 32 writers expecting one version: one wins."""
from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from scenes.signing import authorization_header
from standins.wechat import WeChatStandIn

from .. import backends
from ..conftest import APP_SECRET, APPID
from .test_gunicorn import Server

pytestmark = pytest.mark.e2e
BURST = 32


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, wechat: WeChatStandIn, worker_id: str) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("catalogue")
    env = {**os.environ, "CARD_WECHAT_APPID": APPID, "CARD_WECHAT_SECRET": APP_SECRET, "CARD_WECHAT_API_BASE": wechat.base_url,
           "CARD_INSTANCE_PATH": str(tmp), "DATABASE_URL": backends.migrated_postgres(worker_id, "catalogue"),
           "REDIS_URL": backends.redis_url(worker_id), "CARD_SCENES_ENABLED": "government,transit"}
    server = Server(env, tmp / "gunicorn.log", workers=2)
    server.start()
    yield server
    server.stop()


def _partner(srv: Server, name: str, scenes: str, roles: str = "catalogue") -> dict[str, str]:
    made = srv.cli("partner", "create", "--name", name, "--scenes", scenes, "--roles", roles, "--kind", "government", "--json")
    assert made.returncode == 0, made.stderr
    return json.loads(made.stdout)  # type: ignore[no-any-return]


def _signed(srv: Server, partner: dict[str, str], method: str, path: str, body: dict[str, Any] | None = None) -> requests.Response:
    raw = json.dumps(body, ensure_ascii=False).encode() if body is not None else b""
    header = authorization_header(partner["partner_id"], partner["secret"], method, path, raw, int(time.time()), secrets.token_hex(16))
    headers = {"Authorization": header, **({"Content-Type": "application/json"} if body is not None else {})}
    return requests.request(method, srv.base + path, data=raw, headers=headers, timeout=60)


def _item(**changes: Any) -> dict[str, Any]:
    item = {"department": "东莞市人力资源和社会保障局", "title": "社会保障卡申领", "scenes": ["government"],
            "channels": ["window", "online"], "conditions": "本市参保人员，持有效身份证件", "steps": ["提交申请", "审核", "领卡"],
            "time_limit_days": 5, "fee_fen": 0, "locations": [{"name": "东莞市民服务中心", "address": "东莞市南城区鸿福路",
                                                             "latitude": 23.02, "longitude": 113.75}],
            "status": "open", "last_reviewed": "2026-11-01"}
    return {**item, **changes}


def test_departments_keep_their_own_items_versioned(srv: Server) -> None:
    hrss, transport = _partner(srv, "人社局", "government"), _partner(srv, "交通局", "transit")
    created = _signed(srv, hrss, "PUT", "/api/partner/v1/service-items/GD-HRSS-0001", _item())
    assert created.status_code == 200 and created.json() == {"code": "GD-HRSS-0001", "version": 1}, created.text
    changed = _signed(srv, hrss, "PUT", "/api/partner/v1/service-items/GD-HRSS-0001", _item(fee_fen=2000, expected_version=1))
    assert changed.json()["version"] == 2
    stale = _signed(srv, hrss, "PUT", "/api/partner/v1/service-items/GD-HRSS-0001", _item(expected_version=1))
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "version_conflict"
    theirs = _signed(srv, transport, "PUT", "/api/partner/v1/service-items/GD-HRSS-0001", _item(title="冒改"))
    assert theirs.status_code == 403 and theirs.json()["error"]["code"] == "item_not_yours"
    no_role = _partner(srv, "无目录角色", "transit", roles="")
    refused = _signed(srv, no_role, "PUT", "/api/partner/v1/service-items/GD-X-0009", _item())
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "role_required"
    bad_scene = _signed(srv, hrss, "PUT", "/api/partner/v1/service-items/GD-HRSS-0002", _item(scenes=["casino"]))
    assert bad_scene.status_code == 422 and bad_scene.json()["error"]["code"] == "scene_unknown"
    ghost = _signed(srv, hrss, "PUT", "/api/partner/v1/service-items/GD-HRSS-0003",
                    _item(locations=[{"name": "闸机", "address": "某处", "terminal_id": "no-such-gate"}]))
    assert ghost.status_code == 422 and ghost.json()["error"]["code"] == "terminal_unknown"
    versions = _signed(srv, hrss, "GET", "/api/partner/v1/service-items/GD-HRSS-0001/versions").json()["items"]
    assert [(v["version"], v["changed_by"], v["data"]["fee_fen"]) for v in versions] == [
        (1, hrss["partner_id"], 0), (2, hrss["partner_id"], 2000)]
    history = srv.cli("catalogue", "history", "GD-HRSS-0001")
    assert history.returncode == 0 and len(history.stdout.splitlines()) == 2


def test_32_writers_expecting_one_version_one_wins(srv: Server) -> None:
    dept = _partner(srv, "医保局", "government")
    assert _signed(srv, dept, "PUT", "/api/partner/v1/service-items/GD-MI-0001", _item(title="医保关系转移")).status_code == 200
    with ThreadPoolExecutor(BURST) as pool:
        answers = list(pool.map(lambda n: _signed(srv, dept, "PUT", "/api/partner/v1/service-items/GD-MI-0001",
                                                  _item(title=f"医保关系转移 {n}", expected_version=1)), range(BURST)))
    statuses = [answer.status_code for answer in answers]
    assert statuses.count(200) == 1 and statuses.count(409) == BURST - 1, statuses
    with ThreadPoolExecutor(BURST) as pool:
        unconditional = list(pool.map(lambda n: _signed(srv, dept, "PUT", "/api/partner/v1/service-items/GD-MI-0001",
                                                        _item(title=f"医保 {n}")), range(BURST)))
    assert sorted(answer.json()["version"] for answer in unconditional) == list(range(3, 3 + BURST))


def test_citizens_search_in_chinese_by_scene_department_and_distance(srv: Server) -> None:
    dept = _partner(srv, "交通运输局", "transit")
    near_gate = {"name": "东莞西站", "address": "东莞市", "latitude": 23.05, "longitude": 113.70}
    far_gate = {"name": "凤岗", "address": "东莞市凤岗镇", "latitude": 22.75, "longitude": 114.14}
    for code, title, place in (("GD-TR-0001", "公交乘车优惠", far_gate), ("GD-TR-0002", "地铁刷卡乘车", near_gate)):
        answer = _signed(srv, dept, "PUT", f"/api/partner/v1/service-items/{code}",
                         _item(department="东莞市交通运输局", title=title, scenes=["transit"], channels=["terminal"], locations=[place]))
        assert answer.status_code == 200, answer.text
    _signed(srv, dept, "PUT", "/api/partner/v1/service-items/GD-TR-0003", _item(department="东莞市交通运输局", title="乘车 旧卡",
                                                                               scenes=["transit"], status="withdrawn"))
    found = requests.get(srv.base + "/api/mp/v1/services", params={"q": "乘车"}, timeout=30).json()["items"]
    assert {item["code"] for item in found} == {"GD-TR-0001", "GD-TR-0002"}  # withdrawn not shown
    assert requests.get(srv.base + "/api/mp/v1/services", params={"q": "乘车 地铁"}, timeout=30).json()["items"][0]["code"] == "GD-TR-0002"
    by_scene = requests.get(srv.base + "/api/mp/v1/services", params={"scene": "transit"}, timeout=30).json()["items"]
    assert {item["code"] for item in by_scene} == {"GD-TR-0001", "GD-TR-0002"}
    by_dept = requests.get(srv.base + "/api/mp/v1/services", params={"department": "东莞市交通运输局", "near": "23.05,113.70"},
                           timeout=30).json()["items"]
    assert [item["code"] for item in by_dept] == ["GD-TR-0002", "GD-TR-0001"]
    assert by_dept[0]["distance_m"] == 0 and by_dept[1]["distance_m"] > 40_000
    wildcard = requests.get(srv.base + "/api/mp/v1/services", params={"q": "%"}, timeout=30).json()["items"]
    assert wildcard == []
    assert requests.get(srv.base + "/api/mp/v1/services", params={"near": "999,1"}, timeout=30).status_code == 422


def test_open_data_export_json_and_csv(srv: Server) -> None:
    dept = _partner(srv, "文广旅体局", "government")
    _signed(srv, dept, "PUT", "/api/partner/v1/service-items/GD-CT-0001", _item(department="东莞市文广旅体局", title="=HYPERLINK(1)"))
    data = requests.get(srv.base + "/api/mp/v1/services/export", timeout=30).json()["items"]
    assert any(item["code"] == "GD-CT-0001" and item["title"] == "=HYPERLINK(1)" for item in data)
    csv_answer = requests.get(srv.base + "/api/mp/v1/services/export.csv", timeout=30)
    assert csv_answer.headers["Content-Type"].startswith("text/csv")
    lines = csv_answer.content.decode("utf-8").splitlines()
    assert lines[0].startswith("code,department,title") and len(lines) == len(data) + 1
    assert any("'=HYPERLINK(1)" in line for line in lines)  # not a live formula in a spreadsheet


def test_consistency_checks(srv: Server) -> None:
    _partner(srv, "某镇政府", "government", roles="")  # granted a scene, in no item
    keeper = _partner(srv, "政数局", "government,transit")
    for code, scene in (("GD-GOV-0100", "government"), ("GD-GOV-0101", "transit")):
        assert _signed(srv, keeper, "PUT", f"/api/partner/v1/service-items/{code}", _item(scenes=[scene])).status_code == 200
    stale = _partner(srv, "档案馆", "government")
    _signed(srv, stale, "PUT", "/api/partner/v1/service-items/GD-AR-0001", _item(department="东莞市档案馆", title="档案查询",
                                                                               last_reviewed="2024-01-01"))
    result = srv.cli("catalogue", "check", "--json")
    assert result.returncode == 1, result.stderr
    findings = json.loads(result.stdout)
    assert findings["scenes_without_items"] == []  # the two enabled scenes both have an open item
    assert "GD-AR-0001" in findings["items_not_reviewed"]
    partners = {line.split("\t")[-1]: line.split("\t")[0] for line in srv.cli("partner", "list").stdout.splitlines()}
    assert partners["某镇政府"] in findings["partners_without_items"]
    assert partners["档案馆"] not in findings["partners_without_items"]
