"""``govex cert …`` and ``govex trust …``: issue, verify offline, QR codes, status, trust bundles.

Commands that take ``--data`` act as the issuing department, through the exchange's
hosted seal: they run an operator operation (:mod:`exchange.admin`) on the data directory,
or through the running ``govex serve``'s admin socket, or ``--url``; ``cert verify`` needs
no exchange at all: a trust bundle (``govex trust export``) or a public key is enough.
Bad input prints one line and exits non-zero (``exchange.cli.main.main`` turns the
package errors into that line).
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from exchange.certificates.bundle import TrustBundle
from exchange.certificates.models import BulkItem, CertificateRequest, StatusAction, StatusChange
from exchange.certificates.qr import credential_from_qr_text, qr_text, write_qr
from exchange.certificates.verifier import Verdict, Verifier
from exchange.cli.options import DataOpt, operate
from exchange.config import Settings
from exchange.errors import ExchangeError, InvalidRequest
from schemas.certificates import certificate_type
from schemas.errors import ErrorCode
from signing.canonical import parse_strict
from signing.errors import SigningError
from signing.multibase import decode_multikey

__all__ = ["cert_app", "trust_app"]

cert_app = typer.Typer(
    help="E-certificates (电子证照): issue, verify offline, QR codes, revoke/suspend/resume.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
trust_app = typer.Typer(
    help="Trust bundles: everything an approver needs to verify certificates offline.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
console = Console()
err = Console(stderr=True)

IssuerOpt = Annotated[
    str, typer.Option("--issuer", help="USCC (or demo code) of the issuing department")
]
TypeOpt = Annotated[
    str, typer.Option("--type", help="certificate type code, e.g. real_estate_title")
]
ReasonOpt = Annotated[str, typer.Option("--reason", help="why (kept in the audit log)")]
_MAX_REFUSALS_SHOWN = 20


def _open(data: Path | None) -> Any:
    from exchange.cli.options import require_data
    from exchange.service import Exchange

    return Exchange.open(Settings(data=require_data(data)))


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidRequest(
            f"cannot read {what} {path}: {exc.strerror}", code=ErrorCode.UNREADABLE_FILE
        ) from exc


def _json_file(path: Path, what: str) -> Any:
    try:
        return parse_strict(_read(path, what))
    except SigningError as exc:
        raise InvalidRequest(
            f"{what} {path} is not acceptable JSON: {exc.message}", code=ErrorCode.INVALID_FILE
        ) from exc


def _date(value: str | None, name: str) -> date | None:
    if value is None or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise InvalidRequest(
            f"{name} {value!r} is not a date YYYY-MM-DD", code=ErrorCode.INVALID_DATE
        ) from exc


def _issuer(exchange: Any, issuer: str) -> str:
    try:
        return str(exchange.registry.department(issuer).uscc)
    except ExchangeError:
        return str(exchange.registry.by_code(issuer).uscc)


def _write_json(path: Path, value: Any) -> None:
    try:
        path.write_text(json.dumps(value, ensure_ascii=False, indent=2) + "\n", "utf-8")
    except OSError as exc:
        raise InvalidRequest(
            f"cannot write {path}: {exc.strerror}", code=ErrorCode.UNWRITABLE_FILE
        ) from exc


# --------------------------------------------------------------------------- issue


@cert_app.command("issue")
def issue(
    issuer: IssuerOpt,
    type_: TypeOpt,
    subject: Annotated[
        Path, typer.Option("--subject", help="JSON file with the credentialSubject")
    ],
    out: Annotated[Path, typer.Option("--out", help="where to write the signed credential")],
    valid_from: Annotated[
        str | None, typer.Option(help="first day of validity YYYY-MM-DD (default: now)")
    ] = None,
    valid_until: Annotated[
        str | None, typer.Option(help="last day of validity YYYY-MM-DD (default: 长期)")
    ] = None,
    data: DataOpt = None,
) -> None:
    """Issue one certificate, sealed by the issuing department, and write it to OUT."""
    body = _json_file(subject, "subject file")
    if not isinstance(body, dict):
        raise InvalidRequest(
            f"subject file {subject} must hold a JSON object", code=ErrorCode.INVALID_FILE
        )
    request = CertificateRequest(
        type=type_,
        subject=body,
        valid_from=_date(valid_from, "--valid-from"),
        valid_until=_date(valid_until, "--valid-until"),
    )
    issued = operate(data, "cert.issue", {"issuer": issuer, "request": request})
    _write_json(out, issued["credential"])
    console.print(
        f"issued {issued['id']} ({issued['type']}) → {out}", markup=False, highlight=False
    )


def _csv_items(path: Path, array_fields: set[str]) -> Iterator[BulkItem]:
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InvalidRequest(
            f"cannot read CSV {path}: {exc.strerror}", code=ErrorCode.UNREADABLE_FILE
        ) from exc
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header:
            raise InvalidRequest(
                f"CSV {path} is empty; its first line must name the fields",
                code=ErrorCode.INVALID_FILE,
            )
        names = [h.strip() for h in header]
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(names):
                yield BulkItem(line, {"__error__": f"{len(row)} cells, header has {len(names)}"})
                continue
            subject: dict[str, Any] = {}
            dates: dict[str, str] = {}
            for name, cell in zip(names, row, strict=True):
                value = cell.strip()
                if not value:
                    continue
                if name in ("valid_from", "valid_until"):
                    dates[name] = value
                elif name in array_fields:
                    subject[name] = [v.strip() for v in value.split(";") if v.strip()]
                else:
                    subject[name] = value
            try:
                yield BulkItem(
                    line,
                    subject,
                    _date(dates.get("valid_from"), "valid_from"),
                    _date(dates.get("valid_until"), "valid_until"),
                )
            except InvalidRequest as exc:
                yield BulkItem(line, {"__error__": exc.message})


def _count_rows(path: Path) -> int:
    try:
        with path.open("rb") as handle:
            return max(sum(1 for _ in handle) - 1, 0)
    except OSError as exc:
        raise InvalidRequest(
            f"cannot read CSV {path}: {exc.strerror}", code=ErrorCode.UNREADABLE_FILE
        ) from exc


@cert_app.command("issue-bulk")
def issue_bulk(
    issuer: IssuerOpt,
    type_: TypeOpt,
    csv_path: Annotated[
        Path,
        typer.Option(
            "--csv",
            help="one certificate per line; the header names the subject fields (plus optional "
            "valid_from, valid_until); list fields separate items with ';'",
        ),
    ],
    data: DataOpt = None,
) -> None:
    """Issue many certificates from a CSV file, with a progress bar and a summary.

    Exits 1 when any line was refused; the summary names each refused line and why.
    """
    ctype = certificate_type(type_)
    arrays = {
        name
        for name, spec in ctype.json_schema.get("properties", {}).items()
        if isinstance(spec, dict) and spec.get("type") == "array"
    }
    total = _count_rows(csv_path)
    with _open(data) as exchange:
        uscc = _issuer(exchange, issuer)
        malformed: list[tuple[int, str]] = []

        def items() -> Iterator[BulkItem]:
            for item in _csv_items(csv_path, arrays):
                if "__error__" in item.subject:
                    malformed.append((item.line, str(item.subject["__error__"])))
                else:
                    yield item

        with Progress(
            TextColumn("issuing {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=False,
        ) as progress:
            task = progress.add_task(ctype.code, total=total)
            result = exchange.certificates.issue_many(
                uscc,
                ctype.code,
                items(),
                progress=lambda n: progress.advance(task, n),
            )
            progress.update(task, completed=total)
    refused = sorted(result.refused + malformed)
    console.print(
        f"issued {result.issued}, refused {len(refused)} ({ctype.name}, {ctype.code})",
        markup=False,
        highlight=False,
    )
    if result.first_id:
        console.print(f"ids {result.first_id} … {result.last_id}", markup=False, highlight=False)
    for line, reason in refused[:_MAX_REFUSALS_SHOWN]:
        console.print(f"  line {line}: {reason}", markup=False, highlight=False)
    if len(refused) > _MAX_REFUSALS_SHOWN:
        console.print(f"  … and {len(refused) - _MAX_REFUSALS_SHOWN} more refused lines")
    if refused:
        raise typer.Exit(1)


# --------------------------------------------------------------------------- verify


def _print_verdict(verdict: Verdict) -> None:
    if verdict.valid:
        console.print(
            f"valid: {verdict.credential_id} ({verdict.type}), issuer {verdict.issuer}",
            markup=False,
            highlight=False,
        )
        for check in verdict.checks:
            note = f" — {check.reason}" if check.reason else ""
            console.print(f"  ✓ {check.name}{note}", markup=False, highlight=False)
        return
    err.print(f"refused: {verdict.credential_id or 'credential'}", markup=False, highlight=False)
    for check in verdict.failures:
        err.print(f"{check.name}: {check.reason}", markup=False, highlight=False, soft_wrap=True)


@cert_app.command("verify")
def verify(
    cert: Annotated[
        Path | None, typer.Argument(help="the credential JSON file (or use --qr-text)")
    ] = None,
    trust: Annotated[
        Path | None, typer.Option("--trust", help="trust bundle from `govex trust export`")
    ] = None,
    public_key: Annotated[
        str | None,
        typer.Option(
            "--public-key",
            help="verify against this Multikey (z6Mk… Ed25519, zDn… P-256) instead of a trust "
            "chain, e.g. a credential from anywhere",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the verdict as JSON")] = False,
    qr: Annotated[
        str | None, typer.Option("--qr-text", help="the text of a govex QR code (GX1:…)")
    ] = None,
) -> None:
    """Verify a credential offline: exit 0 when valid, 1 with one line per failed check."""
    if (cert is None) == (qr is None):
        raise InvalidRequest(
            "give the credential: a CERT.json file or --qr-text (one of them)",
            code=ErrorCode.INVALID_OPTION,
        )
    if trust is None and public_key is None:
        raise InvalidRequest(
            "nothing to verify against: give --trust TRUST.json or --public-key",
            code=ErrorCode.INVALID_OPTION,
        )
    bundle = TrustBundle.from_json(_read(trust, "trust bundle")) if trust is not None else None
    key = decode_multikey(public_key) if public_key is not None else None
    verifier = Verifier(bundle, public_key=key)
    if qr is not None:
        verdict = verifier.check(credential_from_qr_text(qr))
    else:
        assert cert is not None
        verdict = verifier.check_text(_read(cert, "credential"))
    if as_json:
        sys.stdout.write(json.dumps(verdict.to_json(), ensure_ascii=False, indent=2) + "\n")
    else:
        _print_verdict(verdict)
    if not verdict.valid:
        raise typer.Exit(1)


# --------------------------------------------------------------------------- QR, status


@cert_app.command("qr")
def qr_code(
    certificate_id: Annotated[str, typer.Argument(metavar="ID", help="the certificate id")],
    out: Annotated[Path, typer.Option("--out", help="FILE.png or FILE.svg")],
    data: DataOpt = None,
) -> None:
    """Write a QR code carrying the whole compressed credential (GX1: + base45(zlib(JSON)))."""
    certificate = operate(data, "cert.get", {"id": certificate_id})
    text = qr_text(certificate["credential"])
    write_qr(text, out)
    console.print(
        f"QR code of {certificate['id']} → {out} ({len(text)} characters)",
        markup=False,
        highlight=False,
    )


def _change(certificate_id: str, data: Path | None, action: StatusAction, reason: str) -> None:
    change = StatusChange(action=action, reason=reason)
    changed = operate(data, "cert.status", {"id": certificate_id, "change": change})
    console.print(f"{changed['id']}: {changed['status']}", markup=False, highlight=False)


IdArg = Annotated[str, typer.Argument(metavar="ID", help="the certificate id")]


@cert_app.command("revoke")
def revoke(certificate_id: IdArg, reason: ReasonOpt, data: DataOpt = None) -> None:
    """Revoke a certificate for good (its issuer's act; audited; online at once)."""
    _change(certificate_id, data, StatusAction.REVOKE, reason)


@cert_app.command("suspend")
def suspend(certificate_id: IdArg, reason: ReasonOpt, data: DataOpt = None) -> None:
    """Suspend a certificate until it is resumed."""
    _change(certificate_id, data, StatusAction.SUSPEND, reason)


@cert_app.command("resume")
def resume(certificate_id: IdArg, reason: ReasonOpt, data: DataOpt = None) -> None:
    """Resume a suspended certificate."""
    _change(certificate_id, data, StatusAction.RESUME, reason)


@trust_app.command("export")
def export(
    out: Annotated[Path, typer.Option("--out", help="where to write TRUST.json")],
    data: DataOpt = None,
) -> None:
    """Write the trust bundle: root certificate, seal certificates, signed status lists."""
    bundle = operate(data, "trust.export")
    _write_json(out, bundle)
    console.print(
        f"trust bundle → {out}: {len(bundle['seal_certificates'])} seal certificates, "
        f"{len(bundle['status_lists'])} status lists (use until the lists' validUntil, then "
        "refresh)",
        markup=False,
        highlight=False,
    )
