"""Every test file the documentation names exists (a renamed test left docs/partner-api.md naming
tests/e2e/test_sandbox_curl.py): the ``tests/...py`` paths in docs/, README.md and the SDKs' READMEs."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEST_PATH = re.compile(r"\btests/[A-Za-z0-9_/.-]+?\.py\b")


def _documents() -> list[Path]:
    return sorted([*ROOT.glob("docs/**/*.md"), ROOT / "README.md", *ROOT.glob("sdk/*/README.md")])


def test_every_test_file_named_in_the_docs_exists() -> None:
    named = {(doc.relative_to(ROOT).as_posix(), path) for doc in _documents() for path in TEST_PATH.findall(doc.read_text())}
    assert named, "the pattern finds the docs' test paths"
    missing = sorted((doc, path) for doc, path in named if not (ROOT / path).is_file())
    assert not missing, f"documents naming test files that do not exist: {missing}"
