"""Matters (政务服务事项) and the materials they require, for 一件事一次办.

A matter, defined in ``schemas/matters/<code>.json``, lists the materials (申请材料)
an applicant used to bring on paper and, for each, where govex can get it instead:

* ``certificate``: an e-certificate of a given type held by the applicant;
* ``resource``: fields of a shared record, looked up by the applicant's ID number
  or USCC (``lookup: "subject"``) or by the record's key (``lookup: "key"``);
* ``check``: a yes/no answer (核验) from a resource, without reading the record;
* ``applicant``: nothing can stand in for it; the applicant still brings it,
  and ``why`` says so.

The count of materials that are not ``applicant`` is the figure the reform is
measured by (the seeds' 不动产登记: 8 materials → 2). :func:`load_matters` checks
that every referenced certificate type, resource and field exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from functools import cache
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from schemas.base import StrictModel
from schemas.catalog import ResourceDefinition, SharingType, load_resources
from schemas.certificates import CertificateType, load_certificate_types
from schemas.errors import ErrorCode, SchemaError
from schemas.packaged import read_folder

__all__ = [
    "ApplicantRole",
    "ApplicantSource",
    "CertificateSource",
    "CheckSource",
    "Lookup",
    "Material",
    "MaterialSource",
    "Matter",
    "ResourceSource",
    "Service",
    "load_matters",
    "matter",
    "verify_references",
]


class ApplicantRole(StrEnum):
    """Which party of the case a material concerns."""

    APPLICANT = "applicant"  # 申请人 (whoever files the case)
    BUYER = "buyer"  # 买受人
    SPOUSE = "spouse"  # 配偶
    SELLER = "seller"  # 出卖人
    CHILD = "child"  # 新生儿
    MOTHER = "mother"
    FATHER = "father"
    COMPANY = "company"  # 企业 (being opened)
    LEGAL_REPRESENTATIVE = "legal_representative"  # 法定代表人
    SHAREHOLDER = "shareholder"  # 自然人股东
    FINANCIAL_OFFICER = "financial_officer"  # 财务负责人


class Lookup(StrEnum):
    """How a shared record is found for a material."""

    SUBJECT = "subject"  # by the party's ID number / USCC among the resource's subject_fields
    KEY = "key"  # by the resource's key_field, given in the application


class CertificateSource(StrictModel):
    """The material is an e-certificate of this type."""

    kind: Literal["certificate"] = "certificate"
    certificate_type: str


class ResourceSource(StrictModel):
    """The material is replaced by these fields of a shared record."""

    kind: Literal["resource"] = "resource"
    resource: str
    fields: list[str] = Field(min_length=1)
    lookup: Lookup


class CheckSource(StrictModel):
    """The material is replaced by a yes/no answer (核验) from a resource."""

    kind: Literal["check"] = "check"
    resource: str
    question: str = Field(min_length=1)


class ApplicantSource(StrictModel):
    """Nothing stands in for the material: the applicant brings it."""

    kind: Literal["applicant"] = "applicant"
    why: str = Field(min_length=1)


MaterialSource = Annotated[
    CertificateSource | ResourceSource | CheckSource | ApplicantSource,
    Field(discriminator="kind"),
]


class Material(StrictModel):
    """One required material (申请材料) of a matter."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str = Field(description="Chinese name, e.g. 契税完税证明")
    for_role: ApplicantRole
    source: MaterialSource

    @property
    def brought_by_applicant(self) -> bool:
        return isinstance(self.source, ApplicantSource)


class Service(StrictModel):
    """One single service a matter bundles (联办事项) and the register it writes to."""

    name: str
    name_en: str
    department: str
    resource: str | None = None


class Matter(StrictModel):
    """A public service matter (事项) and its materials."""

    code: str = Field(pattern=r"^[a-z]+\.[a-z0-9_]+$", examples=["shichang.business_opening"])
    name: str
    name_en: str
    department: str = Field(description="code of the competent (lead) department")
    description: str = ""
    services: list[Service] = Field(default_factory=list)
    materials: list[Material] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_material_codes(self) -> Self:
        codes = [m.code for m in self.materials]
        duplicates = sorted({c for c in codes if codes.count(c) > 1})
        if duplicates:
            raise ValueError(f"matter {self.code}: duplicate material codes {duplicates}")
        return self

    @property
    def materials_to_bring(self) -> list[Material]:
        """Materials the applicant must still bring, whatever data is shared."""
        return [m for m in self.materials if m.brought_by_applicant]

    @property
    def materials_removed(self) -> int:
        """How many materials shared data and certificates can replace."""
        return len(self.materials) - len(self.materials_to_bring)


def verify_references(
    found: Matter,
    resources: Mapping[str, ResourceDefinition] | None = None,
    certificate_types: Mapping[str, CertificateType] | None = None,
) -> Matter:
    """Return ``found`` if everything it refers to exists, else raise SchemaError.

    Checked against the packaged catalog and certificate types unless others are
    given: each service's resource, each material's certificate type or resource
    (which must be shared), and the fields a resource material reads.
    """
    resources = load_resources() if resources is None else resources
    certificate_types = load_certificate_types() if certificate_types is None else certificate_types
    for service in found.services:
        if service.resource is not None and service.resource not in resources:
            raise SchemaError(
                f"matter {found.code}: service {service.name} names unknown resource "
                f"{service.resource!r}",
                code=ErrorCode.UNKNOWN_RESOURCE,
            )
    for material in found.materials:
        where = f"matter {found.code}, material {material.code}"
        source = material.source
        if isinstance(source, CertificateSource):
            if source.certificate_type not in certificate_types:
                raise SchemaError(
                    f"{where}: unknown certificate type {source.certificate_type!r}",
                    code=ErrorCode.UNKNOWN_CERTIFICATE_TYPE,
                )
        elif isinstance(source, ResourceSource | CheckSource):
            definition = resources.get(source.resource)
            if definition is None:
                raise SchemaError(
                    f"{where}: unknown resource {source.resource!r}",
                    code=ErrorCode.UNKNOWN_RESOURCE,
                )
            if definition.sharing_type is SharingType.NOT_SHARED:
                raise SchemaError(f"{where}: resource {source.resource} is not shared")
            if isinstance(source, ResourceSource):
                unknown = sorted(set(source.fields) - set(definition.field_names))
                if unknown:
                    raise SchemaError(f"{where}: {source.resource} has no fields {unknown}")
    return found


@cache
def load_matters() -> dict[str, Matter]:
    """Load every packaged matter, keyed by code, checking what its materials refer to."""
    resources = load_resources()
    certificate_types = load_certificate_types()
    out: dict[str, Matter] = {}
    for _name, found in read_folder("matters", Matter, what="matter"):
        out[found.code] = verify_references(found, resources, certificate_types)
    return out


def matter(code: str) -> Matter:
    """The matter with this code, or SchemaError ``unknown_matter``."""
    matters = load_matters()
    try:
        return matters[code]
    except KeyError:
        raise SchemaError(
            f"unknown matter {code!r} (known: {', '.join(sorted(matters))})",
            code=ErrorCode.UNKNOWN_MATTER,
        ) from None
