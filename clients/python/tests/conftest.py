"""What the tests share: the daemon they start (a real moatd, $MOATD, default .build/debug/moatd),
tokens, and the repository's paths."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

import moat_authz

REPOSITORY = Path(__file__).resolve().parents[3]
MOATD = Path(os.environ.get("MOATD", REPOSITORY / ".build/debug/moatd"))
MOATCTL = MOATD.with_name("moatctl")
EXAMPLE_RULES = REPOSITORY / "deploy/examples/rules.json"
ALICE = "a11ce000-0000-4000-8000-000000000001"
OPS = "0b5e0000-0000-4000-8000-00000000000a"


class Daemon:
    """A moatd on its own sockets in a short temporary folder (socket paths are limited to 107
    bytes), with `rules` (the bytes of a rules file); stopped, paused and restarted by the tests."""

    def __init__(self, rules: bytes, arguments: Sequence[str] = ()) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="moat-py-"))
        self.rules = self.folder / "rules.json"
        self.rules.write_bytes(rules)
        self.socket = str(self.folder / "moat.sock")
        self.arguments = list(arguments)
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, wait_ready: bool = True) -> Daemon:
        assert MOATD.exists(), f"no moatd at {MOATD}: build it (swift build) or set MOATD"
        self.starts += 1
        log = open(self.folder / f"moatd-{self.starts}.log", "wb")
        self.process = subprocess.Popen(
            [
                str(MOATD), "--rules", str(self.rules), "--socket", self.socket,
                "--control-socket", str(self.folder / "control.sock"),
                "--decision-log", str(self.folder / "decisions.log"), *self.arguments,
            ],
            stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        self.wait_until(lambda pong: pong.ready if wait_ready else True)
        return self

    def wait_until(self, condition, timeout: float = 30.0) -> moat_authz.Pong:  # type: ignore[no-untyped-def]
        """Pings until the daemon answers and `condition(pong)` holds."""
        deadline = time.monotonic() + timeout
        with moat_authz.Client(self.socket, moat_authz.Options(connections=1, deadline=2.0)) as client:
            while True:
                assert self.process is not None and self.process.poll() is None, self.log()
                try:
                    pong = client.ping()
                    if condition(pong):
                        return pong
                except moat_authz.MoatError:
                    pass
                assert time.monotonic() < deadline, f"moatd did not become ready: {self.log()}"
                time.sleep(0.05)

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.folder.glob("moatd-*.log")))

    def stop(self) -> None:
        if self.process is None:
            return
        self.resume()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def pause(self) -> None:
        """SIGSTOP, returning once every thread of the daemon is stopped: the signal is delivered
        asynchronously, and a daemon still running could answer the next check."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        pid, status = os.waitpid(self.process.pid, os.WUNTRACED)
        assert pid == self.process.pid and os.WIFSTOPPED(status), f"moatd did not stop: status {status}"

    def resume(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def mint(oid: str) -> str:
    """A token the example rules accept (signed with deploy/examples/demo-signing-key.pem)."""
    return subprocess.run(
        [str(MOATCTL), "token", "mint", "--oid", oid], check=True, capture_output=True, text=True, timeout=30
    ).stdout.strip()


@pytest.fixture
def example_daemon() -> Iterator[Daemon]:
    """A moatd on deploy/examples/rules.json (vault contoso-prod: alice may get secrets, ops may
    do everything, from 203.0.113.0/24)."""
    daemon = Daemon(EXAMPLE_RULES.read_bytes())
    try:
        yield daemon.start()
    finally:
        daemon.close()


@pytest.fixture(scope="session")
def alice_token() -> str:
    return mint(ALICE)


@pytest.fixture(scope="session")
def ops_token() -> str:
    return mint(OPS)


class FakeDaemon:
    """Unix sockets served by the test's own code (`serve(connection)`, one thread per
    connection), for answers a healthy moatd never gives."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="moat-fake-"))
        self.listeners: list[socket.socket] = []
        self.connections = 0

    def start(self, serve: Callable[[socket.socket], None]) -> str:
        path = str(self.folder / f"fake{len(self.listeners)}.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen()
        self.listeners.append(listener)

        def accept() -> None:
            while True:
                try:
                    connection, _ = listener.accept()
                except OSError:
                    return
                self.connections += 1
                threading.Thread(target=serve_and_close, args=(connection,), daemon=True).start()

        def serve_and_close(connection: socket.socket) -> None:
            with connection:
                serve(connection)

        threading.Thread(target=accept, daemon=True).start()
        return path

    def close(self) -> None:
        for listener in self.listeners:
            listener.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def read_requests(connection: socket.socket) -> Iterator[tuple[int, int, bytes]]:
    """The request frames a client sends, as (stream id, method, payload), until it closes."""
    with connection.makefile("rb") as stream:
        while len(prefix := stream.read(4)) == 4:
            body = stream.read(struct.unpack(">I", prefix)[0])
            stream_id, method = struct.unpack_from(">IB", body)
            yield stream_id, method, body[8:]


def frame(stream_id: int, method: int, status: int, payload: bytes) -> bytes:
    """An answer frame (docs/protocol.md, "Frames")."""
    return struct.pack(">IIBBH", 8 + len(payload), stream_id, method, 1, status) + payload


@pytest.fixture
def fake_daemon() -> Iterator[FakeDaemon]:
    daemon = FakeDaemon()
    try:
        yield daemon
    finally:
        daemon.close()
