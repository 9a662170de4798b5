from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Operation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OPERATION_UNSPECIFIED: _ClassVar[Operation]
    OPERATION_GET_SECRET: _ClassVar[Operation]
    OPERATION_GET_SECRETS: _ClassVar[Operation]
    OPERATION_GET_SECRET_VERSIONS: _ClassVar[Operation]
    OPERATION_SET_SECRET: _ClassVar[Operation]
    OPERATION_UPDATE_SECRET: _ClassVar[Operation]
    OPERATION_DELETE_SECRET: _ClassVar[Operation]
    OPERATION_BACKUP_SECRET: _ClassVar[Operation]
    OPERATION_RESTORE_SECRET: _ClassVar[Operation]
    OPERATION_GET_DELETED_SECRET: _ClassVar[Operation]
    OPERATION_GET_DELETED_SECRETS: _ClassVar[Operation]
    OPERATION_RECOVER_DELETED_SECRET: _ClassVar[Operation]
    OPERATION_PURGE_DELETED_SECRET: _ClassVar[Operation]
    OPERATION_GET_KEY: _ClassVar[Operation]
    OPERATION_GET_KEYS: _ClassVar[Operation]
    OPERATION_GET_KEY_VERSIONS: _ClassVar[Operation]
    OPERATION_CREATE_KEY: _ClassVar[Operation]
    OPERATION_IMPORT_KEY: _ClassVar[Operation]
    OPERATION_UPDATE_KEY: _ClassVar[Operation]
    OPERATION_DELETE_KEY: _ClassVar[Operation]
    OPERATION_BACKUP_KEY: _ClassVar[Operation]
    OPERATION_RESTORE_KEY: _ClassVar[Operation]
    OPERATION_GET_DELETED_KEY: _ClassVar[Operation]
    OPERATION_GET_DELETED_KEYS: _ClassVar[Operation]
    OPERATION_RECOVER_DELETED_KEY: _ClassVar[Operation]
    OPERATION_PURGE_DELETED_KEY: _ClassVar[Operation]
    OPERATION_ENCRYPT: _ClassVar[Operation]
    OPERATION_DECRYPT: _ClassVar[Operation]
    OPERATION_SIGN: _ClassVar[Operation]
    OPERATION_VERIFY: _ClassVar[Operation]
    OPERATION_WRAP_KEY: _ClassVar[Operation]
    OPERATION_UNWRAP_KEY: _ClassVar[Operation]
    OPERATION_RELEASE: _ClassVar[Operation]
    OPERATION_ROTATE_KEY: _ClassVar[Operation]
    OPERATION_GET_KEY_ROTATION_POLICY: _ClassVar[Operation]
    OPERATION_UPDATE_KEY_ROTATION_POLICY: _ClassVar[Operation]
    OPERATION_GET_CERTIFICATE: _ClassVar[Operation]
    OPERATION_GET_CERTIFICATES: _ClassVar[Operation]
    OPERATION_GET_CERTIFICATE_VERSIONS: _ClassVar[Operation]
    OPERATION_GET_CERTIFICATE_POLICY: _ClassVar[Operation]
    OPERATION_UPDATE_CERTIFICATE_POLICY: _ClassVar[Operation]
    OPERATION_CREATE_CERTIFICATE: _ClassVar[Operation]
    OPERATION_IMPORT_CERTIFICATE: _ClassVar[Operation]
    OPERATION_UPDATE_CERTIFICATE: _ClassVar[Operation]
    OPERATION_MERGE_CERTIFICATE: _ClassVar[Operation]
    OPERATION_DELETE_CERTIFICATE: _ClassVar[Operation]
    OPERATION_GET_CERTIFICATE_OPERATION: _ClassVar[Operation]
    OPERATION_UPDATE_CERTIFICATE_OPERATION: _ClassVar[Operation]
    OPERATION_DELETE_CERTIFICATE_OPERATION: _ClassVar[Operation]
    OPERATION_BACKUP_CERTIFICATE: _ClassVar[Operation]
    OPERATION_RESTORE_CERTIFICATE: _ClassVar[Operation]
    OPERATION_GET_DELETED_CERTIFICATE: _ClassVar[Operation]
    OPERATION_GET_DELETED_CERTIFICATES: _ClassVar[Operation]
    OPERATION_RECOVER_DELETED_CERTIFICATE: _ClassVar[Operation]
    OPERATION_PURGE_DELETED_CERTIFICATE: _ClassVar[Operation]
    OPERATION_GET_CERTIFICATE_CONTACTS: _ClassVar[Operation]
    OPERATION_SET_CERTIFICATE_CONTACTS: _ClassVar[Operation]
    OPERATION_DELETE_CERTIFICATE_CONTACTS: _ClassVar[Operation]
    OPERATION_GET_CERTIFICATE_ISSUER: _ClassVar[Operation]
    OPERATION_GET_CERTIFICATE_ISSUERS: _ClassVar[Operation]
    OPERATION_SET_CERTIFICATE_ISSUER: _ClassVar[Operation]
    OPERATION_UPDATE_CERTIFICATE_ISSUER: _ClassVar[Operation]
    OPERATION_DELETE_CERTIFICATE_ISSUER: _ClassVar[Operation]
    OPERATION_GET_STORAGE_ACCOUNT: _ClassVar[Operation]
    OPERATION_GET_STORAGE_ACCOUNTS: _ClassVar[Operation]
    OPERATION_SET_STORAGE_ACCOUNT: _ClassVar[Operation]
    OPERATION_UPDATE_STORAGE_ACCOUNT: _ClassVar[Operation]
    OPERATION_DELETE_STORAGE_ACCOUNT: _ClassVar[Operation]
    OPERATION_REGENERATE_STORAGE_ACCOUNT_KEY: _ClassVar[Operation]
    OPERATION_BACKUP_STORAGE_ACCOUNT: _ClassVar[Operation]
    OPERATION_RESTORE_STORAGE_ACCOUNT: _ClassVar[Operation]
    OPERATION_GET_DELETED_STORAGE_ACCOUNT: _ClassVar[Operation]
    OPERATION_GET_DELETED_STORAGE_ACCOUNTS: _ClassVar[Operation]
    OPERATION_RECOVER_DELETED_STORAGE_ACCOUNT: _ClassVar[Operation]
    OPERATION_PURGE_DELETED_STORAGE_ACCOUNT: _ClassVar[Operation]
    OPERATION_GET_SAS_DEFINITION: _ClassVar[Operation]
    OPERATION_GET_SAS_DEFINITIONS: _ClassVar[Operation]
    OPERATION_SET_SAS_DEFINITION: _ClassVar[Operation]
    OPERATION_UPDATE_SAS_DEFINITION: _ClassVar[Operation]
    OPERATION_DELETE_SAS_DEFINITION: _ClassVar[Operation]
    OPERATION_GET_DELETED_SAS_DEFINITION: _ClassVar[Operation]
    OPERATION_GET_DELETED_SAS_DEFINITIONS: _ClassVar[Operation]
    OPERATION_RECOVER_DELETED_SAS_DEFINITION: _ClassVar[Operation]
    OPERATION_VAULTS_READ: _ClassVar[Operation]
    OPERATION_VAULTS_WRITE: _ClassVar[Operation]
    OPERATION_VAULTS_DELETE: _ClassVar[Operation]
    OPERATION_VAULTS_ACCESS_POLICIES_WRITE: _ClassVar[Operation]

