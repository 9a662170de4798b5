"""Everything the blocking and the asyncio client share: options, frames, the table of calls in
flight on a connection, reconnect backoff, batch planning and reading answers. Only the I/O differs
between the two clients. Framing and semantics: docs/protocol.md."""

from __future__ import annotations

import random
import struct
import threading
from dataclasses import dataclass
from typing import Protocol, TypeVar

from google.protobuf.message import DecodeError, Message

from ._model import (
    CheckRequest,
    CheckResult,
    Decision,
    ErrorDetail,
    ErrorKind,
    FailurePolicy,
    MoatError,
    Pong,
    Revision,
    StatusCode,
    _unreadable,
    status_name,
)
from ._proto.moat.v1 import authz_pb2 as pb

CHECK, CHECK_BATCH, PING = 1, 2, 3
"""Method ids of the data socket (docs/protocol.md, "Methods")."""
MAXIMUM_BATCH = 1024
"""The most requests one CheckBatch frame may carry."""
_HEADER = struct.Struct(">IIBBH")  # N, stream id, method, flags, status
_HEADER_TAIL = 8  # the header after N: the smallest N
_RESPONSE_FLAG = 1
_Message = TypeVar("_Message", bound=Message)


@dataclass(frozen=True)
class Options:
    """How a client talks to the daemon and what it does when it gets no answer."""

    connections: int = 2
    """Connections kept to the daemon; calls are spread over them and pipelined on each."""
    deadline: float = 0.2
    """Seconds a call may take; sent to the daemon as the request's ``timeout_micros``."""
    failure_policy: FailurePolicy = FailurePolicy.CLOSED
    """What "could not decide" because the daemon was unavailable means."""
    initial_reconnect_backoff: float = 0.01
    """The first wait (seconds) before reconnecting after a failed connect; doubled, with jitter,
    after each failed attempt, up to ``maximum_reconnect_backoff``."""
    maximum_reconnect_backoff: float = 2.0
    maximum_request_frame_length: int = 64 * 1024
    """The largest request frame (its length field N) the daemon accepts (``moatd
    --max-frame-bytes``): larger batches go as several frames, and a check whose frame alone is
    larger is refused without being sent (REQUEST_REFUSED, RESOURCE_EXHAUSTED, a deny)."""
    maximum_answer_frame_length: int = 16 * 1024 * 1024
    """The largest answer frame accepted (a full batch answer exceeds the request limit)."""

    def __post_init__(self) -> None:
        if self.connections < 1:
            raise ValueError("connections must be at least 1")
        if self.deadline <= 0:
            raise ValueError("deadline must be positive")

    @property
    def deadline_micros(self) -> int:
        return int(self.deadline * 1_000_000)


@dataclass(frozen=True)
class Frame:
    """An answer frame: the stream id it answers, its status and its payload."""

    stream_id: int
    status: int
    payload: bytes


def encode_frame(stream_id: int, method: int, payload: bytes) -> bytes:
    return _HEADER.pack(_HEADER_TAIL + len(payload), stream_id, method, 0, 0) + payload


def frame_length(prefix: bytes, limit: int) -> int:
    """The number of bytes that follow a frame's 4-byte length field; raises on a bad length."""
    length = int.from_bytes(prefix, "big")
    if length < _HEADER_TAIL or length > limit:
        raise _unreadable(f"an answer frame of {length} bytes (accepted: {_HEADER_TAIL} to {limit})")
    return length


def decode_frame(body: bytes) -> Frame:
    """A frame from the bytes after its length field; raises when it is not a response."""
    stream_id, _method, flags, status = struct.unpack_from(">IBBH", body)
    if not flags & _RESPONSE_FLAG:
        raise _unreadable("a frame without the response flag")
    return Frame(stream_id, status, body[_HEADER_TAIL:])


def status_error(frame: Frame) -> MoatError:
    """The error a non-zero status carries (its payload is a ``moat.v1.Error``)."""
    try:
        error = pb.Error.FromString(frame.payload)
        message = error.message or f"the daemon answered {status_name(frame.status)}"
        details = [ErrorDetail(d.path, d.message) for d in error.details]
    except DecodeError:
        message, details = f"the daemon answered {status_name(frame.status)}", []
    return MoatError(ErrorKind.STATUS, message, frame.status, details)


