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
import io
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from exchange.admin.builtin import BULK_CALL_MAX
from exchange.certificates.bundle import TrustBundle
from exchange.certificates.models import CertificateRequest, StatusAction, StatusChange
from exchange.certificates.qr import credential_from_qr_text, qr_text, write_qr
from exchange.certificates.verifier import Verdict, Verifier
from exchange.cli.cert_csv import (
    Results,
    check_header,
    csv_items,
    decode_csv,
    parse_date,
    read_input,
)
from exchange.cli.options import DataOpt, operate
from exchange.cli.output import console, emit_json, err, say, show
from exchange.errors import InvalidRequest
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

IssuerOpt = Annotated[
    str, typer.Option("--issuer", help="USCC (or demo code) of the issuing department")
]
TypeOpt = Annotated[
    str, typer.Option("--type", help="certificate type code, e.g. real_estate_title")
]
ReasonOpt = Annotated[str, typer.Option("--reason", help="why (kept in the audit log)")]
_MAX_REFUSALS_SHOWN = 20


def _json_file(path: Path, what: str) -> Any:
    try:
        return parse_strict(read_input(path, what))
    except SigningError as exc:
        raise InvalidRequest(
            f"{what} {path} is not acceptable JSON: {exc.message}", code=ErrorCode.INVALID_FILE
        ) from exc


def _write_json(path: Path, value: Any) -> None:
    try:
        path.write_text(json.dumps(value, ensure_ascii=False, indent=2) + "\n", "utf-8")
    except OSError as exc:
        raise InvalidRequest(
            f"cannot write {path}: {exc.strerror}", code=ErrorCode.UNWRITABLE_FILE
        ) from exc