class Decision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECISION_UNSPECIFIED: _ClassVar[Decision]
    DECISION_ALLOW: _ClassVar[Decision]
    DECISION_DENY: _ClassVar[Decision]

class ResultCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESULT_CODE_UNSPECIFIED: _ClassVar[ResultCode]
    RESULT_CODE_OK: _ClassVar[ResultCode]
    RESULT_CODE_BAD_PARAMETER: _ClassVar[ResultCode]
    RESULT_CODE_VAULT_NOT_FOUND: _ClassVar[ResultCode]
    RESULT_CODE_UNAUTHORIZED: _ClassVar[ResultCode]
    RESULT_CODE_FORBIDDEN: _ClassVar[ResultCode]

class InnerCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INNER_CODE_UNSPECIFIED: _ClassVar[InnerCode]
    INNER_CODE_MISSING_TOKEN: _ClassVar[InnerCode]
    INNER_CODE_INVALID_TOKEN: _ClassVar[InnerCode]
    INNER_CODE_TOKEN_EXPIRED: _ClassVar[InnerCode]
    INNER_CODE_INVALID_AUDIENCE: _ClassVar[InnerCode]
    INNER_CODE_INVALID_ISSUER: _ClassVar[InnerCode]
    INNER_CODE_FORBIDDEN_BY_CONNECTION: _ClassVar[InnerCode]
    INNER_CODE_FORBIDDEN_BY_FIREWALL: _ClassVar[InnerCode]
    INNER_CODE_FORBIDDEN_BY_PERIMETER: _ClassVar[InnerCode]
    INNER_CODE_ACCESS_DENIED: _ClassVar[InnerCode]
    INNER_CODE_FORBIDDEN_BY_POLICY: _ClassVar[InnerCode]
    INNER_CODE_FORBIDDEN_BY_RBAC: _ClassVar[InnerCode]

