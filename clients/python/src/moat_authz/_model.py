"""What callers see: requests, decisions, errors and results (docs/protocol.md, "Messages")."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from ._proto.moat.v1 import authz_pb2 as pb


class StatusCode(enum.IntEnum):
    """gRPC canonical status codes, as frames and errors carry them (docs/protocol.md, "Status codes")."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


def status_name(code: int) -> str:
    """The canonical name ("UNAVAILABLE"); ``STATUS_<n>`` for a number gRPC does not define."""
    try:
        return StatusCode(code).name
    except ValueError:
        return f"STATUS_{code}"


class FailurePolicy(enum.Enum):
    """What a check that could not decide because the daemon was unavailable means to the caller.

    Every other failure is a deny under both policies (see :class:`Fault`).
    """

    CLOSED = "closed"
    """Treat it as a deny (the default)."""
    OPEN = "open"
    """Treat an availability failure as an allow; the result says it failed open."""


class Fault(enum.Enum):
    """Whose failure it was; it decides whether :attr:`FailurePolicy.OPEN` may allow."""

    AVAILABILITY = "availability"
    """Unreachable, connection closed, no answer in time, UNAVAILABLE or DEADLINE_EXCEEDED."""
    REQUEST = "request"
    """The client refused to send the request, or the daemon refused it (INVALID_ARGUMENT,
    RESOURCE_EXHAUSTED). Always a deny: a caller must not turn its own bad input into an allow."""
    DAEMON = "daemon"
    """INTERNAL, UNIMPLEMENTED, PERMISSION_DENIED, any other status, an unreadable answer. Always a deny."""


class ErrorKind(enum.Enum):
    """How a call failed."""

    UNREACHABLE = "unreachable"
    """The socket could not be connected to (no daemon, wrong path, permissions)."""
    DEADLINE_EXCEEDED = "deadline exceeded"
    """No answer within the call's deadline."""
    CONNECTION_CLOSED = "connection closed"
    """The connection closed before the answer arrived."""
    STATUS = "status"
    """The daemon answered with a non-zero status (see ``status``)."""
    PROTOCOL_VIOLATION = "protocol violation"
    """The daemon's answer could not be read."""
    REQUEST_REFUSED = "request refused"
    """The client did not send the request: a string holds a NUL byte (INVALID_ARGUMENT), or its
    frame is over the daemon's limit (RESOURCE_EXHAUSTED), which would make the daemon close the
    connection other calls share."""


@dataclass(frozen=True)
class ErrorDetail:
    path: str
    message: str