def connection_closed(message: str = "the daemon closed the connection") -> MoatError:
    return MoatError(ErrorKind.CONNECTION_CLOSED, message, StatusCode.UNAVAILABLE)


def deadline_exceeded() -> MoatError:
    return MoatError(ErrorKind.DEADLINE_EXCEEDED, "no answer within the deadline", StatusCode.DEADLINE_EXCEEDED)


def unreachable(socket_path: str, error: BaseException) -> MoatError:
    return MoatError(ErrorKind.UNREACHABLE, f"cannot connect to '{socket_path}': {error}", StatusCode.UNAVAILABLE)


class Waiter(Protocol):
    """``concurrent.futures.Future`` and ``asyncio.Future`` both fit."""

    def done(self) -> bool: ...
    def set_result(self, result: Frame | MoatError) -> None: ...


class Pipeline:
    """The calls in flight on one connection, by stream id. A call's waiter gets its answer frame,
    or the error that ended the connection (docs/protocol.md: answers come in any order; a non-OK
    frame on stream 0 refuses the whole connection)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next_stream = 1
        self._waiting: dict[int, Waiter] = {}
        self.failure: MoatError | None = None

    def register(self, waiter: Waiter, method: int, payload: bytes) -> tuple[int, bytes]:
        """A fresh stream id for ``waiter`` and the frame to send; raises once the connection failed."""
        with self._lock:
            if self.failure is not None:
                raise self.failure
            stream_id = self._next_stream
            self._next_stream = stream_id % 0xFFFF_FFFF + 1  # never 0: stream 0 is the connection's
            self._waiting[stream_id] = waiter
        return stream_id, encode_frame(stream_id, method, payload)

    def forget(self, stream_id: int) -> None:
        """The call stopped waiting (its deadline passed); a late answer is dropped."""
        with self._lock:
            self._waiting.pop(stream_id, None)

    def deliver(self, frame: Frame) -> None:
        if frame.stream_id == 0 and frame.status != StatusCode.OK:
            self.fail(status_error(frame))
            return
        with self._lock:
            waiter = self._waiting.pop(frame.stream_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(frame)

    def fail(self, error: MoatError) -> None:
        """Ends the connection: every waiting call, and every later one, gets ``error`` (the first
        failure is kept, so that a refusal is not reported as a closed connection)."""
        with self._lock:
            if self.failure is None:
                self.failure = error
            waiting = list(self._waiting.values())
            self._waiting.clear()
        for waiter in waiting:
            if not waiter.done():
                waiter.set_result(self.failure)


class Backoff:
    """When a connection slot may try to connect again after failing: exponential, with jitter, so
    that a missing daemon costs callers an immediate "could not decide", not a connect attempt each."""

    def __init__(self, options: Options) -> None:
        self._options = options
        self._delay = 0.0
        self._next_attempt = 0.0
        self._last_error: MoatError | None = None

    def check(self, now: float) -> None:
        """Raises the last connect error while the backoff lasts."""
        if self._last_error is not None and now < self._next_attempt:
            raise self._last_error

    def succeeded(self) -> None:
        self._delay = 0.0
        self._last_error = None

    def failed(self, error: MoatError, now: float) -> None:
        doubled = self._delay * 2 if self._delay else self._options.initial_reconnect_backoff
        self._delay = min(doubled, self._options.maximum_reconnect_backoff)
        self._next_attempt = now + self._delay * random.uniform(0.5, 1.5)
        self._last_error = error


def refuse_oversized(frame_length_n: int, limit: int) -> None:
    if frame_length_n > limit:
        raise MoatError(
            ErrorKind.REQUEST_REFUSED,
            f"the request's frame of {frame_length_n} bytes is over the daemon's limit of {limit} bytes "
            "(Options.maximum_request_frame_length); not sent",
            StatusCode.RESOURCE_EXHAUSTED,
        )


def check_payload(request: CheckRequest, options: Options) -> bytes | CheckResult:
    """The encoded ``CheckRequest``, or the result of one the client must not send (REQUEST_REFUSED)."""
    try:
        payload = request.to_message(options.deadline_micros).SerializeToString()
        refuse_oversized(_HEADER_TAIL + len(payload), options.maximum_request_frame_length)
    except MoatError as error:
        return CheckResult(None, error, options.failure_policy)
    return payload


@dataclass
class BatchPlan:
    """Which requests go in which CheckBatch frame (their encoded items and indices), so that every
    frame fits the daemon's limit and carries at most 1024 requests; and the requests refused
    without being sent (docs/protocol.md, "Limits")."""

    frames: list[tuple[list[int], bytes]]
    refused: dict[int, MoatError]


def plan_batch(requests: list[CheckRequest], options: Options) -> BatchPlan:
    budget = options.maximum_request_frame_length - _HEADER_TAIL
    frames: list[tuple[list[int], bytes]] = []
    refused: dict[int, MoatError] = {}
    indices: list[int] = []
    items: list[pb.CheckRequest] = []
    size = 0

    def close_frame() -> None:
        frames.append((list(indices), pb.CheckBatchRequest(requests=items).SerializeToString()))

    for index, request in enumerate(requests):
        try:
            item = request.to_message(options.deadline_micros)
            # In the batch: the field's tag (1 byte), the item's length (a varint), the item.
            length = item.ByteSize()
            cost = 1 + _varint_length(length) + length
            refuse_oversized(_HEADER_TAIL + cost, options.maximum_request_frame_length)
        except MoatError as error:
            refused[index] = error
            continue
        if indices and (size + cost > budget or len(indices) == MAXIMUM_BATCH):
            close_frame()
            indices, items, size = [], [], 0
        indices.append(index)
        items.append(item)
        size += cost
    if indices:
        close_frame()
    return BatchPlan(frames, refused)


def _varint_length(value: int) -> int:
    return max(1, (value.bit_length() + 6) // 7)


def answer_payload(answer: Frame | MoatError) -> bytes:
    """The payload of an OK answer; raises the call's error otherwise."""
    if isinstance(answer, MoatError):
        raise answer
    if answer.status != StatusCode.OK:
        raise status_error(answer)
    return answer.payload


