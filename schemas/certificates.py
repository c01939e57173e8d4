"""E-certificate (电子证照) types and their metadata, after GB/T 36903.

A certificate type (居民身份证, 营业执照, 不动产权证书 …) is defined in
``schemas/certificate_types/<code>.json``: its numeric ``type_code`` (the one in
certificate identifiers, see :func:`schemas.identifiers.make_certificate_id`), the
competent department that may issue it, the kind of holder, and the JSON Schema
of the credential's ``credentialSubject``. Every subject schema starts with the
holder fields of GB/T 36903 (``holder_name`` 持证主体, ``holder_code`` 持证主体代码,
``holder_code_type`` 持证主体代码类型) followed by the type's own fields.

:class:`CertificateMetadata` is the GB/T 36903 metadata block of one issued
certificate, built from a validated subject with
:meth:`CertificateMetadata.from_subject`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from enum import StrEnum
from functools import cache
from typing import Any, Self

import fastjsonschema
from pydantic import Field, PrivateAttr, model_validator

from schemas.base import StrictModel
from schemas.errors import ErrorCode, IdentifierError, RecordInvalid, SchemaError
from schemas.identifiers import (
    Uscc,
    format_checkers,
    make_certificate_id,
    validate_id_number,
    validate_uscc,
)
from schemas.packaged import read_folder

__all__ = [
    "HOLDER_FIELDS",
    "CertificateMetadata",
    "CertificateType",
    "HolderCodeType",
    "HolderKind",
    "certificate_type",
    "certificate_type_by_type_code",
    "load_certificate_types",
]

HOLDER_FIELDS = ("holder_name", "holder_code", "holder_code_type")
"""The GB/T 36903 holder fields every ``credentialSubject`` schema starts with."""

_BIRTH_CERTIFICATE_NO = re.compile(r"[A-Z][0-9]{9}")


class HolderKind(StrEnum):
    """Who holds a certificate (持证主体类型)."""

    PERSON = "person"  # 自然人
    ORGANIZATION = "organization"  # 法人和其他组织


class HolderCodeType(StrEnum):
    """The kind of code identifying the holder (持证主体代码类型)."""

    CITIZEN_ID = "citizen_id"  # 公民身份号码
    USCC = "uscc"  # 统一社会信用代码
    BIRTH_CERTIFICATE_NO = "birth_certificate_no"  # 出生医学证明编号 (newborns)

    @property
    def label(self) -> str:
        return {
            "citizen_id": "公民身份号码",
            "uscc": "统一社会信用代码",
            "birth_certificate_no": "出生医学证明编号",
        }[self.value]

    def validate(self, code: str) -> str:
        """Return the normalised holder code, or raise IdentifierError."""
        if self is HolderCodeType.CITIZEN_ID:
            return validate_id_number(code)
        if self is HolderCodeType.USCC:
            return validate_uscc(code)
        if not _BIRTH_CERTIFICATE_NO.fullmatch(code):
            raise IdentifierError(
                f"birth certificate number {code!r}: must be a capital letter and 9 digits"
            )
        return code


class CertificateType(StrictModel):
    """One certificate type: catalog metadata plus the schema of its subject."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$", examples=["resident_id_card"])
    type_code: str = Field(
        pattern=r"^[0-9]{4,12}$", description="numeric type code used in certificate ids"
    )
    name: str = Field(description="Chinese name, e.g. 居民身份证")
    name_en: str
    department: str = Field(description="code of the competent department that issues it")
    holder_kind: HolderKind
    holder_code_type: HolderCodeType
    source_resource: str | None = Field(
        default=None, description="catalog resource it is usually issued from"
    )
    description: str = ""
    json_schema: dict[str, Any] = Field(alias="schema", description="schema of credentialSubject")

    _validator: Callable[[Any], Any] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _holder_code_fits_kind(self) -> Self:
        organization = self.holder_code_type is HolderCodeType.USCC
        if organization != (self.holder_kind is HolderKind.ORGANIZATION):
            raise ValueError(
                f"certificate type {self.code}: holder code type {self.holder_code_type} "
                f"does not fit holder kind {self.holder_kind}"
            )
        return self

    @property
    def subject_fields(self) -> list[str]:
        """Names of the ``credentialSubject`` fields, holder fields first."""
        return list(self.json_schema.get("properties", {}))

    def compiled(self) -> Callable[[Any], Any]:
        """The compiled subject validator (built once, with govex's format checkers)."""
        if self._validator is None:
            try:
                self._validator = fastjsonschema.compile(
                    self.json_schema, formats=format_checkers()
                )
            except fastjsonschema.JsonSchemaDefinitionException as exc:
                raise SchemaError(
                    f"certificate type {self.code}: subject schema is invalid: {exc}"
                ) from exc
        return self._validator

    def validate_subject(self, subject: Mapping[str, Any]) -> dict[str, Any]:
        """Return ``subject`` as a dict if it matches this type's schema, else raise.

        Raises RecordInvalid naming the first offending field.
        """
        data = dict(subject)
        try:
            self.compiled()(data)
        except fastjsonschema.JsonSchemaValueException as exc:
            where = (exc.name or "data").removeprefix("data").lstrip(".") or "credentialSubject"
            raise RecordInvalid(
                f"{self.name} ({self.code}) subject: {where}: {exc.message}"
            ) from exc
        return data

    def make_id(self, issuer_uscc: str, serial: str | int, version: int = 1) -> str:
        """A GB/T 36904 identifier for a certificate of this type."""
        return make_certificate_id(self.type_code, issuer_uscc, serial, version)


