"""The asyncio client: any number of tasks share one, pipelining their calls on its connections."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from types import TracebackType

from . import _wire
from ._model import CheckRequest, CheckResult, MoatError, Pong
from ._wire import Frame, Options, Pipeline


class _Connection:
    """One connection to the daemon: callers write their frames and await their futures; the
    reader task hands each answer to its caller by stream id."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, options: Options) -> None:
        self._writer = writer
        self.pipeline = Pipeline()
        self._reading = asyncio.get_running_loop().create_task(self._read(reader, options.maximum_answer_frame_length))

    @property
    def is_open(self) -> bool:
        return self.pipeline.failure is None

    async def call(self, method: int, payload: bytes) -> Frame | MoatError:
        """Sends one request and waits for its answer (the caller bounds the wait)."""
        future: asyncio.Future[Frame | MoatError] = asyncio.get_running_loop().create_future()
        stream_id, frame = self.pipeline.register(future, method, payload)
        try:
            # Written without waiting for the daemon to read it (the transport buffers), so that
            # a stopped daemon delays no one beyond the deadline.
            self._writer.write(frame)
            return await future
        finally:
            self.pipeline.forget(stream_id)

    async def close(self) -> None:
        self._end(_wire.connection_closed("the client closed the connection"))
        await asyncio.gather(self._reading, return_exceptions=True)

    def _end(self, error: MoatError) -> None:
        self.pipeline.fail(error)
        self._writer.close()

    async def _read(self, reader: asyncio.StreamReader, limit: int) -> None:
        try:
            while True:
                length = _wire.frame_length(await reader.readexactly(4), limit)
                self.pipeline.deliver(_wire.decode_frame(await reader.readexactly(length)))
        except asyncio.IncompleteReadError:
            self._end(_wire.connection_closed())
        except MoatError as error:
            self._end(error)
        except OSError as error:
            self._end(_wire.connection_closed(f"the connection failed: {error}"))


class _Slot:
    """One place in the pool: a connection, made on first use and remade, with backoff, when it closes."""

    def __init__(self, socket_path: str, options: Options) -> None:
        self._socket_path = socket_path
        self._options = options
        self._lock = asyncio.Lock()
        self._connection: _Connection | None = None
        self._backoff = _wire.Backoff(options)

    async def connection(self) -> _Connection:
        async with self._lock:
            if self._connection is not None and self._connection.is_open:
                return self._connection
            self._backoff.check(time.monotonic())
            try:
                reader, writer = await asyncio.open_unix_connection(self._socket_path)
            except OSError as error:
                failure = _wire.unreachable(self._socket_path, error)
                self._backoff.failed(failure, time.monotonic())
                raise failure from None
            self._backoff.succeeded()
            self._connection = _Connection(reader, writer, self._options)
            return self._connection

    async def close(self) -> None:
        async with self._lock:
            if self._connection is not None:
                await self._connection.close()
                self._connection = None


class AsyncClient:
    """An asyncio Moat client: share one per event loop, across any number of tasks.

    The same behaviour as :class:`Client` (pooled, pipelined connections remade with backoff,
    deadlines, the failure policy, no decision cache), with ``await``. Create it inside the
    running loop it will be used on.
    """

    def __init__(self, socket_path: str, options: Options | None = None) -> None:
        self.socket_path = socket_path
        self.options = options or Options()
        self._slots = [_Slot(socket_path, self.options) for _ in range(self.options.connections)]
        self._next = itertools.count()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Closes every connection; calls in flight could not decide (connection closed)."""
        for slot in self._slots:
            await slot.close()

    async def check(self, request: CheckRequest) -> CheckResult:
        """Decides one request; never raises."""
        payload = _wire.check_payload(request, self.options)
        if isinstance(payload, CheckResult):
            return payload
        return _wire.check_result(await self._call(_wire.CHECK, payload), self.options.failure_policy)

    async def check_batch(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        """Decides many requests, pipelined in as few frames as fit; one result per request, in
        order, each its own outcome (one request that cannot be decided fails alone)."""
        plan = _wire.plan_batch(list(requests), self.options)
        answers = await asyncio.gather(*(self._call(_wire.CHECK_BATCH, payload) for _, payload in plan.frames))
        return _wire.batch_outcome(len(requests), plan, list(answers), self.options.failure_policy)

    async def ping(self) -> Pong:
        """Whether the daemon is up and has rules, and which revision it serves; raises :class:`MoatError`."""
        return _wire.pong(await self._call(_wire.PING, b""))

    async def _call(self, method: int, payload: bytes) -> Frame | MoatError:
        slot = self._slots[next(self._next) % len(self._slots)]

        async def call() -> Frame | MoatError:
            try:
                connection = await slot.connection()
                return await connection.call(method, payload)
            except MoatError as error:
                return error

        try:
            return await asyncio.wait_for(call(), self.options.deadline)
        except asyncio.TimeoutError:
            return _wire.deadline_exceeded()
