"""govex wire models and data: identifiers, the resource catalog, certificate types, matters.

The names below are re-exported lazily: ``import schemas.errors`` (as ``signing``
does) loads neither pydantic models nor JSON Schemas it does not use.

* :mod:`schemas.base`: :class:`StrictModel`, the base of every wire model (extra fields refused);
* :mod:`schemas.packaged`: reads a packaged folder of JSON definitions (shared by the loaders);
* :mod:`schemas.validation`: the record check against a resource's JSON Schema;
* :mod:`schemas.columns`: format checks over a whole column at once (numpy);
* :mod:`schemas.identifiers`: ID number, USCC, region code, certificate id;
  :mod:`schemas.uscc`: the USCC's parts and check characters (re-exported by identifiers);
* :mod:`schemas.regions`: the province-level table of GB/T 2260 every region check asks, and
  the codes of 信阳 with the years they were in use (``data/regions_xinyang.json``);
* :mod:`schemas.catalog`: resources (政务信息资源目录) and departments;
* :mod:`schemas.certificates`: certificate types and GB/T 36903 metadata;
* :mod:`schemas.matters`: matters and their materials (一件事一次办);
* :mod:`schemas.codes`: the national code tables 性别 and 民族, code → name;
* :mod:`schemas.errors`: the error tree and stable codes;
* :mod:`schemas.text`: text at the boundary (valid Unicode, bounded length).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from schemas.base import StrictModel
    from schemas.catalog import (
        Department,
        ResourceDefinition,
        Role,
        SharingType,
        load_resources,
    )
    from schemas.certificates import (
        CertificateMetadata,
        CertificateType,
        HolderCodeType,
        HolderKind,
        certificate_type,
        load_certificate_types,
    )
    from schemas.errors import ErrorCode, IdentifierError, Problem, RecordInvalid, SchemaError
    from schemas.identifiers import (
        CertificateId,
        CertificateIdParts,
        IdNumber,
        RegionCode,
        Uscc,
        format_checkers,
        make_certificate_id,
        make_id_number,
        make_uscc,
        mask_id_number,
        parse_certificate_id,
        validate_id_number,
        validate_region_code,
        validate_uscc,
    )
    from schemas.matters import Material, Matter, load_matters, matter

_EXPORTS: dict[str, str] = {
    "StrictModel": "base",
    **dict.fromkeys(
        ["Department", "ResourceDefinition", "Role", "SharingType", "load_resources"],
        "catalog",
    ),
    **dict.fromkeys(
        [
            "CertificateMetadata",
            "CertificateType",
            "HolderCodeType",
            "HolderKind",
            "certificate_type",
            "load_certificate_types",
        ],
        "certificates",
    ),
    **dict.fromkeys(
        ["ErrorCode", "IdentifierError", "Problem", "RecordInvalid", "SchemaError"], "errors"
    ),
    **dict.fromkeys(
        [
            "CertificateId",
            "CertificateIdParts",
            "IdNumber",
            "RegionCode",
            "Uscc",
            "format_checkers",
            "make_certificate_id",
            "make_id_number",
            "make_uscc",
            "mask_id_number",
            "parse_certificate_id",
            "validate_id_number",
            "validate_region_code",
            "validate_uscc",
        ],
        "identifiers",
    ),
    **dict.fromkeys(["Material", "Matter", "load_matters", "matter"], "matters"),
}

__all__ = [
    "CertificateId",
    "CertificateIdParts",
    "CertificateMetadata",
    "CertificateType",
    "Department",
    "ErrorCode",
    "HolderCodeType",
    "HolderKind",
    "IdNumber",
    "IdentifierError",
    "Material",
    "Matter",
    "Problem",
    "RecordInvalid",
    "RegionCode",
    "ResourceDefinition",
    "Role",
    "SchemaError",
    "SharingType",
    "StrictModel",
    "Uscc",
    "certificate_type",
    "format_checkers",
    "load_certificate_types",
    "load_matters",
    "load_resources",
    "make_certificate_id",
    "make_id_number",
    "make_uscc",
    "mask_id_number",
    "matter",
    "parse_certificate_id",
    "validate_id_number",
    "validate_region_code",
    "validate_uscc",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'schemas' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