class CertificateMetadata(StrictModel):
    """GB/T 36903 metadata of one issued certificate."""

    type_code: str = Field(pattern=r"^[0-9]{4,12}$", description="证照类型代码")
    holder_name: str = Field(min_length=1, description="持证主体")
    holder_code: str = Field(description="持证主体代码")
    holder_code_type: HolderCodeType = Field(description="持证主体代码类型")
    issuer_name: str = Field(min_length=1, description="颁发机构")
    issuer_uscc: Uscc = Field(description="颁发机构代码")
    issue_date: date = Field(description="颁证日期")
    valid_from: date = Field(description="有效期起始日期")
    valid_until: date | None = Field(default=None, description="有效期截止日期; None: 长期")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        self.holder_code = self.holder_code_type.validate(self.holder_code)
        if self.valid_until is not None and self.valid_until < self.valid_from:
            raise ValueError(
                f"valid_until {self.valid_until} is before valid_from {self.valid_from}"
            )
        return self

    @classmethod
    def from_subject(
        cls,
        certificate_type: CertificateType,
        subject: Mapping[str, Any],
        *,
        issuer_name: str,
        issuer_uscc: str,
        issue_date: date,
        valid_from: date | None = None,
        valid_until: date | None = None,
    ) -> CertificateMetadata:
        """Validate ``subject`` against the type and build the metadata from its holder.

        ``valid_from`` defaults to ``issue_date``; ``valid_until`` None means 长期.
        """
        data = certificate_type.validate_subject(subject)
        return cls(
            type_code=certificate_type.type_code,
            holder_name=data["holder_name"],
            holder_code=data["holder_code"],
            holder_code_type=certificate_type.holder_code_type,
            issuer_name=issuer_name,
            issuer_uscc=issuer_uscc,
            issue_date=issue_date,
            valid_from=valid_from or issue_date,
            valid_until=valid_until,
        )


@cache
def load_certificate_types() -> dict[str, CertificateType]:
    """Load every packaged certificate type, keyed by code; type codes are unique."""
    out: dict[str, CertificateType] = {}
    by_type_code: dict[str, str] = {}
    for name, ctype in read_folder("certificate_types", CertificateType, what="certificate type"):
        if ctype.type_code in by_type_code:
            raise SchemaError(
                f"certificate type file {name}: type code {ctype.type_code} is already "
                f"used by {by_type_code[ctype.type_code]}"
            )
        ctype.compiled()
        by_type_code[ctype.type_code] = ctype.code
        out[ctype.code] = ctype
    return out


def certificate_type(code: str) -> CertificateType:
    """The certificate type with this code, or SchemaError ``unknown_certificate_type``."""
    types = load_certificate_types()
    try:
        return types[code]
    except KeyError:
        raise SchemaError(
            f"unknown certificate type {code!r} (known: {', '.join(sorted(types))})",
            code=ErrorCode.UNKNOWN_CERTIFICATE_TYPE,
        ) from None


def certificate_type_by_type_code(type_code: str) -> CertificateType:
    """The certificate type with this numeric type code (as found in a certificate id)."""
    for ctype in load_certificate_types().values():
        if ctype.type_code == type_code:
            return ctype
    raise SchemaError(
        f"no certificate type has type code {type_code!r}",
        code=ErrorCode.UNKNOWN_CERTIFICATE_TYPE,
    )
