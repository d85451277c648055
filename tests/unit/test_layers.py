"""The layout's one-way dependencies (../shared/ARCHITECTURE.md, issue 14): HTTP packages and the
CLI -> domains -> platform, qr, integrations; between domains service_desk, money, scanning ->
card -> partners -> identity, never back up; qr imports nothing of ours. Every import counts,
including those inside functions."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# A domain may import those of a lower rank only (the three top domains share a rank: the service
# desk reads scanning records and money, but neither of those reads the service desk's tables).
RANK = {"identity": 1, "partners": 2, "outbox": 2, "card": 3, "catalogue": 3, "scanning": 4, "money": 4, "service_desk": 5,
        "oidc": 6, "hub": 6}  # catalogue (issue 23) reads partners; oidc (23) and hub (24) sit above the service desk;
# outbox (issue 22 item 6): the citizens' message outbox that money and the service desk share, over identity
BASE = {"platform", "integrations"}
HTTP = {"scenes", "miniprogram_api", "console"}  # the HTTP packages sit above every domain
# The one shell module a domain may use: the runtime (clock, keys, store, integrations) it is given.
SERVED = {"runtime"}
SHELL = {"__init__", "__main__", "cli", "config", "extensions", "runtime", "server", "startup_checks", "demo", "demo_payments", "keys",
         "migrations", "probes", "sandbox"}  # sandbox: test data over the domains, like demo (issue 20)


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _app_parts(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "app" and len(parts) > 1 else None


def _may_import(owner: str, target: str) -> bool:
    if owner in BASE:
        return target in BASE
    return target in BASE | SERVED or (target in RANK and RANK[target] < RANK[owner])


def _sources(folder: str) -> list[Path]:
    return sorted(path for path in (ROOT / folder).rglob("*.py") if "versions" not in path.parts)


@pytest.mark.parametrize("path", _sources("app"), ids=lambda p: str(p.relative_to(ROOT)))
def test_app_modules_import_only_downwards(path: Path) -> None:
    owner = path.relative_to(ROOT / "app").parts[0].removesuffix(".py")
    if owner in SHELL:
        return
    wrong = {module for module in _imported_modules(path) if module.split(".")[0] in HTTP}  # domain -> HTTP: never
    for module in _imported_modules(path):
        target = _app_parts(module)
        if target is None or target == owner:
            continue
        if not _may_import(owner, target):
            wrong.add(module)
    assert not wrong, f"{path.relative_to(ROOT)} imports upwards: {sorted(wrong)}"


@pytest.mark.parametrize("path", _sources("qr"), ids=lambda p: str(p.relative_to(ROOT)))
def test_qr_is_pure(path: Path) -> None:
    """The code formats are pure Python: no app, Flask or SQLAlchemy."""
    imported = {module.split(".")[0] for module in _imported_modules(path)}
    assert not imported & {"app", "flask", "sqlalchemy", "miniprogram_api", "scenes", "console"}


def test_the_flat_folders_are_gone() -> None:
    assert not (ROOT / "app" / "services").exists()
    assert not (ROOT / "app" / "models").exists()
    assert {p.name for p in (ROOT / "app").iterdir() if (p / "__init__.py").exists()} >= set(RANK) | BASE


@pytest.mark.parametrize("path", sorted((ROOT / "terminal" / "dgc2").glob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_terminal_verifier_stands_alone(path: Path) -> None:
    """dgc2 is the gate vendors' own distribution: the standard library, cryptography, nacl (PyNaCl,
    the Ed25519 checks) and (for SM2) gmssl_pyx only; nothing of the platform, no Flask, no database
    (issue 16)."""
    import sys

    imported = {module.split(".")[0] for module in _imported_modules(path)} - {"", "dgc2", "terminal", "__future__"}
    assert imported <= set(sys.stdlib_module_names) | {"cryptography", "nacl", "gmssl_pyx"}, imported
