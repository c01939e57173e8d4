"""The government information resource catalog (政务信息资源目录), after the 2017 catalog guide.

A resource is one shared register (e.g. 公安 居民身份证信息). Its definition file in
``schemas/resources/<code>.json`` carries the catalog metadata and the JSON Schema
of one record; the item list (信息项) is read from the schema's properties, so the
two can never disagree.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from typing import Any

from pydantic import Field

from schemas.base import StrictModel
from schemas.errors import ErrorCode
from schemas.packaged import read_folder

__all__ = [
    "Department",
    "DepartmentPublic",
    "Item",
    "ResourceDefinition",
    "Role",
    "SharingType",
    "UpdateCycle",
    "load_resources",
]


class SharingType(StrEnum):
    """Sharing type of a resource (国发〔2016〕51号)."""

    UNCONDITIONAL = "unconditional"  # 无条件共享
    CONDITIONAL = "conditional"  # 有条件共享
    NOT_SHARED = "not_shared"  # 不予共享

    @property
    def label(self) -> str:
        return {
            "unconditional": "无条件共享",
            "conditional": "有条件共享",
            "not_shared": "不予共享",
        }[self.value]


class UpdateCycle(StrEnum):
    REALTIME = "realtime"  # 实时
    DAILY = "daily"  # 每日
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    YEARLY = "yearly"


class Role(StrEnum):
    """What an authenticated department may do (RELIABILITY A4)."""

    DEPARTMENT = "department"  # publish own registers, read shared data, request grants
    APPROVER = "approver"  # 审批窗口: resolve cases, verify certificates
    AUDITOR = "auditor"  # 审计: read the audit log
    OPERATOR = "operator"  # 运维 (大数据局): catalog, departments, quarantine, metrics


class Item(StrictModel):
    """One information item (信息项) of a resource."""

    name: str
    title: str
    type: str
    format: str | None = None
    required: bool = False
    sensitive: bool = False


class ResourceDefinition(StrictModel):
    """A catalog entry plus the JSON Schema of its records."""

    code: str = Field(pattern=r"^[a-z]+\.[a-z0-9_]+$", examples=["gongan.resident_id_card"])
    catalog_no: str = Field(description="resource code in the catalog, e.g. 411500-GA-00001")
    name: str = Field(description="Chinese name, e.g. 居民身份证信息")
    name_en: str
    owner: str = Field(description="owner department code, e.g. gongan")
    sharing_type: SharingType
    key_field: str
    subject_fields: list[str] = Field(
        description="fields holding the ID number or USCC of the people or companies a record "
        "is about; their keyed hash goes into the audit log"
    )
    sensitive_fields: list[str] = Field(default_factory=list)
    update_cycle: UpdateCycle
    description: str = ""
    json_schema: dict[str, Any] = Field(alias="schema")
    version: str = Field(
        default="1.0",
        pattern=r"^[1-9][0-9]{0,5}\.(0|[1-9][0-9]{0,5})$",
        description="schema version major.minor, numbered by the exchange's catalog "
        "(a new optional field is a minor step, a breaking change a new major)",
    )

    @property
    def items(self) -> list[Item]:
        props: dict[str, Any] = self.json_schema.get("properties", {})
        required = set(self.json_schema.get("required", []))
        return [
            Item(
                name=name,
                title=str(spec.get("title", name)),
                type=str(spec.get("type", "string")),
                format=spec.get("format"),
                required=name in required,
                sensitive=name in self.sensitive_fields,
            )
            for name, spec in props.items()
        ]

    @property
    def field_names(self) -> list[str]:
        return list(self.json_schema.get("properties", {}))


class Department(StrictModel):
    """A registered department (部门)."""

    uscc: str = Field(description="统一社会信用代码 of the department")
    code: str = Field(description="short department code, e.g. gongan")
    name: str
    region: str = Field(description="administrative region code (行政区划代码), 6 digits")
    roles: list[Role]


class DepartmentPublic(Department):
    state: str = Field(default="active", description="active | suspended | removed")
    auth_kids: list[str] = Field(default_factory=list)
    seal_kids: list[str] = Field(default_factory=list)
    cert_kids: list[str] = Field(default_factory=list)


@cache
def load_resources() -> dict[str, ResourceDefinition]:
    """Load every packaged resource definition, keyed by code."""
    out: dict[str, ResourceDefinition] = {}
    for _name, definition in read_folder(
        "resources", ResourceDefinition, what="resource", code=ErrorCode.INVALID_REQUEST
    ):
        out[definition.code] = definition
    return out