def _writable(path: Path) -> None:
    """Refuse, before anything is done, an output file that could not be written."""
    target = path.expanduser().resolve()
    if not target.parent.is_dir():
        raise InvalidRequest(
            f"--out {path}: the folder {target.parent} does not exist; create it or choose "
            "another (nothing was issued)",
            code=ErrorCode.UNWRITABLE_FILE,
        )
    if target.is_dir():
        raise InvalidRequest(
            f"--out {path} is a folder; give a file name", code=ErrorCode.UNWRITABLE_FILE
        )


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
    """Issue one certificate, sealed by the issuing department, and write it to OUT.

    OUT is checked first: nothing is issued when it cannot be written."""
    _writable(out)
    body = _json_file(subject, "subject file")
    if not isinstance(body, dict):
        raise InvalidRequest(
            f"subject file {subject} must hold a JSON object", code=ErrorCode.INVALID_FILE
        )
    request = CertificateRequest(
        type=type_,
        subject=body,
        valid_from=parse_date(valid_from, "--valid-from"),
        valid_until=parse_date(valid_until, "--valid-until"),
    )
    issued = operate(data, "cert.issue", {"issuer": issuer, "request": request})
    _write_json(out, issued["credential"])
    console.print(
        f"issued {issued['id']} ({issued['type']}) → {out}", markup=False, highlight=False
    )


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
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="DIR",
            help="write credentials.jsonl (appended) and results.csv (line → certificate id → "
            "status) into DIR (created; its parent must exist)",
        ),
    ] = None,
    encoding: Annotated[
        str,
        typer.Option(
            "--encoding", metavar="ENC", help="auto (UTF-8, else GB18030), utf-8, gbk or gb18030"
        ),
    ] = "auto",
    reissue: Annotated[
        bool,
        typer.Option(
            "--reissue",
            help="issue again to holders who already hold this type from this issuer "
            "(default: skip them, naming their certificate)",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
    data: DataOpt = None,
) -> None:
    """Issue many certificates from a CSV file, with a progress bar and a summary.

    Idempotent: a holder who already holds the type is skipped (status "exists") unless
    --reissue. Exit 0: every line issued or already issued; 3: some lines refused (each is
    named with its line and reason, as `cert issue` words it); 1: an error."""
    ctype = certificate_type(type_)
    arrays = {
        name
        for name, spec in ctype.json_schema.get("properties", {}).items()
        if isinstance(spec, dict) and spec.get("type") == "array"
    }
    text, used = decode_csv(csv_path, encoding)
    header = next(csv.reader(io.StringIO(text, newline="")), None)
    if not header or not any(h.strip() for h in header):
        raise InvalidRequest(
            f"CSV {csv_path} is empty; its first line must name the fields",
            code=ErrorCode.INVALID_FILE,
        )
    names = [h.strip() for h in header]
    check_header(csv_path, names, ctype)
    if out is not None and not out.expanduser().resolve().parent.is_dir():
        raise InvalidRequest(
            f"--out {out}: the folder {out.expanduser().resolve().parent} does not exist",
            code=ErrorCode.UNWRITABLE_FILE,
        )
    total = max(len(text.splitlines()) - 1, 0)
    malformed: list[tuple[int, str]] = []
    refused_by_exchange: list[tuple[int, str]] = []
    skipped: list[tuple[int, str]] = []
    results = Results(out.expanduser().resolve() if out is not None else None)
    issued, first_id, last_id = 0, None, None
    with Progress(
        TextColumn("issuing {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
        disable=as_json,
    ) as progress:
        task = progress.add_task(ctype.code, total=total)
        batch: list[dict[str, Any]] = []

        def send() -> None:
            # through the running exchange's admin channel, --url, or the store itself
            nonlocal issued, first_id, last_id
            result = operate(
                data,
                "cert.issue_bulk",
                {
                    "issuer": issuer,
                    "type": ctype.code,
                    "items": batch,
                    "reissue": reissue,
                    "credentials": out is not None,
                },
            )
            issued += result["issued"]
            refused_by_exchange.extend((int(n), str(why)) for n, why in result["refused"])
            skipped.extend((int(n), str(cid)) for n, cid in result["skipped"])
            for line, cid, credential in result.get("credentials") or []:
                results.issued(int(line), str(cid), credential)
            first_id = first_id or result["first_id"]
            last_id = result["last_id"] or last_id
            progress.advance(task, len(batch))
            batch.clear()

        for item in csv_items(text, names, arrays):
            if "__error__" in item.subject:
                malformed.append((item.line, str(item.subject["__error__"])))
                progress.advance(task, 1)
                continue
            batch.append(
                {
                    "line": item.line,
                    "subject": item.subject,
                    "valid_from": item.valid_from,
                    "valid_until": item.valid_until,
                }
            )
            if len(batch) >= BULK_CALL_MAX:
                send()
        if batch:
            send()
        progress.update(task, completed=total)
    refused = sorted(refused_by_exchange + malformed)
    results.close(skipped, refused)
    if as_json:
        emit_json(
            {
                "type": ctype.code,
                "encoding": used,
                "issued": issued,
                "skipped": len(skipped),
                "refused": [{"line": line, "reason": reason} for line, reason in refused],
                "first_id": first_id,
                "last_id": last_id,
                "out": None if out is None else str(out),
                "exit_code": 3 if refused else 0,
            }
        )
    else:
        say(
            f"issued {issued}, already issued {len(skipped)}, refused "
            f"{len(refused)} ({ctype.name}, {ctype.code}; read as {used})"
        )
        if first_id:
            say(f"ids {first_id} … {last_id}")
        if out is not None:
            say(f"results: {out / 'results.csv'}; credentials: {out / 'credentials.jsonl'}")
        for line, reason in refused[:_MAX_REFUSALS_SHOWN]:
            say(f"  line {line}: {reason}")
        if len(refused) > _MAX_REFUSALS_SHOWN:
            say(f"  … and {len(refused) - _MAX_REFUSALS_SHOWN} more refused lines")
    if refused:
        raise typer.Exit(3)


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
    bundle = TrustBundle.from_json(read_input(trust, "trust bundle")) if trust is not None else None
    key = decode_multikey(public_key) if public_key is not None else None
    verifier = Verifier(bundle, public_key=key)
    if qr is not None:
        verdict = verifier.check(credential_from_qr_text(qr))
    else:
        assert cert is not None
        verdict = verifier.check_text(read_input(cert, "credential"))
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
    _writable(out)
    certificate = operate(data, "cert.get", {"id": certificate_id})
    text = qr_text(certificate["credential"])
    write_qr(text, out)
    console.print(
        f"QR code of {certificate['id']} → {out} ({len(text)} characters)",
        markup=False,
        highlight=False,
    )


@cert_app.command("types")
def types(
    as_json: Annotated[bool, typer.Option("--json", help="print the types as JSON")] = False,
) -> None:
    """The certificate types: code, name, competent department, holder kind, fields."""
    from schemas.certificates import load_certificate_types

    rows = []
    records = []
    for t in load_certificate_types().values():
        fields = list(t.json_schema.get("properties", {}))
        required = list(t.json_schema.get("required", []))
        rows.append((t.code, t.name, t.department, t.holder_code_type.value, ",".join(fields)))
        records.append(
            {
                "code": t.code,
                "name": t.name,
                "type_code": t.type_code,
                "department": t.department,
                "holder_code_type": t.holder_code_type.value,
                "fields": fields,
                "required": required,
            }
        )
    show(("code", "name", "department", "holder", "fields"), rows, as_json=as_json, records=records)


@cert_app.command("show")
def show_certificate(
    certificate_id: Annotated[str, typer.Argument(metavar="ID", help="the certificate id")],
    as_json: Annotated[
        bool, typer.Option("--json", help="print the certificate with its credential as JSON")
    ] = False,
    data: DataOpt = None,
) -> None:
    """One certificate: type, issuer, holder, status (with its reason), when issued."""
    certificate = operate(data, "cert.get", {"id": certificate_id})
    if as_json:
        emit_json(certificate)
        return
    credential = certificate["credential"]
    meta = credential.get("metadata", {})
    rows = [
        ("id", certificate["id"]),
        ("type", f"{credential.get('name', '')} ({meta.get('type_code', '')})"),
        ("issuer", f"{meta.get('issuer_name', '')} {meta.get('issuer_uscc', '')}"),
        ("holder", f"{meta.get('holder_name', '')} {meta.get('holder_code', '')}"),
        ("status", certificate["status"]),
        ("issued", meta.get("issue_date", "")),
        ("valid from", meta.get("valid_from") or ""),
        ("valid until", meta.get("valid_until") or "长期 (no end)"),
    ]
    show(("field", "value"), rows)


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
