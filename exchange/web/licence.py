"""A credential as a person reads it: a licence with its fields, dates and QR code.

:func:`licence_of` turns a govex e-certificate (a VC 2.0 document) into a
:class:`Licence` a template renders: the type's Chinese name, the issuer, each
subject field under its schema title, the validity period in China Standard Time,
and the QR code that carries the whole credential (``GX1:`` payload, see
:mod:`exchange.certificates.qr`), drawn as inline SVG by segno on the server.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import segno
from markupsafe import Markup

from exchange.certificates.qr import qr_text
from exchange.certificates.vocabulary import CHINA_TIME, credential_type_name, parse_timestamp
from exchange.web.messages import display_value, field_title, strip_note
from schemas.certificates import CertificateType, load_certificate_types
from signing.errors import SigningError

__all__ = ["CHECK_LABELS", "Licence", "LicenceField", "check_label", "licence_of", "qr_svg"]

_LOG = logging.getLogger("govex.console")

# check name → (Chinese label, English label, Chinese plain words when passed, when failed)
CHECK_LABELS: dict[str, tuple[str, str, str, str]] = {
    "proof": ("签章验证", "Seal proof", "签章有效，内容未被改动", "签章无效：内容可能被篡改"),
    "issuer_chain": (
        "签发机构",
        "Issuer chain",
        "由根证书认证的有权机关签发",
        "签发机构不可信或无权签发此类证照",
    ),
    "validity_period": ("有效期", "Validity period", "在有效期内", "不在有效期内"),
    "status": ("证照状态", "Status", "未注销、未中止", "证照已注销或已中止"),
    "schema": ("内容格式", "Schema", "内容符合证照类型的格式", "内容不符合证照类型的格式"),
    "identifier": ("证照标识", "Identifier", "证照标识及校验码正确", "证照标识有误"),
    "register": (
        "签发登记",
        "Register",
        "与平台签发登记的内容一致",
        "平台没有签发过该证照，或内容与签发时不一致",
    ),
    "json": ("文件解析", "JSON", "文件可以解析", "文件不是合法的 JSON"),
    "format": ("文件类型", "Format", "是一件事材料包", "不是可识别的证照或材料包"),
    "bundle_proof": ("材料包签章", "Bundle seal", "平台签章有效", "平台签章无效：材料包可能被篡改"),
    "consistency": ("内容一致性", "Consistency", "材料清单与统计一致", "材料清单与统计不一致"),
}


def check_label(name: str) -> tuple[str, str, str, str]:
    """A check's Chinese name, English name and plain words when passed and when failed."""
    return CHECK_LABELS.get(name, ("其他检查", name, "通过", "未通过"))


@dataclass(frozen=True)
class LicenceField:
    title: str
    name: str
    value: str


@dataclass
class Licence:
    """What a licence shows; every value is text ready to print."""

    type_name: str
    type_name_en: str
    credential_id: str
    issuer_name: str
    issuer_id: str
    holder_name: str
    valid_from: str
    valid_until: str
    fields: list[LicenceField] = field(default_factory=list)
    qr: Markup | None = None
    qr_note: str | None = None


def qr_svg(text: str) -> Markup:
    """An inline SVG QR code (scalable: a viewBox, no fixed size) for ``text``."""
    code = segno.make_qr(text, error="m")
    svg = code.svg_inline(
        scale=1, border=4, omitsize=True, svgclass="qr-code", title="QR", light="#fff"
    )
    return Markup(svg)  # noqa: S704 - segno's SVG is made of its own path data only


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "、".join(_text(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items())
    if value is None:
        return "—"
    return str(value)


def _date(value: Any) -> str:
    if value is None:
        return "长期 (no end)"
    try:
        return parse_timestamp(value, "date").astimezone(CHINA_TIME).date().isoformat()
    except Exception as exc:  # a malformed date is shown as it is; the verdict says why
        _LOG.debug("licence date %r shown as it is: %s", value, exc)
        return str(value)


def _title(properties: dict[str, Any], name: str) -> str:
    """A field's title in this type's schema (its standard's note left out), else the
    catalog's."""
    spec = properties.get(name)
    if isinstance(spec, dict) and isinstance(spec.get("title"), str):
        return strip_note(spec["title"])
    return field_title(name)


def _type_of(doc: dict[str, Any]) -> CertificateType | None:
    types = doc.get("type")
    if not isinstance(types, list):
        return None
    by_name = {credential_type_name(t): t for t in load_certificate_types().values()}
    return next((by_name[t] for t in types if isinstance(t, str) and t in by_name), None)


def licence_of(doc: dict[str, Any]) -> Licence:
    """The licence view of a credential (whatever its verdict: it shows what it claims)."""
    ctype = _type_of(doc)
    issuer = doc.get("issuer")
    issuer_name = issuer.get("name", "") if isinstance(issuer, dict) else ""
    issuer_id = issuer.get("id", "") if isinstance(issuer, dict) else str(issuer or "")
    subject = doc.get("credentialSubject")
    subject = subject if isinstance(subject, dict) else {}
    properties: dict[str, Any] = ctype.json_schema.get("properties", {}) if ctype else {}
    fields = [
        LicenceField(
            title=_title(properties, name),
            name=name,
            value=display_value(name, value) or _text(value),
        )
        for name, value in subject.items()
        if name not in ("holder_code_type", "id")
    ]
    licence = Licence(
        type_name=ctype.name if ctype else str(doc.get("name", "电子证照")),
        type_name_en=ctype.name_en if ctype else "Verifiable credential",
        credential_id=str(doc.get("id", "")),
        issuer_name=str(issuer_name),
        issuer_id=str(issuer_id),
        holder_name=_text(subject.get("holder_name")),
        valid_from=_date(doc.get("validFrom")),
        valid_until=_date(doc.get("validUntil")),
        fields=fields,
    )
    try:
        licence.qr = qr_svg(qr_text(doc))
    except (SigningError, ValueError) as exc:
        licence.qr_note = f"无法生成二维码 (no QR code): {exc}"
    return licence