class MoatError(Exception):
    """Why a call got no answer, or an error answer. For a check this is "could not decide"."""

    def __init__(
        self, kind: ErrorKind, message: str, status: int, details: Sequence[ErrorDetail] = ()
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        #: The daemon's status for ``STATUS``; UNAVAILABLE for an unreachable daemon or a closed
        #: connection, DEADLINE_EXCEEDED for a timeout, INTERNAL for an unreadable answer,
        #: INVALID_ARGUMENT or RESOURCE_EXHAUSTED for a refused request.
        self.status = status
        self.details = tuple(details)

    @property
    def fault(self) -> Fault:
        if self.kind in (ErrorKind.UNREACHABLE, ErrorKind.DEADLINE_EXCEEDED, ErrorKind.CONNECTION_CLOSED):
            return Fault.AVAILABILITY
        if self.kind is ErrorKind.REQUEST_REFUSED:
            return Fault.REQUEST
        if self.kind is not ErrorKind.STATUS:
            return Fault.DAEMON
        if self.status in (StatusCode.UNAVAILABLE, StatusCode.DEADLINE_EXCEEDED):
            return Fault.AVAILABILITY
        if self.status in (StatusCode.INVALID_ARGUMENT, StatusCode.RESOURCE_EXHAUSTED):
            return Fault.REQUEST
        return Fault.DAEMON

    def to_json(self) -> dict[str, Any]:
        """``{"error": {"code": "UNAVAILABLE", "message": "…"}}``, as ``moatctl check`` prints it."""
        return {"error": {"code": status_name(self.status), "message": self.message}}

    def __repr__(self) -> str:
        return f"MoatError({self.kind.name}, {status_name(self.status)}, {self.message!r})"


def _camel(enum_name: str, prefix: str) -> str:
    """``OPERATION_GET_SECRET`` → ``GetSecret``: the names of the decision JSON and docs/operations.md."""
    return "".join(word.capitalize() for word in enum_name[len(prefix) :].split("_"))


def _names(enum: Any, prefix: str) -> dict[int, str]:
    """Number → decision-JSON name for every value of a generated enum but ``…_UNSPECIFIED``."""
    return {
        value.number: _camel(value.name, prefix)
        for value in enum.DESCRIPTOR.values
        if value.number != 0
    }


OPERATIONS: dict[int, str] = _names(pb.Operation, "OPERATION_")
"""Every operation Moat decides, number → name (``GetSecret``); docs/operations.md lists them."""
_OPERATION_NUMBERS = {name.lower(): number for number, name in OPERATIONS.items()}
_RESULT_CODES = {**_names(pb.ResultCode, "RESULT_CODE_"), pb.RESULT_CODE_OK: "OK"}
_HTTP_STATUS = {
    pb.RESULT_CODE_OK: 200,
    pb.RESULT_CODE_BAD_PARAMETER: 400,
    pb.RESULT_CODE_VAULT_NOT_FOUND: 404,
    pb.RESULT_CODE_UNAUTHORIZED: 401,
    pb.RESULT_CODE_FORBIDDEN: 403,
}
_INNER_CODES = _names(pb.InnerCode, "INNER_CODE_")
_STAGES = _names(pb.Stage, "STAGE_")
_ADMISSION_KINDS = _names(pb.AdmissionKind, "ADMISSION_KIND_")
_INDEXED_ADMISSIONS = (pb.ADMISSION_KIND_IP_RULE, pb.ADMISSION_KIND_VIRTUAL_NETWORK_RULE)
_MODES = {number: name[0].lower() + name[1:] for number, name in _names(pb.TrustedServiceMode, "TRUSTED_SERVICE_MODE_").items()}
_GRANT_KINDS = _names(pb.GrantKind, "GRANT_KIND_")


def operation_number(operation: str | int) -> int:
    """The wire number of an operation given by name (case-insensitive, ``GetSecret``) or number.

    An unknown name is sent as OPERATION_UNSPECIFIED, which the daemon answers with a 400 decision.
    """
    if isinstance(operation, int):
        return operation
    return _OPERATION_NUMBERS.get(operation.lower(), pb.OPERATION_UNSPECIFIED)


@dataclass(frozen=True)
class AssertedIdentity:
    """Verified claims sent instead of a token; honoured only from a trusted asserter peer."""

    oid: str = ""
    appid: str = ""
    tid: str = ""
    groups: tuple[str, ...] = ()
    xms_mirid: str = ""


@dataclass(frozen=True)
class CheckRequest:
    """One question: may this caller (``token``), from this source, do ``operation`` on ``vault``?

    Empty strings mean "not given" (docs/protocol.md, "Messages"). ``operation`` is a name
    (``"GetSecret"``, case-insensitive) or an ``Operation`` number. ``timeout_micros`` 0 means the
    client's deadline.
    """

    vault: str = ""
    operation: str | int = ""
    object_name: str = ""
    source_address: str = ""
    subnet_id: str = ""
    private_endpoint_id: str = ""
    token: str = ""
    request_id: str = ""
    timeout_micros: int = 0
    asserted_identity: AssertedIdentity | None = None

    _JSON_FIELDS = {
        "vault": "vault",
        "operation": "operation",
        "objectName": "object_name",
        "sourceAddress": "source_address",
        "subnetId": "subnet_id",
        "privateEndpointId": "private_endpoint_id",
        "token": "token",
        "requestId": "request_id",
    }
    _IDENTITY_FIELDS = {"oid": "oid", "appid": "appid", "tid": "tid", "xmsMirid": "xms_mirid"}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> CheckRequest:
        """Reads the request JSON ``moatctl eval`` and ``moatctl check --request`` read (camelCase
        members, ``null`` for absent). Raises ``ValueError`` naming the member at fault."""
        if not isinstance(value, Mapping):
            raise ValueError(f"$: expected an object, found {type(value).__name__}")
        members: dict[str, Any] = {}
        for key, member in value.items():
            if key in cls._JSON_FIELDS:
                members[cls._JSON_FIELDS[key]] = _json_string(member, f"$.{key}")
            elif key == "timeoutMicros":
                if member is not None:
                    if not isinstance(member, int) or isinstance(member, bool) or member < 0:
                        raise ValueError("$.timeoutMicros: expected a non-negative integer")
                    members["timeout_micros"] = member
            elif key == "assertedIdentity":
                if member is not None:
                    members["asserted_identity"] = cls._identity_from_json(member)
            else:
                raise ValueError(f"$.{key}: unknown key")
        return cls(**members)

    @classmethod
    def _identity_from_json(cls, value: Any) -> AssertedIdentity:
        if not isinstance(value, Mapping):
            raise ValueError(f"$.assertedIdentity: expected an object, found {type(value).__name__}")
        members: dict[str, Any] = {}
        for key, member in value.items():
            path = f"$.assertedIdentity.{key}"
            if key in cls._IDENTITY_FIELDS:
                members[cls._IDENTITY_FIELDS[key]] = _json_string(member, path)
            elif key == "groups":
                if member is not None:
                    if not isinstance(member, list):
                        raise ValueError(f"{path}: expected an array of strings")
                    members["groups"] = tuple(_json_string(g, f"{path}[{i}]") for i, g in enumerate(member))
            else:
                raise ValueError(f"{path}: unknown key")
        return AssertedIdentity(**members)

    def to_message(self, default_timeout_micros: int) -> pb.CheckRequest:
        """The wire message; raises :class:`MoatError` (REQUEST_REFUSED, INVALID_ARGUMENT) for a
        request that cannot be encoded, or that the daemon would refuse: a string holding a NUL
        byte or that is not UTF-8 (docs/protocol.md, "Messages"), a number out of its field's range."""
        strings = {
            name: getattr(self, name) for name in self._JSON_FIELDS.values() if name != "operation"
        }
        identity = self.asserted_identity
        if identity is not None:
            strings.update({f"asserted_identity.{n}": getattr(identity, n) for n in self._IDENTITY_FIELDS.values()})
            strings.update({f"asserted_identity.groups[{i}]": g for i, g in enumerate(identity.groups)})
        for name, text in strings.items():
            if "\0" in text or not _is_utf8(text):
                raise _unencodable(f"field '{name}' holds a NUL byte or invalid UTF-8")
        try:
            message = pb.CheckRequest(
                vault=self.vault,
                operation=cast("pb.Operation", operation_number(self.operation)),
                object_name=self.object_name,
                source_address=self.source_address,
                subnet_id=self.subnet_id,
                private_endpoint_id=self.private_endpoint_id,
                token=self.token,
                request_id=self.request_id,
                timeout_micros=self.timeout_micros or default_timeout_micros,
            )
            if identity is not None:
                message.asserted_identity.CopyFrom(
                    pb.AssertedIdentity(
                        oid=identity.oid, appid=identity.appid, tid=identity.tid,
                        groups=list(identity.groups), xms_mirid=identity.xms_mirid,
                    )
                )
        except (TypeError, ValueError) as error:  # protobuf's refusal of a value
            raise _unencodable(str(error)) from None
        return message


def _is_utf8(text: str) -> bool:
    """False for a string holding lone surrogates, which have no UTF-8 encoding."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _unencodable(reason: str) -> MoatError:
    return MoatError(ErrorKind.REQUEST_REFUSED, f"cannot encode the request: {reason}", StatusCode.INVALID_ARGUMENT)


def _json_string(value: Any, path: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{path}: expected a string, found {type(value).__name__}")
    return value


@dataclass(frozen=True)
class Revision:
    """The rule snapshot a decision was made on: ``sequence`` counts snapshots since the daemon
    started, ``hash`` is the first 16 hex digits of SHA-256 over the rules file."""

    sequence: int
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {"sequence": self.sequence, "hash": self.hash}


@dataclass(frozen=True)
class Admission:
    """What admitted the request's network source. ``index`` is set for IpRule and VirtualNetworkRule."""

    kind: str
    index: int | None = None
    rule: str | None = None
    service: str | None = None
    mode: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "index": self.index, "rule": self.rule, "service": self.service, "mode": self.mode}


