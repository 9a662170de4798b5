"""The blocking client: for threads. Each connection has a reader and a writer thread, so that
many threads pipeline their calls on it and every call's deadline holds even when the daemon
stops reading (docs/protocol.md, "Limits": back-pressure)."""

from __future__ import annotations

import itertools
import queue
import socket
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from types import TracebackType
from typing import TypeAlias

from . import _wire
from ._model import CheckRequest, CheckResult, MoatError, Pong
from ._wire import Frame, Options, Pipeline

_Pending: TypeAlias = "tuple[_Connection, int, Future[Frame | MoatError]] | MoatError"


class _Connection:
    """One connection to the daemon: callers queue frames for the writer thread and wait on their
    futures; the reader thread hands each answer to its caller by stream id."""

    def __init__(self, sock: socket.socket, options: Options) -> None:
        self._sock = sock
        self._limit = options.maximum_answer_frame_length
        self.pipeline = Pipeline()
        self._outgoing: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        threading.Thread(target=self._read, name="moat-reader", daemon=True).start()
        threading.Thread(target=self._write, name="moat-writer", daemon=True).start()

    @property
    def is_open(self) -> bool:
        return self.pipeline.failure is None

    def submit(self, method: int, payload: bytes) -> tuple[int, Future[Frame | MoatError]]:
        future: Future[Frame | MoatError] = Future()
        stream_id, frame = self.pipeline.register(future, method, payload)
        self._outgoing.put(frame)
        return stream_id, future

    def close(self) -> None:
        self._end(_wire.connection_closed("the client closed the connection"))

    def _end(self, error: MoatError) -> None:
        self.pipeline.fail(error)
        self._outgoing.put(None)
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already shut down

    def _read(self) -> None:
        stream = self._sock.makefile("rb")
        try:
            while True:
                prefix = stream.read(4)
                if len(prefix) < 4:
                    break
                length = _wire.frame_length(prefix, self._limit)
                body = stream.read(length)
                if len(body) < length:
                    break
                self.pipeline.deliver(_wire.decode_frame(body))
            self._end(_wire.connection_closed())
        except MoatError as error:
            self._end(error)
        except OSError as error:
            self._end(_wire.connection_closed(f"the connection failed: {error}"))
        finally:
            stream.close()

    def _write(self) -> None:
        # The writer closes the socket once the connection ended (`_end` queues None), so that
        # the descriptor is never closed under a send in progress.
        while (frame := self._outgoing.get()) is not None:
            try:
                self._sock.sendall(frame)
            except OSError as error:
                self._end(_wire.connection_closed(f"the connection failed: {error}"))
        self._sock.close()


class _Slot:
    """One place in the pool: a connection, made on first use and remade, with backoff, when it closes."""

    def __init__(self, socket_path: str, options: Options) -> None:
        self._socket_path = socket_path
        self._options = options
        self._lock = threading.Lock()
        self._connection: _Connection | None = None
        self._backoff = _wire.Backoff(options)

    def connection(self, deadline: float) -> _Connection:
        if not self._lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise _wire.deadline_exceeded()
        try:
            if self._connection is not None and self._connection.is_open:
                return self._connection
            self._backoff.check(time.monotonic())
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(max(0.001, deadline - time.monotonic()))
                sock.connect(self._socket_path)
                sock.settimeout(None)
            except OSError as error:
                sock.close()
                failure = _wire.unreachable(self._socket_path, error)
                self._backoff.failed(failure, time.monotonic())
                raise failure from None
            self._backoff.succeeded()
            self._connection = _Connection(sock, self._options)
            return self._connection
        finally:
            self._lock.release()

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


class Client:
    """A blocking Moat client; thread-safe: share one per process.

    A small pool of pipelined connections to the daemon's data socket, made on first use and
    remade with backoff when the daemon restarts. Every call has a deadline (``Options.deadline``,
    sent to the daemon too). ``check`` never raises: a check that gets no decision "could not
    decide", a deny unless the daemon was unavailable and the policy is
    :attr:`FailurePolicy.OPEN`. There is no decision cache: every check asks the daemon.
    """

    def __init__(self, socket_path: str, options: Options | None = None) -> None:
        self.socket_path = socket_path
        self.options = options or Options()
        self._slots = [_Slot(socket_path, self.options) for _ in range(self.options.connections)]
        self._next = itertools.count()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Closes every connection; calls in flight could not decide (connection closed)."""
        for slot in self._slots:
            slot.close()

    def check(self, request: CheckRequest) -> CheckResult:
        """Decides one request."""
        payload = _wire.check_payload(request, self.options)
        if isinstance(payload, CheckResult):
            return payload
        return _wire.check_result(self._call(_wire.CHECK, payload), self.options.failure_policy)

    def check_batch(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        """Decides many requests, pipelined in as few frames as fit; one result per request, in
        order, each its own outcome (one request that cannot be decided fails alone)."""
        plan = _wire.plan_batch(list(requests), self.options)
        deadline = time.monotonic() + self.options.deadline
        # Every frame is sent before any answer is awaited: they are pipelined.
        pending = [self._submit(_wire.CHECK_BATCH, payload, deadline) for _, payload in plan.frames]
        answers = [self._await(frame, deadline) for frame in pending]
        return _wire.batch_outcome(len(requests), plan, answers, self.options.failure_policy)

    def ping(self) -> Pong:
        """Whether the daemon is up and has rules, and which revision it serves; raises :class:`MoatError`."""
        return _wire.pong(self._call(_wire.PING, b""))

    def _call(self, method: int, payload: bytes) -> Frame | MoatError:
        deadline = time.monotonic() + self.options.deadline
        return self._await(self._submit(method, payload, deadline), deadline)

    def _submit(self, method: int, payload: bytes, deadline: float) -> _Pending:
        slot = self._slots[next(self._next) % len(self._slots)]
        try:
            connection = slot.connection(deadline)
            stream_id, future = connection.submit(method, payload)
        except MoatError as error:
            return error
        return connection, stream_id, future

    @staticmethod
    def _await(pending: _Pending, deadline: float) -> Frame | MoatError:
        if isinstance(pending, MoatError):
            return pending
        connection, stream_id, future = pending
        try:
            return future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            connection.pipeline.forget(stream_id)
            return _wire.deadline_exceeded()