class Stage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STAGE_UNSPECIFIED: _ClassVar[Stage]
    STAGE_REQUEST: _ClassVar[Stage]
    STAGE_VAULT: _ClassVar[Stage]
    STAGE_AUTHENTICATION: _ClassVar[Stage]
    STAGE_NETWORK: _ClassVar[Stage]
    STAGE_AUTHORIZATION: _ClassVar[Stage]
    STAGE_ALLOW: _ClassVar[Stage]

class AdmissionKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ADMISSION_KIND_UNSPECIFIED: _ClassVar[AdmissionKind]
    ADMISSION_KIND_PRIVATE_ENDPOINT: _ClassVar[AdmissionKind]
    ADMISSION_KIND_DEFAULT_ALLOW: _ClassVar[AdmissionKind]
    ADMISSION_KIND_IP_RULE: _ClassVar[AdmissionKind]
    ADMISSION_KIND_VIRTUAL_NETWORK_RULE: _ClassVar[AdmissionKind]
    ADMISSION_KIND_TRUSTED_SERVICE: _ClassVar[AdmissionKind]
    ADMISSION_KIND_PERIMETER: _ClassVar[AdmissionKind]
    ADMISSION_KIND_NOT_APPLICABLE: _ClassVar[AdmissionKind]

class TrustedServiceMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRUSTED_SERVICE_MODE_UNSPECIFIED: _ClassVar[TrustedServiceMode]
    TRUSTED_SERVICE_MODE_MANAGED_IDENTITY: _ClassVar[TrustedServiceMode]
    TRUSTED_SERVICE_MODE_SUBSCRIPTION: _ClassVar[TrustedServiceMode]
    TRUSTED_SERVICE_MODE_FEDERATED: _ClassVar[TrustedServiceMode]

class GrantKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GRANT_KIND_UNSPECIFIED: _ClassVar[GrantKind]
    GRANT_KIND_ACCESS_POLICY: _ClassVar[GrantKind]
    GRANT_KIND_ROLE_ASSIGNMENT: _ClassVar[GrantKind]