@dataclass(frozen=True)
class Grant:
    """What granted the permission (AccessPolicy or RoleAssignment) and where it is in the rules."""

    kind: str
    index: int
    object_id: str | None = None
    application_id: str | None = None
    id: str | None = None
    role: str | None = None
    role_definition_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "index": self.index,
            "objectId": self.object_id,
            "applicationId": self.application_id,
            "id": self.id,
            "role": self.role,
            "roleDefinitionId": self.role_definition_id,
        }


@dataclass(frozen=True)
class Caller:
    """Who asked, as the daemon established it (empty strings when a claim was absent)."""

    object_id: str
    application_id: str
    tenant_id: str
    issuer: str


@dataclass(frozen=True)
class Decision:
    """The daemon's decision: allow or deny, with Azure Key Vault's answer.

    ``str(decision)`` is the decision JSON exactly as ``moatctl check`` prints it.
    """

    allowed: bool
    http_status: int
    code: str
    inner_code: str | None
    stage: str
    message: str
    admitted_by: Admission | None
    granted_by: Grant | None
    required: str | None
    www_authenticate: str | None
    revision: Revision
    caller: Caller | None = None

    def to_json(self) -> dict[str, Any]:
        """The decision JSON (docs/protocol.md's fields, camelCase, every member present)."""
        return {
            "decision": "ALLOW" if self.allowed else "DENY",
            "httpStatus": self.http_status,
            "code": self.code,
            "innerCode": self.inner_code,
            "stage": self.stage,
            "message": self.message,
            "admittedBy": self.admitted_by.to_json() if self.admitted_by else None,
            "grantedBy": self.granted_by.to_json() if self.granted_by else None,
            "required": self.required,
            "wwwAuthenticate": self.www_authenticate,
            "revision": self.revision.to_json(),
        }

    def __str__(self) -> str:
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False)

    @classmethod
    def from_message(cls, message: pb.CheckResponse) -> Decision:
        """Reads a ``CheckResponse``; raises :class:`MoatError` (PROTOCOL_VIOLATION) for one that is
        not a consistent decision: DECISION_UNSPECIFIED is "could not decide", never an allow."""
        if message.decision not in (pb.DECISION_ALLOW, pb.DECISION_DENY):
            raise _unreadable(f"could not decide: the answer's decision is {message.decision}, not ALLOW or DENY")
        allowed = message.decision == pb.DECISION_ALLOW
        code = _known(_RESULT_CODES, message.code, "code")
        if message.http_status != _HTTP_STATUS[message.code]:
            raise _unreadable(f"http_status {message.http_status} contradicts code {code}")
        if allowed != (message.code == pb.RESULT_CODE_OK):
            raise _unreadable(f"code {code} contradicts decision {'ALLOW' if allowed else 'DENY'}")
        admitted_by = None
        if message.HasField("admitted_by") and message.admitted_by.kind != pb.ADMISSION_KIND_UNSPECIFIED:
            a = message.admitted_by
            admitted_by = Admission(
                kind=_known(_ADMISSION_KINDS, a.kind, "admitted_by.kind"),
                index=_index(a.index, "admitted_by.index") if a.kind in _INDEXED_ADMISSIONS else None,
                rule=a.rule or None,
                service=a.service or None,
                mode=_known(_MODES, a.mode, "admitted_by.mode") if a.mode else None,
            )
        granted_by = None
        if message.HasField("granted_by") and message.granted_by.kind != pb.GRANT_KIND_UNSPECIFIED:
            g = message.granted_by
            granted_by = Grant(
                kind=_known(_GRANT_KINDS, g.kind, "granted_by.kind"),
                index=_index(g.index, "granted_by.index"),
                object_id=g.object_id or None,
                application_id=g.application_id or None,
                id=g.id or None,
                role=g.role or None,
                role_definition_id=g.role_definition_id or None,
            )
        caller = None
        if message.HasField("caller"):
            c = message.caller
            caller = Caller(c.object_id, c.application_id, c.tenant_id, c.issuer)
        return cls(
            allowed=allowed,
            http_status=message.http_status,
            code=code,
            inner_code=_known(_INNER_CODES, message.inner_code, "inner_code") if message.inner_code else None,
            stage=_known(_STAGES, message.stage, "stage"),
            message=message.message,
            admitted_by=admitted_by,
            granted_by=granted_by,
            required=message.required or None,
            www_authenticate=message.www_authenticate or None,
            revision=Revision(message.revision.sequence, message.revision.hash),
            caller=caller,
        )


