"""moatd's operator endpoints over HTTP (docs/running.md, "Health and metrics over HTTP"), read
as Prometheus and Kubernetes read them: /metrics parsed with prometheus_client's own text parser,
/readyz as a probe. Runs $MOATD (default .build/debug/moatd) and its moatctl."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

REPOSITORY = Path(__file__).resolve().parents[2]
MOATD = Path(os.environ.get("MOATD", REPOSITORY / ".build/debug/moatd"))
MOATCTL = MOATD.with_name("moatctl")
EXAMPLE_RULES = REPOSITORY / "deploy/examples/rules.json"
ALICE = "a11ce000-0000-4000-8000-000000000001"
# Generous: the machine may be busy; none of this is a timing test.
WAIT_SECONDS = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def eventually(what: str, condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class Moatd:
    """A moatd in a temporary folder, serving HTTP on a free loopback port."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.rules = folder / "rules.json"
        self.socket = folder / "moat.sock"
        self.control = folder / "control.sock"
        self.port = free_port()
        log = open(folder / "moatd.log", "ab")
        self.process = subprocess.Popen(
            [
                str(MOATD), "--rules", str(self.rules), "--socket", str(self.socket),
                "--control-socket", str(self.control), "--decision-log", str(folder / "decisions.log"),
                "--http-listen", f"127.0.0.1:{self.port}",
            ],
            stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        eventually("moatd to answer /healthz", lambda: self.get("/healthz")[0] == 200)

    def log(self) -> str:
        return (self.folder / "moatd.log").read_text(errors="replace")

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body); (0, {}, b"") while nothing listens yet."""
        assert self.process.poll() is None, f"moatd exited: {self.log()}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=20) as answer:
                return answer.status, dict(answer.headers.items()), answer.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers.items()), error.read()
        except (ConnectionError, urllib.error.URLError):
            return 0, {}, b""

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        status, headers, body = self.get("/metrics")
        assert status == 200, body
        assert headers["Content-Type"].startswith("text/plain; version=0.0.4"), headers
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(body.decode())
            for sample in family.samples
        }

    def moatctl(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(MOATCTL), *arguments], capture_output=True, text=True, timeout=60)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def moatd() -> Iterator[Moatd]:
    assert MOATD.exists(), f"no moatd at {MOATD}: build it (swift build) or set MOATD"
    folder = Path(tempfile.mkdtemp(prefix="moat-http-"))
    daemon = Moatd(folder)
    try:
        yield daemon
    finally:
        daemon.stop()
        shutil.rmtree(folder, ignore_errors=True)


def test_readyz_flips_when_a_valid_rules_file_appears(moatd: Moatd) -> None:
    status, headers, body = moatd.get("/readyz")
    assert status == 503 and headers["Content-Type"] == "application/json"
    answer = json.loads(body)
    assert answer["ready"] is False and answer["reason"], answer

    staged = moatd.folder / "rules.json.new"
    staged.write_bytes(EXAMPLE_RULES.read_bytes())
    staged.rename(moatd.rules)
    eventually("/readyz to answer 200", lambda: moatd.get("/readyz")[0] == 200)
    assert json.loads(moatd.get("/readyz")[2]) == {"ready": True, "reason": None}


def test_metrics_parse_and_move_with_traffic(moatd: Moatd) -> None:
    moatd.rules.write_bytes(EXAMPLE_RULES.read_bytes())
    eventually("/readyz to answer 200", lambda: moatd.get("/readyz")[0] == 200)
    before = moatd.metrics()
    allowed = ("moat_checks_total", (("decision", "allow"), ("inner_code", "")))
    assert allowed in before, sorted(before)
    assert before[("moat_snapshot_sequence", ())] == 1
    assert before[("moat_rules_confirmed_timestamp_seconds", ())] > 0

    token = moatd.moatctl("token", "mint", "--oid", ALICE).stdout.strip()
    for _ in range(3):
        check = moatd.moatctl(
            "check", "--socket", str(moatd.socket), "--vault", "contoso-prod", "--operation", "GetSecret",
            "--source", "203.0.113.9", "--token", token,
        )
        assert check.returncode == 0 and json.loads(check.stdout)["decision"] == "ALLOW", check

    after = moatd.metrics()
    assert after[allowed] == before[allowed] + 3
    durations = ("moat_check_duration_seconds_count", ())
    assert after[durations] >= before[durations] + 3

    # The same registry as `moatctl metrics`: every family of one is in the other.
    control = moatd.moatctl("metrics", "--control-socket", str(moatd.control))
    assert control.returncode == 0, control
    over_control = {family.name for family in text_string_to_metric_families(control.stdout)}
    over_http = {family.name for family in text_string_to_metric_families(moatd.get("/metrics")[2].decode())}
    assert over_http == over_control
