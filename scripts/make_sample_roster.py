"""Generate the synthetic sample rosters in ``app/samples/``.

Deterministic (fixed seed): re-running rewrites byte-identical files.

``roster.csv`` -- 12 valid people, all region 441900 (东莞市). Row 1 is the demo
person 陈小明, 441900 19850615 123 + check digit, insured=1. Two people are
over 65 (born 1950 and 1956). The sequence parity matches the name's sex.

``roster-with-errors.csv`` -- same header; rows in this order:

====  ============================  =========================================
row   content                       expected outcome
====  ============================  =========================================
1     valid                         accepted
2     valid                         accepted
3     wrong check digit             IdNumberError reason ``bad_check_digit``
4     birth date 1992-02-30         IdNumberError reason ``bad_birth_date``
5     province code 99              IdNumberError reason ``bad_region``
6     17-character id number        IdNumberError reason ``wrong_length``
7     same id number as row 1       duplicate (importer-level rejection)
8     empty name, valid id          missing name (importer-level rejection)
9     insured ``yes``, valid id     bad insured flag (importer-level, 0/1 only)
====  ============================  =========================================

Every error row has exactly one problem. All data is synthetic.

Usage: ``.venv/bin/python scripts/make_sample_roster.py``
"""
from __future__ import annotations

import calendar
import csv
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.identity.idnumber import CHECK_MAP, check_digit  # noqa: E402

SAMPLES = ROOT / "app" / "samples"
HEADER = ["name", "id_number", "phone", "insured"]
REGION = "441900"  # 广东省东莞市
SEED = 441900

DEMO = {"name": "陈小明", "birth": "19850615", "seq": "123", "phone": "13800138000", "insured": "1"}

# (name, sex, birth year) for the 11 generated people after the demo person.
PEOPLE = [
    ("李建国", "M", 1950),
    ("林秀英", "F", 1956),
    ("王志强", "M", 1962),
    ("何丽华", "F", 1968),
    ("张伟", "M", 1973),
    ("梁晓燕", "F", 1979),
    ("黄俊杰", "M", 1991),
    ("钟雅婷", "F", 1996),
    ("刘子豪", "M", 2001),
    ("袁欣怡", "F", 2006),
    ("叶思琪", "F", 2010),
]


def make_id(region: str, birth: str, seq: str) -> str:
    """Region (6) + birth YYYYMMDD (8) + sequence (3) + MOD 11-2 check digit."""
    first17 = region + birth + seq
    return first17 + check_digit(first17)


def random_birth(rng: random.Random, year: int) -> str:
    """A seeded real calendar date in ``year`` as YYYYMMDD."""
    month = rng.randint(1, 12)
    day = rng.randint(1, calendar.monthrange(year, month)[1])
    return f"{year:04d}{month:02d}{day:02d}"


def random_seq(rng: random.Random, sex: str) -> str:
    """A 3-digit sequence code whose last digit is odd for M, even for F."""
    seq = rng.randint(1, 499) * 2  # even, 002..998
    return f"{seq - 1 if sex == 'M' else seq:03d}"


def roster_rows(rng: random.Random) -> list[list[str]]:
    """The 12 valid rows of ``roster.csv``, demo person first."""
    rows = [[DEMO["name"], make_id(REGION, DEMO["birth"], DEMO["seq"]), DEMO["phone"], DEMO["insured"]]]
    phones = rng.sample(range(1, 1000), len(PEOPLE))
    for (name, sex, year), phone in zip(PEOPLE, phones, strict=True):
        id_number = make_id(REGION, random_birth(rng, year), random_seq(rng, sex))
        rows.append([name, id_number, f"13800138{phone:03d}", rng.choice("10")])
    return rows


def wrong_check(id_number: str) -> str:
    """The same number with its check character replaced by a different one."""
    right = CHECK_MAP.index(id_number[17])
    return id_number[:17] + CHECK_MAP[(right + 1) % len(CHECK_MAP)]


def error_rows() -> list[list[str]]:
    """The rows of ``roster-with-errors.csv`` (see module docstring)."""
    first = make_id(REGION, "19780304", "246")
    return [
        ["刘美玲", first, "13800138101", "1"],
        ["赵国华", make_id(REGION, "19580921", "135"), "13800138102", "0"],
        ["孙文斌", wrong_check(make_id(REGION, "19900101", "357")), "13800138103", "1"],
        ["周丽娟", make_id(REGION, "19920230", "468"), "13800138104", "0"],
        ["吴海涛", make_id("991900", "19870512", "579"), "13800138105", "1"],
        ["郑小红", make_id(REGION, "19830708", "682")[:17], "13800138106", "0"],
        ["冯志明", first, "13800138107", "1"],
        ["", make_id(REGION, "19941111", "791"), "13800138108", "1"],
        ["蒋丽", make_id(REGION, "19990909", "802"), "13800138109", "yes"],
    ]


def write_csv(path: Path, rows: list[list[str]]) -> None:
    """Write UTF-8 (no BOM), ``\\n`` line endings, header first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows)


def main() -> None:
    """Regenerate both sample files."""
    rows = roster_rows(random.Random(SEED))
    assert {r[3] for r in rows} == {"0", "1"}, "insured must be a mix"
    assert len({r[1] for r in rows}) == len(rows), "id numbers must be unique"
    write_csv(SAMPLES / "roster.csv", rows)
    write_csv(SAMPLES / "roster-with-errors.csv", error_rows())
    print(f"wrote {SAMPLES / 'roster.csv'} and {SAMPLES / 'roster-with-errors.csv'}")


if __name__ == "__main__":
    main()