def _unreadable(message: str) -> MoatError:
    return MoatError(ErrorKind.PROTOCOL_VIOLATION, f"unreadable answer: {message}", StatusCode.INTERNAL)


def _known(names: dict[int, str], number: int, field_name: str) -> str:
    if number not in names:
        raise _unreadable(f"{field_name} holds {number}, which Moat does not know")
    return names[number]


def _index(number: int, field_name: str) -> int:
    if number < 0:
        raise _unreadable(f"{field_name} holds {number}, not a position in the document")
    return number


class Outcome(enum.Enum):
    """The three outcomes of a check."""

    ALLOWED = "allowed"
    DENIED = "denied"
    COULD_NOT_DECIDE = "could not decide"


@dataclass(frozen=True)
class CheckResult:
    """A check's answer as a caller uses it: a decision, or the error that prevented one.

    ``allowed`` is the decision's, or, when no decision came, true only under
    :attr:`FailurePolicy.OPEN` for an availability failure (``failed_open``). ``str(result)`` is
    what ``moatctl check`` prints: the decision JSON, or ``{"error": {"code", "message"}}``.
    """

    decision: Decision | None
    error: MoatError | None
    policy: FailurePolicy = FailurePolicy.CLOSED

    @property
    def outcome(self) -> Outcome:
        if self.decision is None:
            return Outcome.COULD_NOT_DECIDE
        return Outcome.ALLOWED if self.decision.allowed else Outcome.DENIED

    @property
    def failed_open(self) -> bool:
        """True when allowed only because the daemon was unavailable and the policy is open."""
        return (
            self.error is not None
            and self.policy is FailurePolicy.OPEN
            and self.error.fault is Fault.AVAILABILITY
        )

    @property
    def allowed(self) -> bool:
        """Whether the caller may proceed."""
        return self.decision.allowed if self.decision is not None else self.failed_open

    def __str__(self) -> str:
        if self.decision is not None:
            return str(self.decision)
        assert self.error is not None
        return json.dumps(self.error.to_json(), indent=2, ensure_ascii=False)


@dataclass(frozen=True)
class Pong:
    """The daemon's answer to a ping: whether it has rules (``ready``), and their revision."""

    ready: bool
    revision: Revision | None