OPERATION_UNSPECIFIED: Operation
OPERATION_GET_SECRET: Operation
OPERATION_GET_SECRETS: Operation
OPERATION_GET_SECRET_VERSIONS: Operation
OPERATION_SET_SECRET: Operation
OPERATION_UPDATE_SECRET: Operation
OPERATION_DELETE_SECRET: Operation
OPERATION_BACKUP_SECRET: Operation
OPERATION_RESTORE_SECRET: Operation
OPERATION_GET_DELETED_SECRET: Operation
OPERATION_GET_DELETED_SECRETS: Operation
OPERATION_RECOVER_DELETED_SECRET: Operation
OPERATION_PURGE_DELETED_SECRET: Operation
OPERATION_GET_KEY: Operation
OPERATION_GET_KEYS: Operation
OPERATION_GET_KEY_VERSIONS: Operation
OPERATION_CREATE_KEY: Operation
OPERATION_IMPORT_KEY: Operation
OPERATION_UPDATE_KEY: Operation
OPERATION_DELETE_KEY: Operation
OPERATION_BACKUP_KEY: Operation
OPERATION_RESTORE_KEY: Operation
OPERATION_GET_DELETED_KEY: Operation
OPERATION_GET_DELETED_KEYS: Operation
OPERATION_RECOVER_DELETED_KEY: Operation
OPERATION_PURGE_DELETED_KEY: Operation
OPERATION_ENCRYPT: Operation
OPERATION_DECRYPT: Operation
OPERATION_SIGN: Operation
OPERATION_VERIFY: Operation
OPERATION_WRAP_KEY: Operation
OPERATION_UNWRAP_KEY: Operation
OPERATION_RELEASE: Operation
OPERATION_ROTATE_KEY: Operation
OPERATION_GET_KEY_ROTATION_POLICY: Operation
OPERATION_UPDATE_KEY_ROTATION_POLICY: Operation
OPERATION_GET_CERTIFICATE: Operation
OPERATION_GET_CERTIFICATES: Operation
OPERATION_GET_CERTIFICATE_VERSIONS: Operation
OPERATION_GET_CERTIFICATE_POLICY: Operation
OPERATION_UPDATE_CERTIFICATE_POLICY: Operation
OPERATION_CREATE_CERTIFICATE: Operation
OPERATION_IMPORT_CERTIFICATE: Operation
OPERATION_UPDATE_CERTIFICATE: Operation
OPERATION_MERGE_CERTIFICATE: Operation
OPERATION_DELETE_CERTIFICATE: Operation
OPERATION_GET_CERTIFICATE_OPERATION: Operation
OPERATION_UPDATE_CERTIFICATE_OPERATION: Operation
OPERATION_DELETE_CERTIFICATE_OPERATION: Operation
OPERATION_BACKUP_CERTIFICATE: Operation
OPERATION_RESTORE_CERTIFICATE: Operation
OPERATION_GET_DELETED_CERTIFICATE: Operation
OPERATION_GET_DELETED_CERTIFICATES: Operation
OPERATION_RECOVER_DELETED_CERTIFICATE: Operation
OPERATION_PURGE_DELETED_CERTIFICATE: Operation
OPERATION_GET_CERTIFICATE_CONTACTS: Operation
OPERATION_SET_CERTIFICATE_CONTACTS: Operation
OPERATION_DELETE_CERTIFICATE_CONTACTS: Operation
OPERATION_GET_CERTIFICATE_ISSUER: Operation
OPERATION_GET_CERTIFICATE_ISSUERS: Operation
OPERATION_SET_CERTIFICATE_ISSUER: Operation
OPERATION_UPDATE_CERTIFICATE_ISSUER: Operation
OPERATION_DELETE_CERTIFICATE_ISSUER: Operation
OPERATION_GET_STORAGE_ACCOUNT: Operation
OPERATION_GET_STORAGE_ACCOUNTS: Operation
OPERATION_SET_STORAGE_ACCOUNT: Operation
OPERATION_UPDATE_STORAGE_ACCOUNT: Operation
OPERATION_DELETE_STORAGE_ACCOUNT: Operation
OPERATION_REGENERATE_STORAGE_ACCOUNT_KEY: Operation
OPERATION_BACKUP_STORAGE_ACCOUNT: Operation
OPERATION_RESTORE_STORAGE_ACCOUNT: Operation
OPERATION_GET_DELETED_STORAGE_ACCOUNT: Operation
OPERATION_GET_DELETED_STORAGE_ACCOUNTS: Operation
OPERATION_RECOVER_DELETED_STORAGE_ACCOUNT: Operation
OPERATION_PURGE_DELETED_STORAGE_ACCOUNT: Operation
OPERATION_GET_SAS_DEFINITION: Operation
OPERATION_GET_SAS_DEFINITIONS: Operation
OPERATION_SET_SAS_DEFINITION: Operation
OPERATION_UPDATE_SAS_DEFINITION: Operation
OPERATION_DELETE_SAS_DEFINITION: Operation
OPERATION_GET_DELETED_SAS_DEFINITION: Operation
OPERATION_GET_DELETED_SAS_DEFINITIONS: Operation
OPERATION_RECOVER_DELETED_SAS_DEFINITION: Operation
OPERATION_VAULTS_READ: Operation
OPERATION_VAULTS_WRITE: Operation
OPERATION_VAULTS_DELETE: Operation
OPERATION_VAULTS_ACCESS_POLICIES_WRITE: Operation
DECISION_UNSPECIFIED: Decision
DECISION_ALLOW: Decision
DECISION_DENY: Decision
RESULT_CODE_UNSPECIFIED: ResultCode
RESULT_CODE_OK: ResultCode
RESULT_CODE_BAD_PARAMETER: ResultCode
RESULT_CODE_VAULT_NOT_FOUND: ResultCode
RESULT_CODE_UNAUTHORIZED: ResultCode
RESULT_CODE_FORBIDDEN: ResultCode
INNER_CODE_UNSPECIFIED: InnerCode
INNER_CODE_MISSING_TOKEN: InnerCode
INNER_CODE_INVALID_TOKEN: InnerCode
INNER_CODE_TOKEN_EXPIRED: InnerCode
INNER_CODE_INVALID_AUDIENCE: InnerCode
INNER_CODE_INVALID_ISSUER: InnerCode
INNER_CODE_FORBIDDEN_BY_CONNECTION: InnerCode
INNER_CODE_FORBIDDEN_BY_FIREWALL: InnerCode
INNER_CODE_FORBIDDEN_BY_PERIMETER: InnerCode
INNER_CODE_ACCESS_DENIED: InnerCode
INNER_CODE_FORBIDDEN_BY_POLICY: InnerCode
INNER_CODE_FORBIDDEN_BY_RBAC: InnerCode
STAGE_UNSPECIFIED: Stage
STAGE_REQUEST: Stage
STAGE_VAULT: Stage
STAGE_AUTHENTICATION: Stage
STAGE_NETWORK: Stage
STAGE_AUTHORIZATION: Stage
STAGE_ALLOW: Stage
ADMISSION_KIND_UNSPECIFIED: AdmissionKind
ADMISSION_KIND_PRIVATE_ENDPOINT: AdmissionKind
ADMISSION_KIND_DEFAULT_ALLOW: AdmissionKind
ADMISSION_KIND_IP_RULE: AdmissionKind
ADMISSION_KIND_VIRTUAL_NETWORK_RULE: AdmissionKind
ADMISSION_KIND_TRUSTED_SERVICE: AdmissionKind
ADMISSION_KIND_PERIMETER: AdmissionKind
ADMISSION_KIND_NOT_APPLICABLE: AdmissionKind
TRUSTED_SERVICE_MODE_UNSPECIFIED: TrustedServiceMode
TRUSTED_SERVICE_MODE_MANAGED_IDENTITY: TrustedServiceMode
TRUSTED_SERVICE_MODE_SUBSCRIPTION: TrustedServiceMode
TRUSTED_SERVICE_MODE_FEDERATED: TrustedServiceMode
GRANT_KIND_UNSPECIFIED: GrantKind
GRANT_KIND_ACCESS_POLICY: GrantKind
GRANT_KIND_ROLE_ASSIGNMENT: GrantKind

