"""The verify page: paste, upload or scan a certificate (or a case bundle) and see every check.

A certificate goes through the certificate service's online verifier (live registry
and status lists; the verdict is audited, as ``POST /v1/verify`` does). A case bundle
gets the offline bundle checks (the exchange's seal over it, its consistency) and each
certificate it carries is verified online like a single one. A scanner that types the
QR text (``GX1:…``) into the box works like pasting.

Only a valid certificate is drawn as a licence (with its fresh QR code and a Print
button). After a failed verdict the page shows the failed checks first and at most the
raw fields under "无效 — 不得作为办事依据": a forged document must never look official.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse

from exchange.api.deps import ExchangeDep
from exchange.cases.bundle import BUNDLE_TYPE
from exchange.cases.bundle_check import verify_bundle
from exchange.certificates.intake import nesting_limits
from exchange.certificates.qr import QR_PREFIX, credential_from_qr_text
from exchange.certificates.verifier import Check, Verdict
from exchange.errors import ExchangeError, InvalidRequest, PayloadTooLarge
from exchange.service import Exchange
from exchange.web.guard import CsrfSession, Reader, console_router
from exchange.web.licence import Licence, check_label, licence_of
from exchange.web.messages import FieldError
from exchange.web.pages import render
from exchange.web.qrscan import MAX_IMAGE_BYTES, is_image, read_qr
from schemas.errors import ErrorCode
from signing.canonical import parse_strict
from signing.errors import SigningError

__all__ = ["MAX_DOCUMENT_BYTES", "router"]

router = console_router("/verify")

MAX_DOCUMENT_BYTES = 256 * 1024


@dataclass
class CheckView:
    name: str
    passed: bool
    reason: str | None
    zh: str
    en: str
    plain: str


@dataclass
class CertificateResult:
    valid: bool
    checks: list[CheckView]
    licence: Licence | None  # only for a valid certificate
    credential_id: str | None
    raw_fields: list[tuple[str, str]] = field(default_factory=list)  # only for an invalid one


@dataclass
class Result:
    kind: str  # certificate | bundle | unreadable
    valid: bool
    checks: list[CheckView] = field(default_factory=list)
    licence: Licence | None = None
    raw_fields: list[tuple[str, str]] = field(default_factory=list)
    certificates: list[CertificateResult] = field(default_factory=list)
    bundle: dict[str, Any] | None = None


_MAX_RAW_FIELDS = 40
_MAX_RAW_CHARS = 200


def _views(checks: tuple[Check, ...] | list[Check]) -> list[CheckView]:
    out = []
    for c in checks:
        zh, en, ok, bad = check_label(c.name)
        out.append(CheckView(c.name, c.passed, c.reason, zh, en, ok if c.passed else bad))
    failed = [v for v in out if not v.passed]
    return failed + [v for v in out if v.passed]  # failures first


def _raw_fields(credential: Any) -> list[tuple[str, str]]:
    """The subject's fields as plain text (no licence layout), for an invalid credential."""
    subject = credential.get("credentialSubject") if isinstance(credential, dict) else None
    if not isinstance(subject, dict):
        return []
    out = []
    for key, value in list(subject.items())[:_MAX_RAW_FIELDS]:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        out.append((str(key)[:_MAX_RAW_CHARS], text[:_MAX_RAW_CHARS]))
    return out


def _certificate(exchange: Exchange, actor: str, credential: Any) -> CertificateResult:
    verdict: Verdict = exchange.certificates.verify(actor, credential)
    if not verdict.valid:
        return CertificateResult(
            False, _views(verdict.checks), None, verdict.credential_id, _raw_fields(credential)
        )
    licence = licence_of(credential) if isinstance(credential, dict) else None
    return CertificateResult(True, _views(verdict.checks), licence, verdict.credential_id)


def _read(document: str, upload: UploadFile | None) -> str:
    """The text to verify: the chosen file's (a QR picture is read), else the box's."""
    if upload is None or not upload.filename:
        return document
    raw = upload.file.read(MAX_IMAGE_BYTES + 1)
    if is_image(raw):
        if len(raw) > MAX_IMAGE_BYTES:
            raise PayloadTooLarge(f"the picture is larger than {MAX_IMAGE_BYTES // 2**20} MiB")
        return read_qr(raw)
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise PayloadTooLarge(f"the file is larger than {MAX_DOCUMENT_BYTES // 1024} KiB")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            "the file is neither UTF-8 text (a JSON document or QR text) nor a QR picture",
            code=ErrorCode.INVALID_FILE,
        ) from exc


def verify_text(exchange: Exchange, actor: str, text: str) -> Result:
    """Verify what an approver pasted: QR text, a certificate, or a case bundle."""
    text = text.strip()
    if text.startswith(QR_PREFIX):
        try:
            document: Any = credential_from_qr_text(text)
        except ExchangeError as exc:
            check = CheckView("qr", False, exc.message, "二维码", "QR text", "二维码内容无法识别")
            return Result("unreadable", False, [check])
    else:
        nesting_limits(text.encode("utf-8", "surrogatepass"))  # 422 before parsing
        try:
            document = parse_strict(text)
        except SigningError:
            # the service audits the refusal and names the parse error
            single = _certificate(exchange, actor, text)
            return Result("unreadable", False, single.checks)
    if isinstance(document, dict) and document.get("type") == BUNDLE_TYPE:
        verdict = verify_bundle(document, exchange.certificates.trust_bundle())
        certificates = [
            _certificate(exchange, actor, c)
            for c in document.get("certificates", [])
            if isinstance(c, dict)
        ]
        valid = all(c.passed for c in verdict.checks) and all(c.valid for c in certificates)
        return Result(
            "bundle", valid, _views(verdict.checks), certificates=certificates, bundle=document
        )
    single = _certificate(exchange, actor, document)
    return Result(
        "certificate",
        single.valid,
        single.checks,
        licence=single.licence,
        raw_fields=single.raw_fields,
    )


def _page(
    request: Request,
    result: Result | None,
    document: str,
    errors: dict[str, FieldError] | None = None,
) -> HTMLResponse:
    return render(
        request,
        "verify.html",
        {"result": result, "document": document, "errors": errors or {}},
        status_code=422 if errors else 200,
        active="verify",
    )


@router.get("", response_class=HTMLResponse)
def verify_form(request: Request, _: Reader) -> HTMLResponse:
    return _page(request, None, "")


@router.post("", response_class=HTMLResponse)
def verify(
    request: Request,
    exchange: ExchangeDep,
    principal: Reader,
    _: CsrfSession,
    document: Annotated[str, Form(max_length=MAX_DOCUMENT_BYTES)] = "",
    upload: Annotated[UploadFile | None, File()] = None,
    camera: Annotated[UploadFile | None, File()] = None,
) -> HTMLResponse:
    """Verify; a refused input comes back beside its field with the text kept (422).

    ``camera``: a phone's photo of a QR code (the camera input), read like an upload."""
    if (upload is None or not upload.filename) and camera is not None and camera.filename:
        upload = camera
    try:
        text = _read(document, upload)
    except ExchangeError as exc:
        return _page(request, None, document, {"upload": FieldError.of(exc.code, exc.message)})
    if not text.strip():
        return _page(
            request, None, document, {"document": FieldError.of(ErrorCode.CREDENTIAL_REQUIRED)}
        )
    try:
        result = verify_text(exchange, principal.uscc, text)
    except ExchangeError as exc:
        if exc.status >= 500:
            raise
        return _page(request, None, text, {"document": FieldError.of(exc.code, exc.message)})
    return _page(request, result, text)
