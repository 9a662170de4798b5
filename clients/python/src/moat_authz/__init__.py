"""Moat's Python client: ask ``moatd`` "may this caller, from this network source, do this
operation on this vault?" over its data socket (docs/protocol.md).

:class:`Client` (blocking, thread-safe) and :class:`AsyncClient` (asyncio) answer every check
with a :class:`CheckResult`: allowed, denied (with the :class:`Decision`), or could not decide
(with the :class:`MoatError`), resolved by the :class:`FailurePolicy`, which fails open only when
the daemon was unavailable.
"""

from ._aio import AsyncClient
from ._model import (
    OPERATIONS,
    Admission,
    AssertedIdentity,
    Caller,
    CheckRequest,
    CheckResult,
    Decision,
    ErrorDetail,
    ErrorKind,
    FailurePolicy,
    Fault,
    MoatError,
    Outcome,
    Pong,
    Revision,
    StatusCode,
    operation_number,
)
from ._sync import Client
from ._wire import Options

__all__ = [
    "OPERATIONS",
    "Admission",
    "AssertedIdentity",
    "AsyncClient",
    "Caller",
    "CheckRequest",
    "CheckResult",
    "Client",
    "Decision",
    "ErrorDetail",
    "ErrorKind",
    "FailurePolicy",
    "Fault",
    "MoatError",
    "Options",
    "Outcome",
    "Pong",
    "Revision",
    "StatusCode",
    "operation_number",
]