class AssertedIdentity(_message.Message):
    __slots__ = ("oid", "appid", "tid", "groups", "xms_mirid")
    OID_FIELD_NUMBER: _ClassVar[int]
    APPID_FIELD_NUMBER: _ClassVar[int]
    TID_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    XMS_MIRID_FIELD_NUMBER: _ClassVar[int]
    oid: str
    appid: str
    tid: str
    groups: _containers.RepeatedScalarFieldContainer[str]
    xms_mirid: str
    def __init__(self, oid: _Optional[str] = ..., appid: _Optional[str] = ..., tid: _Optional[str] = ..., groups: _Optional[_Iterable[str]] = ..., xms_mirid: _Optional[str] = ...) -> None: ...

class CheckRequest(_message.Message):
    __slots__ = ("vault", "operation", "object_name", "source_address", "subnet_id", "private_endpoint_id", "token", "request_id", "timeout_micros", "asserted_identity")
    VAULT_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    OBJECT_NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SUBNET_ID_FIELD_NUMBER: _ClassVar[int]
    PRIVATE_ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MICROS_FIELD_NUMBER: _ClassVar[int]
    ASSERTED_IDENTITY_FIELD_NUMBER: _ClassVar[int]
    vault: str
    operation: Operation
    object_name: str
    source_address: str
    subnet_id: str
    private_endpoint_id: str
    token: str
    request_id: str
    timeout_micros: int
    asserted_identity: AssertedIdentity
    def __init__(self, vault: _Optional[str] = ..., operation: _Optional[_Union[Operation, str]] = ..., object_name: _Optional[str] = ..., source_address: _Optional[str] = ..., subnet_id: _Optional[str] = ..., private_endpoint_id: _Optional[str] = ..., token: _Optional[str] = ..., request_id: _Optional[str] = ..., timeout_micros: _Optional[int] = ..., asserted_identity: _Optional[_Union[AssertedIdentity, _Mapping]] = ...) -> None: ...

