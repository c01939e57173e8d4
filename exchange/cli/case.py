"""``govex case``: resolve a matter for applicants, and check a bundle offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from exchange.cli.options import DataOpt, operate
from exchange.cli.output import emit_json, say, show, warn
from exchange.errors import InvalidRequest
from schemas.errors import ErrorCode

__all__ = ["case_app"]

case_app = typer.Typer(
    help="一件事一次办: resolve a matter's materials from the exchange, and "
    "check a case bundle offline.",
    no_args_is_help=True,
)


@case_app.command("resolve")
def resolve(
    matter: Annotated[
        str,
        typer.Option(help="matter (事项) code, e.g. budongchan.new_commercial_housing_transfer"),
    ],
    applicant: Annotated[
        list[str],
        typer.Option(
            help="an applicant: ID (role from the matter) or ROLE:ID, e.g. buyer:4115…; repeat"
        ),
    ],
    case_no: Annotated[
        str | None, typer.Option("--case", help="办件编号 (generated when absent)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the signed bundle")] = False,
    out: Annotated[Path | None, typer.Option(help="also write the bundle to this file")] = None,
    data: DataOpt = None,
) -> None:
    """Resolve a case as the matter's competent department: what the exchange obtained,
    verified, and what the applicant must still bring."""
    params = {"matter": matter, "applicants": applicant, "case_no": case_no}
    bundle = operate(data, "case.resolve", params)
    if out is not None:
        out.write_text(json.dumps(bundle, ensure_ascii=False, indent=2), "utf-8")
    if as_json:
        emit_json(bundle)
        return
    _print_bundle(bundle)


def _print_bundle(bundle: dict[str, Any]) -> None:
    say(f"{bundle['matter_name']}  case {bundle['case']}")
    rows = [
        (
            m["name"],
            "obtained" if m["status"] == "obtained" else "bring",
            m["source"] if m["status"] == "obtained" else m["reason"],
        )
        for m in bundle["materials"]
    ]
    show(("material", "status", "source / reason"), rows)
    say(
        f"required {bundle['required']}, obtained by the exchange "
        f"{bundle['obtained']}, to bring {len(bundle['to_bring'])}  "
        f"({bundle['reduction_percent']}% fewer materials)"
    )


@case_app.command("verify")
def verify(
    bundle_file: Annotated[Path, typer.Argument(help="case bundle (JSON) to check")],
    trust: Annotated[Path, typer.Option(help="trust bundle from `govex trust export`")],
    as_json: Annotated[bool, typer.Option("--json", help="print the verdict as JSON")] = False,
) -> None:
    """Check a case bundle offline: the exchange's seal, every certificate inside, the counts.
    Exit 0 when valid; exit 1 with one line per failed check."""
    from exchange.cases.bundle_check import verify_bundle
    from exchange.certificates.bundle import TrustBundle
    from signing.canonical import parse_strict

    try:
        bundle = parse_strict(bundle_file.read_bytes())
    except OSError as exc:
        raise InvalidRequest(
            f"cannot read {bundle_file}: {exc.strerror}", code=ErrorCode.UNREADABLE_FILE
        ) from exc
    try:
        trust_bundle = TrustBundle.from_json(trust.read_bytes())
    except OSError as exc:
        raise InvalidRequest(
            f"cannot read {trust}: {exc.strerror}", code=ErrorCode.UNREADABLE_FILE
        ) from exc
    verdict = verify_bundle(bundle, trust_bundle)
    if as_json:
        emit_json(verdict.to_json())
    elif verdict.valid:
        say(
            f"bundle {bundle.get('case')} is valid: seal, "
            f"{len(verdict.certificates)} certificates and counts check out"
        )
    if not verdict.valid:
        for line in verdict.failures:
            warn(f"FAILED {line}")
        raise typer.Exit(1)