def _parse(message_type: type[_Message], payload: bytes) -> _Message:
    try:
        return message_type.FromString(payload)
    except DecodeError as error:
        raise _unreadable(str(error)) from None


def check_result(answer: Frame | MoatError, policy: FailurePolicy) -> CheckResult:
    try:
        decision = Decision.from_message(_parse(pb.CheckResponse, answer_payload(answer)))
    except MoatError as error:
        return CheckResult(None, error, policy)
    return CheckResult(decision, None, policy)


def batch_outcome(
    count: int, plan: BatchPlan, answers: list[Frame | MoatError], policy: FailurePolicy
) -> list[CheckResult]:
    """The results of ``count`` requests planned as ``plan``, from the answers to its frames."""
    results = {index: CheckResult(None, error, policy) for index, error in plan.refused.items()}
    for (indices, _), answer in zip(plan.frames, answers, strict=True):
        results.update(zip(indices, batch_results(answer, len(indices), policy), strict=True))
    return [results[index] for index in range(count)]


def batch_results(answer: Frame | MoatError, count: int, policy: FailurePolicy) -> list[CheckResult]:
    """One result per request of a CheckBatch frame: each item is a decision or its own error; a
    frame that failed, or an answer that does not read, fails every request of the frame."""
    try:
        response = _parse(pb.CheckBatchResponse, answer_payload(answer))
        if len(response.responses) != count:
            raise _unreadable(f"the daemon answered {len(response.responses)} of {count} requests")
        results = []
        for index, item in enumerate(response.responses):
            if item.HasField("error"):
                if item.error.code == StatusCode.OK or item.decision != pb.DECISION_UNSPECIFIED:
                    raise _unreadable(f"responses[{index}] holds both a decision and an error")
                error = MoatError(ErrorKind.STATUS, item.error.message, item.error.code)
                results.append(CheckResult(None, error, policy))
            else:
                results.append(CheckResult(Decision.from_message(item), None, policy))
        return results
    except MoatError as error:
        return [CheckResult(None, error, policy) for _ in range(count)]


def pong(answer: Frame | MoatError) -> Pong:
    message = _parse(pb.Pong, answer_payload(answer))
    revision = Revision(message.revision.sequence, message.revision.hash) if message.HasField("revision") else None
    return Pong(message.ready, revision)