class Admission(_message.Message):
    __slots__ = ("kind", "index", "rule", "service", "mode")
    KIND_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    kind: AdmissionKind
    index: int
    rule: str
    service: str
    mode: TrustedServiceMode
    def __init__(self, kind: _Optional[_Union[AdmissionKind, str]] = ..., index: _Optional[int] = ..., rule: _Optional[str] = ..., service: _Optional[str] = ..., mode: _Optional[_Union[TrustedServiceMode, str]] = ...) -> None: ...

class Grant(_message.Message):
    __slots__ = ("kind", "index", "object_id", "application_id", "id", "role", "role_definition_id")
    KIND_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    APPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    ROLE_DEFINITION_ID_FIELD_NUMBER: _ClassVar[int]
    kind: GrantKind
    index: int
    object_id: str
    application_id: str
    id: str
    role: str
    role_definition_id: str
    def __init__(self, kind: _Optional[_Union[GrantKind, str]] = ..., index: _Optional[int] = ..., object_id: _Optional[str] = ..., application_id: _Optional[str] = ..., id: _Optional[str] = ..., role: _Optional[str] = ..., role_definition_id: _Optional[str] = ...) -> None: ...

class Revision(_message.Message):
    __slots__ = ("sequence", "hash")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    hash: str
    def __init__(self, sequence: _Optional[int] = ..., hash: _Optional[str] = ...) -> None: ...

class Caller(_message.Message):
    __slots__ = ("object_id", "application_id", "tenant_id", "issuer")
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    APPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    object_id: str
    application_id: str
    tenant_id: str
    issuer: str
    def __init__(self, object_id: _Optional[str] = ..., application_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., issuer: _Optional[str] = ...) -> None: ...

class CheckResponse(_message.Message):
    __slots__ = ("decision", "http_status", "code", "inner_code", "message", "stage", "admitted_by", "granted_by", "required", "www_authenticate", "revision", "caller", "error")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    HTTP_STATUS_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    INNER_CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    ADMITTED_BY_FIELD_NUMBER: _ClassVar[int]
    GRANTED_BY_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    WWW_AUTHENTICATE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    decision: Decision
    http_status: int
    code: ResultCode
    inner_code: InnerCode
    message: str
    stage: Stage
    admitted_by: Admission
    granted_by: Grant
    required: str
    www_authenticate: str
    revision: Revision
    caller: Caller
    error: Error
    def __init__(self, decision: _Optional[_Union[Decision, str]] = ..., http_status: _Optional[int] = ..., code: _Optional[_Union[ResultCode, str]] = ..., inner_code: _Optional[_Union[InnerCode, str]] = ..., message: _Optional[str] = ..., stage: _Optional[_Union[Stage, str]] = ..., admitted_by: _Optional[_Union[Admission, _Mapping]] = ..., granted_by: _Optional[_Union[Grant, _Mapping]] = ..., required: _Optional[str] = ..., www_authenticate: _Optional[str] = ..., revision: _Optional[_Union[Revision, _Mapping]] = ..., caller: _Optional[_Union[Caller, _Mapping]] = ..., error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...

class CheckBatchRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[CheckRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[CheckRequest, _Mapping]]] = ...) -> None: ...

class CheckBatchResponse(_message.Message):
    __slots__ = ("responses",)
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    responses: _containers.RepeatedCompositeFieldContainer[CheckResponse]
    def __init__(self, responses: _Optional[_Iterable[_Union[CheckResponse, _Mapping]]] = ...) -> None: ...

class Ping(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Pong(_message.Message):
    __slots__ = ("ready", "revision")
    READY_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    ready: bool
    revision: Revision
    def __init__(self, ready: _Optional[bool] = ..., revision: _Optional[_Union[Revision, _Mapping]] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("code", "message", "details")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    details: _containers.RepeatedCompositeFieldContainer[ErrorDetail]
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ..., details: _Optional[_Iterable[_Union[ErrorDetail, _Mapping]]] = ...) -> None: ...

class ErrorDetail(_message.Message):
    __slots__ = ("path", "message")
    PATH_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    path: str
    message: str
    def __init__(self, path: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...
