"""Stable error codes and the RFC 9457 problem document.

Exception tree of this package::

    SchemaError                 code: schema.*
    ├── IdentifierError         a malformed identifier or a wrong check character
    └── RecordInvalid           a record that does not match its resource schema

Codes are stable snake_case strings, ``<package>.<reason>``; clients key on them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ErrorCode", "IdentifierError", "Problem", "RecordInvalid", "SchemaError"]


class ErrorCode(StrEnum):
    """Every stable error code govex returns (API ``code``, CLI message prefix)."""

    # schema.*
    INVALID_IDENTIFIER = "schema.invalid_identifier"
    UNKNOWN_PROVINCE = "schema.unknown_province"  # a region code's first two digits (GB/T 2260)
    REGION_NOT_IN_USE = "schema.region_not_in_use"  # an ID number's region not in use at birth
    INVALID_RECORD = "schema.invalid_record"
    INVALID_REQUEST = "schema.invalid_request"
    MALFORMED_JSON = "schema.malformed_json"
    UNKNOWN_RESOURCE = "schema.unknown_resource"
    UNKNOWN_CERTIFICATE_TYPE = "schema.unknown_certificate_type"
    UNKNOWN_MATTER = "schema.unknown_matter"
    INVALID_TEXT = "schema.invalid_text"
    TOO_LONG = "schema.too_long"
    # signing.*
    NON_CANONICAL_JSON = "signing.non_canonical_json"
    INVALID_PROOF = "signing.invalid_proof"
    INVALID_SEAL = "signing.invalid_seal"
    SEAL_IN_FUTURE = "signing.seal_in_future"
    INVALID_KEY = "signing.invalid_key"
    UNTRUSTED_ISSUER = "signing.untrusted_issuer"
    INVALID_MERKLE_PROOF = "signing.invalid_merkle_proof"
    INVALID_CHECKPOINT = "signing.invalid_checkpoint"
    KEY_PURPOSE = "signing.key_purpose"
    KEY_REVOKED = "signing.key_revoked"
    # exchange.*
    UNAUTHENTICATED = "exchange.unauthenticated"
    INVALID_TOKEN = "exchange.invalid_token"  # noqa: S105 - an error code, not a secret
    REPLAY = "exchange.replay"  # a client assertion's jti came again before it expired
    FORBIDDEN = "exchange.forbidden"
    ROLE_FORBIDDEN = "exchange.role_forbidden"
    NOT_OWNER = "exchange.not_owner"
    GRANT_MISSING = "exchange.grant_missing"
    NOT_SHARED = "exchange.not_shared"
    PURPOSE_REQUIRED = "exchange.purpose_required"
    NOT_FOUND = "exchange.not_found"
    NO_SUCH_TILE = "exchange.no_such_tile"  # a tlog-tiles path that is malformed or past the log
    UNKNOWN_DEPARTMENT = "exchange.unknown_department"
    DEPARTMENT_INACTIVE = "exchange.department_inactive"
    EXCHANGE_UNREACHABLE = "exchange.unreachable"
    INVALID_DEPARTMENT = "exchange.invalid_department"  # a department's code or name
    INVALID_REASON = "exchange.invalid_reason"  # the reason an operator gives for a change
    CONFLICT = "exchange.conflict"
    TOO_MANY_WITNESSES = "exchange.too_many_witnesses"  # a checkpoint holds ≤ 16 cosignatures
    PAYLOAD_TOO_LARGE = "exchange.payload_too_large"
    REQUEST_HEAD_TOO_LARGE = "exchange.request_head_too_large"  # 431: headers beyond the cap
    MALFORMED_REQUEST = "exchange.malformed_request"  # 400: bytes that are not HTTP/1.1
    STORE_LOCKED = "exchange.store_locked"
    STORE_NOT_INITIALISED = "exchange.store_not_initialised"
    STORE_UNAVAILABLE = "exchange.store_unavailable"
    AUDIT_UNAVAILABLE = "exchange.audit_unavailable"
    AUDIT_DISK_FULL = "exchange.audit_disk_full"
    BUS_UNAVAILABLE = "exchange.bus_unavailable"
    BUS_TOPIC_MISMATCH = "exchange.bus_topic_mismatch"  # a batch on another resource's topic
    BUS_INGEST_FAILED = "exchange.bus_ingest_failed"  # a message that fails to ingest, bounded
    CATCHING_UP = "exchange.catching_up"  # reads refused while this node's bus lag is high
    NODE_BEHIND = "exchange.node_behind"  # this node has not applied the control offset asked for
    NOT_A_CLUSTER = "exchange.not_a_cluster"  # a cluster command on a node not in one
    NOT_IN_CLUSTER = "exchange.not_in_cluster"  # a command a cluster node does not take (yet)
    NODE_DRAINING = "exchange.node_draining"  # this cluster node is draining: ask another
    NODE_ID_TAKEN = "exchange.node_id_taken"  # a live node elsewhere has this --node-id
    NODE_LIVE = "exchange.node_live"  # a node removed from the cluster must be stopped first
    NODE_UNKNOWN = "exchange.node_unknown"  # no node of that id was heard of
    CONTROL_UNAVAILABLE = "exchange.control_unavailable"  # a control event could not be published
    BUS_UNSAFE = "exchange.bus_unsafe"  # an unauthenticated bus off loopback, under-replicated
    METHOD_NOT_ALLOWED = "exchange.method_not_allowed"
    RATE_LIMITED = "exchange.rate_limited"
    CERTIFICATE_REFUSED = "exchange.certificate_refused"
    INTERNAL = "exchange.internal"  # an unexpected failure (500), logged and audited
    INVALID_PURPOSE = "exchange.invalid_purpose"
    INVALID_CASE_NUMBER = "exchange.invalid_case_number"
    INVALID_EXPIRY = "exchange.invalid_expiry"
    GRANT_NOT_APPLICABLE = "exchange.grant_not_applicable"
    UNKNOWN_FIELD = "exchange.unknown_field"
    UNSUPPORTED_GRANT_TYPE = "exchange.unsupported_grant_type"
    INVALID_COSIGNATURE = "exchange.invalid_cosignature"
    INVALID_TREE_SIZE = "exchange.invalid_tree_size"
    INVALID_ENTRY_INDEX = "exchange.invalid_entry_index"
    AUDIT_INCOMPLETE = "exchange.audit_incomplete"
    ARCHIVE_TOO_RECENT = "exchange.archive_too_recent"
    INVALID_VALIDITY = "exchange.invalid_validity"
    INVALID_OPTION = "exchange.invalid_option"
    INVALID_BACKUP = "exchange.invalid_backup"
    UNREADABLE_FILE = "exchange.unreadable_file"
    UNWRITABLE_FILE = "exchange.unwritable_file"
    INVALID_FILE = "exchange.invalid_file"
    INVALID_DATE = "exchange.invalid_date"
    INVALID_APPLICANT = "exchange.invalid_applicant"
    CREDENTIAL_REQUIRED = "exchange.credential_required"
    GRANT_ALREADY_DECIDED = "exchange.grant_already_decided"
    PURPOSE_NOT_A_MATTER = "exchange.purpose_not_a_matter"  # a grant purpose no case matches
    GRANT_NOT_APPROVED = "exchange.grant_not_approved"  # revoke/narrow a grant not in force
    GRANT_NOT_NARROWER = "exchange.grant_not_narrower"  # a narrowing that widens or keeps all
    CASE_EXISTS = "exchange.case_exists"
    VERIFIER_BUSY = "exchange.verifier_busy"
    INVALID_ACT = "exchange.invalid_act"  # an RFC 8693 act claim naming no active staff member
    ACT_REQUIRED = "exchange.act_required"  # the department requires the person on its reads
    SIGNIN_FAILED = "exchange.signin_failed"
    ENROLMENT_INVALID = "exchange.enrolment_invalid"
    SESSION_LIMIT = "exchange.session_limit"
    INVALID_STAFF_ID = "exchange.invalid_staff_id"
    INVALID_STAFF_NAME = "exchange.invalid_staff_name"
    INVALID_STAFF_ROLE = "exchange.invalid_staff_role"  # unknown, or none given
    WEAK_PASSWORD = "exchange.weak_password"  # noqa: S105 - an error code, not a secret
    UNENCODABLE_AUDIT_ENTRY = "exchange.unencodable_audit_entry"
    INVALID_DEFINITION = "exchange.invalid_definition"  # a catalog resource definition
    INCOMPATIBLE_SCHEMA = "exchange.incompatible_schema"  # a catalog update that breaks records
    INVALID_ISSUER = "exchange.invalid_issuer"
    UNKNOWN_OPERATION = "exchange.unknown_operation"
    LOCAL_ONLY = "exchange.local_only"
    ADMIN_UNREACHABLE = "exchange.admin_unreachable"
    CITIZEN_SIGN_IN_OFF = "exchange.citizen_sign_in_off"  # no identity provider configured
    CITIZEN_SIGN_IN_FAILED = "exchange.citizen_sign_in_failed"  # the provider's answer refused
    NOT_YOUR_DATA = "exchange.not_your_data"  # a citizen asked for someone else's report
    SUBJECT_IN_URL = "exchange.subject_in_url"  # an ID number in a URL: use the POST form
    # connector.*
    CONNECTOR_CONFIG = "connector.invalid_config"
    SOURCE_UNREADABLE = "connector.source_unreadable"
    PUBLISH_FAILED = "connector.publish_failed"


class SchemaError(Exception):
    """Root of the errors raised by ``schemas``."""

    code: ErrorCode = ErrorCode.INVALID_REQUEST

    def __init__(self, message: str, *, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.code.value


class IdentifierError(SchemaError, ValueError):
    """A malformed identifier, or one whose check character does not match."""

    code = ErrorCode.INVALID_IDENTIFIER


class RecordInvalid(SchemaError):
    """A record that does not match the JSON Schema of its resource."""

    code = ErrorCode.INVALID_RECORD


class Problem(BaseModel):
    """RFC 9457 problem details, with govex's stable ``code`` extension member."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(default="about:blank", description="URI of the problem type")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    code: str = Field(description="stable snake_case error code, e.g. exchange.grant_missing")
    errors: list[dict[str, Any]] | None = None

    @classmethod
    def of(
        cls, code: ErrorCode, status: int, title: str, detail: str | None = None, **extra: Any
    ) -> Problem:
        return cls(
            type=f"https://govex.dev/problems/{code.value.replace('.', '/')}",
            title=title,
            status=status,
            detail=detail,
            code=code.value,
            **extra,
        )
