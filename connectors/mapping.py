"""Mapping: department rows onto a catalog resource, declared in the connector config.

For each resource field the config names its source column (or a constant) and a few
transforms, applied in this order::

    raw value → trim → split (text → list) → keep? → code table → date format
              → decimals → case → the JSON type the resource schema wants

``[mapping.fields]`` examples (TOML)::

    name = "姓名"                                              # column, trimmed
    sex = { column = "性别", code_table = "sex" }              # 男/女 → 1/2 (GB/T 2261.1)
    ethnicity = { column = "民族", code_table = "ethnicity" }  # 汉族 → 01 (GB/T 3304)
    birth_date = { column = "出生日期", date_format = "%Y年%m月%d日" }
    valid_until = { column = "有效期至", date_format = "%Y.%m.%d", keep = ["长期"] }
    buyer_names = { column = "买受人", split = ";" }
    area = { column = "面积", decimals = 2 }
    co_ownership = { column = "共有情况", code_table = "co_ownership" }   # a table of the config

The record key is the resource's key field; the version is a constant, an integer
column, or a timestamp column (microseconds since the epoch); the watermark column
drives incremental sync. A row that cannot be mapped becomes a :class:`RowProblem`
whose reason names the column and the value, never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import Field

from schemas.base import StrictModel
from schemas.catalog import ResourceDefinition

from .base import RowProblem, SourceRecord
from .codes import BUILTIN_TABLES
from .columns import Columns, map_columns
from .errors import ConfigError

__all__ = ["FieldSpec", "MappedRecord", "Mapper", "MappingSpec", "VersionSpec"]

Scalar = str | int | bool


class FieldSpec(StrictModel):
    """How one resource field is filled (a bare string in the config means ``column``)."""

    column: str | None = Field(default=None, description="source column / JSON key")
    value: Scalar | None = Field(default=None, description="a constant instead of a column")
    default: Scalar | None = Field(default=None, description="used when the column is empty")
    trim: bool = True
    split: str | None = Field(default=None, description="separator turning text into a list")
    keep: list[str] = Field(default_factory=list, description="values copied unchanged")
    code_table: str | None = Field(default=None, description="sex, ethnicity, or a config table")
    date_format: str | list[str] | None = Field(
        default=None, description="strptime format(s); the value becomes YYYY-MM-DD"
    )
    decimals: int | None = Field(default=None, ge=0, le=8)
    case: Literal["upper", "lower"] | None = None


class VersionSpec(StrictModel):
    """The version of each record, from a column: an integer, or a timestamp."""

    column: str
    kind: Literal["integer", "timestamp"] = "integer"


class MappingSpec(StrictModel):
    """The ``[mapping]`` section of a connector config."""

    fields: dict[str, FieldSpec | str] = Field(min_length=1)
    version: int | VersionSpec = Field(default=1, description="a constant or a column")
    watermark: str | None = Field(default=None, description="column for incremental sync")
    code_tables: dict[str, dict[str, str]] = Field(default_factory=dict)

    def field_specs(self) -> dict[str, FieldSpec]:
        return {
            name: FieldSpec(column=spec) if isinstance(spec, str) else spec
            for name, spec in self.fields.items()
        }


@dataclass(frozen=True, slots=True)
class MappedRecord:
    """A row mapped onto the resource: ready to validate and store in the outbox."""

    line: int
    key: str
    version: int
    data: dict[str, Any]
    watermark: Any = None


class _Bad(Exception):
    """One field of one row cannot be mapped; the message says why."""


def _text(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        raise _Bad("holds binary data, not text")
    return str(value)


def _lookup(fields: Mapping[str, Any], column: str) -> Any:
    if column in fields:
        return fields[column]
    if "." in column:  # nested JSON: "applicant.name"
        value: Any = fields
        for part in column.split("."):
            if not isinstance(value, Mapping) or part not in value:
                return None
            value = value[part]
        return value
    return None


class _FieldMapper:
    """One compiled field: read, transform, coerce; raises _Bad with a plain reason."""

    def __init__(
        self, name: str, spec: FieldSpec, schema: Mapping[str, Any], tables: Mapping[str, Any]
    ) -> None:
        self.name = name
        self.spec = spec
        self.title = str(schema.get("title", name))
        self.kind = str(schema.get("type", "string"))
        self.item_kind = str(schema.get("items", {}).get("type", "string"))
        self.format = schema.get("format")
        self.table: Mapping[str, str] | None = None
        if spec.code_table is not None:
            self.table = tables.get(spec.code_table) or BUILTIN_TABLES.get(spec.code_table)
        formats = spec.date_format
        self.date_formats = [formats] if isinstance(formats, str) else list(formats or [])
        self.keep = frozenset(spec.keep)
        self.quantum = Decimal(1).scaleb(-spec.decimals) if spec.decimals is not None else None
        # a text column copied as is (trimmed): the common case, taken without the pipeline
        self.plain = (
            spec.column is not None
            and self.kind == "string"
            and self.table is None
            and not self.date_formats
            and self.quantum is None
            and spec.case is None
            and not self.keep
        )

    @property
    def where(self) -> str:
        column = self.spec.column
        return f"{column} → {self.name} ({self.title})" if column else f"{self.name}"

    def __call__(self, fields: Mapping[str, Any]) -> Any:
        spec = self.spec
        if spec.column is None:
            return spec.value
        if self.plain:
            text = fields.get(spec.column)
            if text.__class__ is str:
                if spec.trim:
                    text = text.strip()
                return text or spec.default
        raw = _lookup(fields, spec.column)
        if isinstance(raw, str) and spec.trim:
            raw = raw.strip()
        if raw is None or raw == "":
            return spec.default
        if self.kind == "array":
            items = raw if isinstance(raw, list) else self._split(raw)
            return [self._scalar(item, self.item_kind) for item in items]
        return self._scalar(raw, self.kind)

    def _split(self, raw: Any) -> list[Any]:
        text = _text(raw)
        if self.spec.split is None:
            return [text]
        parts = text.split(self.spec.split)
        return [p.strip() if self.spec.trim else p for p in parts if p.strip()]

    def _scalar(self, raw: Any, kind: str) -> Any:
        if isinstance(raw, str) and raw in self.keep:
            return raw
        value = raw
        if self.table is not None:
            key = _text(value).strip() if self.spec.trim else _text(value)
            code = self.table.get(key)
            if code is None:
                known = ", ".join(list(dict.fromkeys(self.table))[:8])
                raise _Bad(f"unknown code {key!r} (known: {known} …)")
            value = code
        if self.date_formats:
            value = self._date(value)
        if self.quantum is not None:
            try:
                value = format(Decimal(_text(value).replace(",", "")).quantize(self.quantum), "f")
            except (InvalidOperation, ValueError):
                raise _Bad(f"{value!r} is not a number") from None
        return self._coerce(value, kind)

    def _date(self, value: Any) -> str:
        if isinstance(value, datetime | date):
            return (value.date() if isinstance(value, datetime) else value).isoformat()
        text = _text(value)
        for fmt in self.date_formats:
            try:
                parsed = datetime.strptime(text, fmt)
            except ValueError:
                continue
            if self.format == "date-time":
                return parsed.isoformat()
            return parsed.date().isoformat()
        raise _Bad(f"{text!r} does not match the date format {' or '.join(self.date_formats)}")

    def _coerce(self, value: Any, kind: str) -> Any:
        if kind == "string":
            if isinstance(value, datetime | date) and self.format == "date":
                return (value.date() if isinstance(value, datetime) else value).isoformat()
            text = _text(value)
            if self.spec.case == "upper":
                return text.upper()
            if self.spec.case == "lower":
                return text.lower()
            return text
        if kind == "integer":
            if isinstance(value, bool):
                raise _Bad(f"{value!r} is not an integer")
            try:
                return int(value) if isinstance(value, int) else int(_text(value).strip())
            except ValueError:
                raise _Bad(f"{value!r} is not an integer") from None
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            text = _text(value).strip().lower()
            if text in ("1", "true", "t", "y", "yes", "是"):
                return True
            if text in ("0", "false", "f", "n", "no", "否"):
                return False
            raise _Bad(f"{value!r} is not yes/no (是/否, 1/0, true/false)")
        return value


class Mapper:
    """Maps rows onto one resource according to a :class:`MappingSpec`."""

    def __init__(self, spec: MappingSpec, definition: ResourceDefinition) -> None:
        problems = self.problems(spec, definition)
        if problems:
            raise ConfigError("; ".join(problems))
        self.spec = spec
        self.definition = definition
        props: dict[str, Any] = definition.json_schema.get("properties", {})
        self.fields = [
            _FieldMapper(name, fs, props[name], spec.code_tables)
            for name, fs in spec.field_specs().items()
        ]
        self._plan: list[tuple[_FieldMapper, tuple[str, str, bool, Scalar | None] | None]] = [
            (
                f,
                (f.name, f.spec.column, f.spec.trim, f.spec.default)
                if f.plain and f.spec.column is not None
                else None,
            )
            for f in self.fields
        ]
        required = set(definition.json_schema.get("required", []))
        self.required = [f for f in self.fields if f.name in required]
        self.key_field = definition.key_field
        self._version = self._version_reader(spec.version)

    @staticmethod
    def problems(spec: MappingSpec, definition: ResourceDefinition) -> list[str]:
        """Everything wrong with ``spec`` for ``definition``, in plain words (empty if fine)."""
        out: list[str] = []
        props: dict[str, Any] = definition.json_schema.get("properties", {})
        specs = spec.field_specs()
        for name, fs in specs.items():
            if name not in props:
                out.append(
                    f"field {name!r} is not in {definition.code} (its fields: {', '.join(props)})"
                )
                continue
            if (fs.column is None) == (fs.value is None):
                out.append(f"field {name!r} needs exactly one of column or value")
            if fs.code_table is not None and not (
                fs.code_table in spec.code_tables or fs.code_table in BUILTIN_TABLES
            ):
                out.append(
                    f"field {name!r} names code table {fs.code_table!r}, which is neither "
                    "built in (sex, ethnicity) nor under [mapping.code_tables]"
                )
            formats = fs.date_format
            for fmt in [formats] if isinstance(formats, str) else formats or []:
                if "%" not in fmt:
                    out.append(f"field {name!r}: date format {fmt!r} has no % directive")
            if fs.split is not None and props[name].get("type") != "array":
                out.append(f"field {name!r}: split applies only to list fields")
        for name in definition.json_schema.get("required", []):
            if name not in specs:
                title = props.get(name, {}).get("title", name)
                out.append(f"required field {name!r} ({title}) is not mapped")
        if definition.key_field not in specs:
            out.append(f"the key field {definition.key_field!r} is not mapped")
        if isinstance(spec.version, int) and not 0 <= spec.version < 2**53:
            out.append("version must be an integer from 0 to 2^53-1")
        return out

    def source_columns(self) -> list[str]:
        """Every source column the mapping reads (fields, version, watermark)."""
        columns = [f.spec.column for f in self.fields if f.spec.column is not None]
        if isinstance(self.spec.version, VersionSpec):
            columns.append(self.spec.version.column)
        if self.spec.watermark is not None:
            columns.append(self.spec.watermark)
        return list(dict.fromkeys(columns))

    def watermark(self, row: SourceRecord) -> Any:
        """The row's watermark value, or None when the mapping has no watermark column."""
        if self.spec.watermark is None:
            return None
        return _lookup(row.fields, self.spec.watermark)

    def map(self, row: SourceRecord) -> MappedRecord | RowProblem:
        """Map one row; a row that cannot be mapped comes back as a :class:`RowProblem`."""
        if row.problem is not None:
            return RowProblem(row.line, row.problem, code="connector.source_unreadable")
        data: dict[str, Any] = {}
        fields = row.fields
        for field, plain in self._plan:
            if plain is not None:  # a text column copied as is: no call, no pipeline
                name, column, trim, default = plain
                text = fields.get(column)
                if text.__class__ is str:
                    value = (text.strip() if trim else text) or default
                    if value is not None:
                        data[name] = value
                    continue
            try:
                value = field(fields)
            except _Bad as exc:
                return RowProblem(row.line, f"{field.where}: {exc}", key=data.get(self.key_field))
            if value is not None:
                data[field.name] = value
        key = data.get(self.key_field)
        for field in self.required:
            if field.name not in data:
                column = f"column {field.spec.column} is empty; " if field.spec.column else ""
                return RowProblem(
                    row.line,
                    f"{column}{field.name} ({field.title}) is required",
                    key=key if isinstance(key, str) else None,
                )
        if not isinstance(key, str) or not key:
            return RowProblem(row.line, f"no key: {self.key_field} must be a non-empty text")
        try:
            version = self._version(row.fields)
        except _Bad as exc:
            return RowProblem(row.line, f"version: {exc}", key=key)
        return MappedRecord(row.line, key, version, data, self.watermark(row))

    def map_columns(self, columns: Columns) -> list[tuple[Any, MappedRecord | RowProblem]] | None:
        """:meth:`map` of every row of ``columns``, worked out column by column, with each
        row's watermark (:func:`connectors.columns.map_columns`); None: map row by row."""
        return map_columns(self, columns, MappedRecord, _Bad)

    def version_of(self, fields: Mapping[str, Any]) -> int:
        """The version of the row with ``fields``; raises ``_Bad`` as :meth:`map` words it."""
        return self._version(fields)

    def _version_reader(self, spec: int | VersionSpec) -> Callable[[Mapping[str, Any]], int]:
        if isinstance(spec, int):
            constant = spec
            return lambda fields: constant
        column, kind = spec.column, spec.kind

        def read(fields: Mapping[str, Any]) -> int:
            raw = _lookup(fields, column)
            if raw is None or raw == "":
                raise _Bad(f"column {column} is empty")
            if kind == "integer":
                try:
                    number = int(raw) if isinstance(raw, int) else int(str(raw).strip())
                except ValueError:
                    raise _Bad(f"{raw!r} in column {column} is not an integer") from None
            else:
                number = _timestamp_version(raw, column)
            if not 0 <= number < 2**53:
                raise _Bad(f"{number} in column {column} is outside 0 … 2^53-1")
            return number

        return read


_ISO_SPACE = re.compile(r"^(\d{4}-\d{2}-\d{2}) (\d)")


def _timestamp_version(raw: Any, column: str) -> int:
    """A timestamp as microseconds since the epoch (naive times are taken as UTC)."""
    moment: datetime
    if isinstance(raw, datetime):
        moment = raw
    elif isinstance(raw, date):
        moment = datetime(raw.year, raw.month, raw.day)  # made UTC below
    else:
        try:
            moment = datetime.fromisoformat(_ISO_SPACE.sub(r"\1T\2", str(raw).strip()))
        except ValueError:
            raise _Bad(f"{raw!r} in column {column} is not an ISO timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return delta.days * 86_400_000_000 + delta.seconds * 1_000_000 + delta.microseconds
