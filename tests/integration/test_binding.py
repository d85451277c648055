"""Real-name binding against the roster (M-17), and privacy of what is stored (M-19)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, inspect, select, text

from app.card.binding import luhn_check_digit
from app.card.models import Card
from app.identity.models import MpAccount
from app.platform.db import db

from ..helpers import PERSON, ApiClient
from .test_login import error_code


def test_binding_creates_a_card_with_a_random_luhn_number(api: ApiClient) -> None:
    api.import_sample_roster()
    response = api.bind(api.login())
    assert response.status_code == 200
    number = response.json["card_number"]
    assert len(number) == 16 and number.isdigit() and number[-1] == luhn_check_digit(number[:-1])
    assert PERSON["id_number"][6:14] not in number  # nothing derived from the ID number
    assert response.json["insured"] is True


def test_binding_again_from_the_same_account_is_idempotent(api: ApiClient) -> None:
    api.import_sample_roster()
    token = api.login()
    first, second = api.bind(token), api.bind(token)
    assert second.status_code == 200 and second.json == first.json


def test_login_after_binding_says_bound(api: ApiClient) -> None:
    api.bound_citizen(openid="o-bound")
    response = api.client.post("/api/mp/v1/auth/wechat", json={"code": api.wechat.issue_code(openid="o-bound")})
    assert response.json["bound"] is True


def test_a_lowercase_x_and_spaces_in_the_name_are_tolerated(api: ApiClient) -> None:
    api.import_roster("name,id_number,phone,insured\n张伟,44190019731003135X,13800138005,0\n")
    response = api.bind(api.login(), {"name": " 张 伟", "id_number": "44190019731003135x", "phone": "13800138005"})
    assert response.status_code == 200 and response.json["insured"] is False


def test_wrong_name_is_identity_mismatch_without_saying_which_field(api: ApiClient) -> None:
    api.import_sample_roster()
    response = api.bind(api.login(), {**PERSON, "name": "陈大明"})
    assert (response.status_code, error_code(response)) == (422, "identity_mismatch")
    body = response.get_data(as_text=True)
    assert response.json["error"]["message"] == "the name, ID number and phone do not match our records"
    assert set(response.json["error"]["details"]) == {"attempts_left"}
    assert PERSON["id_number"] not in body and "陈小明" not in body


def test_a_phone_that_is_not_the_roster_phone_is_identity_mismatch(api: ApiClient) -> None:
    """A name and an ID number are often known to others: the roster phone is required too."""
    api.import_sample_roster()
    response = api.bind(api.login(), {**PERSON, "phone": "13900000000"})
    assert (response.status_code, error_code(response)) == (422, "identity_mismatch")


def test_probing_whether_an_identity_is_bound_costs_an_attempt(api: ApiClient) -> None:
    api.bound_citizen(openid="o-owner")
    response = api.bind(api.login(openid="o-prober"))
    assert error_code(response) == "already_bound" and response.json["error"]["details"]["attempts_left"] == 4


def _twenty_failures_on_the_id_number(api: ApiClient) -> None:
    for n in range(4):  # 4 throw-away accounts x 5 failures = 20 on one ID number
        token = api.login()
        for attempt in range(5):
            assert error_code(api.bind(token, {**PERSON, "name": f"猜{n}{attempt}"})) == "identity_mismatch"


def test_throw_away_accounts_cannot_lock_the_resident_out(api: ApiClient) -> None:
    """Issue 15 item 9: after 20 attempts on an ID number, the resident steps up to an SMS code
    sent to the roster phone; they are never told to wait an hour."""
    api.import_sample_roster()
    _twenty_failures_on_the_id_number(api)
    resident = api.login()
    stepped_up = api.bind(resident)
    assert (stepped_up.status_code, error_code(stepped_up)) == (403, "sms_code_required")
    phone, text = api.rt.sms.sent[-1]
    assert phone == PERSON["phone"]
    code = next(word for word in text.split() if word.isdigit() and len(word) == 6)
    assert api.rt.sms.messages[-1][1].kind == "binding_code" and api.rt.sms.messages[-1][1].params == (code,)
    bound = api.bind(resident, {**PERSON, "sms_code": code})
    assert bound.status_code == 200, bound.json


def test_after_twenty_attempts_a_guesser_learns_nothing_about_the_identity(api: ApiClient) -> None:
    api.import_sample_roster()
    _twenty_failures_on_the_id_number(api)
    sent = len(api.rt.sms.sent)
    wrong = api.bind(api.login(), {**PERSON, "name": "猜测"})
    assert len(api.rt.sms.sent) == sent  # a wrong guess sends the resident nothing
    right = api.bind(api.login())
    assert len(api.rt.sms.sent) == sent + 1
    assert (wrong.status_code, wrong.json) == (right.status_code, right.json)
    guessed = api.bind(api.login(), {**PERSON, "name": "猜测", "sms_code": "123456"})
    assert (guessed.status_code, error_code(guessed)) == (422, "sms_code_invalid")


def test_a_guesser_cannot_void_the_code_sent_to_the_resident(api: ApiClient) -> None:
    api.import_sample_roster()
    _twenty_failures_on_the_id_number(api)
    resident = api.login()
    assert error_code(api.bind(resident)) == "sms_code_required"
    code = api.rt.sms.sent[-1][1].split()[1]
    for _ in range(3):  # wrong codes from other accounts
        guesser = api.login()
        for guess in ("000000", "111111", "222222", "333333", "444444"):
            assert error_code(api.bind(guesser, {**PERSON, "sms_code": guess})) == "sms_code_invalid"
    assert api.bind(resident, {**PERSON, "sms_code": code}).status_code == 200


def test_wrong_sms_codes_cost_the_guessing_account_its_attempts(api: ApiClient) -> None:
    api.import_sample_roster()
    _twenty_failures_on_the_id_number(api)
    resident = api.login()
    api.bind(resident)
    code = api.rt.sms.sent[-1][1].split()[1]
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(4):
        assert error_code(api.bind(resident, {**PERSON, "sms_code": wrong})) == "sms_code_invalid"
    # the account's own 5 attempts per hour are spent by now: the resident waits, the ID number is not blocked
    assert error_code(api.bind(resident, {**PERSON, "sms_code": code})) == "too_many_attempts"


def test_not_on_the_roster_is_answered_as_identity_mismatch(api: ApiClient) -> None:
    """Telling not_eligible apart would let a caller enumerate the roster (docs/miniprogram-api.md)."""
    api.import_sample_roster()
    response = api.bind(api.login(), {**PERSON, "id_number": "11010519491231002X"})
    mismatch = api.bind(api.login(), {**PERSON, "name": "陈大明"})
    assert (response.status_code, error_code(response)) == (422, "identity_mismatch")
    assert response.json == mismatch.json


def test_concurrent_attempts_from_one_account_are_counted_before_they_are_evaluated(api: ApiClient) -> None:
    api.import_sample_roster()
    token = api.login()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda n: api.bind(token, {**PERSON, "name": f"猜{n}"}), range(32)))
    evaluated = [answer for answer in answers if answer.status_code != 429]
    assert len(evaluated) == 5 and all(error_code(answer) == "identity_mismatch" for answer in evaluated)


def test_a_guessing_address_is_throttled_when_configured(api: ApiClient) -> None:
    api.app.config["CARD_BINDING_ATTEMPTS_PER_ADDRESS"] = 6
    api.import_sample_roster()
    for _ in range(6):
        assert error_code(api.bind(api.login(), {**PERSON, "name": "猜测"})) == "identity_mismatch"
    blocked = api.bind(api.login())
    assert (blocked.status_code, error_code(blocked)) == (429, "too_many_attempts")


def test_a_malformed_id_number_is_a_validation_error(api: ApiClient) -> None:
    api.import_sample_roster()
    response = api.bind(api.login(), {**PERSON, "id_number": "441900198506151234"})
    assert (response.status_code, error_code(response)) == (422, "validation_error")
    assert response.json["error"]["details"]["fields"]["json"]["id_number"] == ["bad_check_digit"]


def test_a_bad_phone_is_a_validation_error(api: ApiClient) -> None:
    api.import_sample_roster()
    response = api.bind(api.login(), {**PERSON, "phone": "12345"})
    assert (response.status_code, error_code(response)) == (422, "validation_error")


def test_an_identity_bound_to_another_account_is_409(api: ApiClient) -> None:
    api.bound_citizen(openid="o-first")
    response = api.bind(api.login(openid="o-second"))
    assert (response.status_code, error_code(response)) == (409, "already_bound")


def test_a_bound_account_cannot_bind_another_identity(api: ApiClient) -> None:
    token = api.bound_citizen()
    other = {"name": "李建国", "id_number": "441900195008281658", "phone": "13800138488"}
    response = api.bind(token, other)
    assert (response.status_code, error_code(response)) == (409, "account_already_bound")


def test_failed_attempts_are_throttled_per_account(api: ApiClient) -> None:
    api.import_sample_roster()
    token, bystander = api.login(), api.login()
    lefts = [api.bind(token, {**PERSON, "name": f"猜{i}"}).json["error"]["details"]["attempts_left"] for i in range(5)]
    assert lefts == [4, 3, 2, 1, 0]
    blocked = api.bind(token)  # even the right answer now waits
    assert (blocked.status_code, error_code(blocked)) == (429, "too_many_attempts")
    assert int(blocked.headers["Retry-After"]) > 0
    assert api.bind(bystander).status_code == 200  # other accounts are not affected


def test_personal_data_is_never_stored_in_plaintext(api: ApiClient) -> None:
    api.bound_citizen()
    with api.app.app_context():
        dump = _all_text(db.session)
    for secret in (PERSON["id_number"], PERSON["name"], PERSON["phone"], "441900198506"):
        assert secret not in dump


def _all_text(session) -> str:  # type: ignore[no-untyped-def]
    inspector = inspect(session.get_bind())
    chunks = []
    for table in inspector.get_table_names():
        if table == "alembic_version":
            continue
        for row in session.execute(text(f"SELECT * FROM {table}")):
            chunks.extend(str(value) for value in row)
    assert chunks, "the database should hold rows"
    return "\n".join(chunks)


def test_accounts_binding_one_identity_at_the_same_moment_get_one_200_and_409s(api: ApiClient) -> None:
    api.import_sample_roster()
    tokens = [api.login() for _ in range(6)]
    with ThreadPoolExecutor(6) as pool:
        statuses = sorted(pool.map(lambda token: api.bind(token).status_code, tokens))
    assert statuses == [200] + [409] * 5
    with api.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Card)) == 1


SECOND = {"name": "李建国", "id_number": "441900195008281658", "phone": "13800138488"}


def test_one_account_binding_two_identities_at_the_same_moment_binds_one(api: ApiClient) -> None:
    api.import_sample_roster()
    token = api.login()
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda person: api.bind(token, person), [PERSON, SECOND]))
    assert sorted(answer.status_code for answer in answers) == [200, 409]
    refused = next(answer for answer in answers if answer.status_code == 409)
    assert error_code(refused) in ("account_already_bound", "already_bound")
    with api.app.app_context():
        bound = db.session.scalars(select(MpAccount.citizen_id).where(MpAccount.citizen_id.is_not(None))).all()
        assert len(bound) == 1 and db.session.scalar(select(func.count()).select_from(Card)) == 1
