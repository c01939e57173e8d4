"""What every command's ``--help`` shows besides its own text: examples and plain metavars.

:func:`tidy` walks the built command tree once, before it runs:

- each command gets an "Examples:" block from :data:`EXAMPLES` (keyed by the command's
  path, e.g. ``"cert issue"``), unless it wrote its own epilog;
- each option and argument gets a metavar a person reads (``DIR``, ``FILE``, ``DATE``,
  ``ID`` …) instead of a Python type (``<path>``, ``<list[str]>``), and required
  arguments appear as ``ID`` in the usage line, not ``{ID}``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EXAMPLES", "commands", "tidy"]

EXAMPLES: dict[str, tuple[str, ...]] = {
    "init": (
        "govex init --data ./city --demo",
        "GOVEX_SIGNING__KEY_PASSPHRASE=… govex init --data ./real --issuer https://gx.example "
        "--uscc <USCC> --name 信阳市大数据局",
    ),
    "serve": (
        "govex serve --data ./city --port 8000",
        "govex serve --data ./city --bus kafka://127.0.0.1:9092",
    ),
    "demo": ("govex demo", "govex demo --data ./story --json > story.json"),
    "bench": ("govex bench --quick", "govex bench --only p3 --only p4 --json"),
    "backup": ("govex backup --data ./city --out city.tar.gz",),
    "restore": ("govex restore city.tar.gz --data ./copy",),
    "departments": (
        "govex departments --data ./city",
        "govex departments --data ./city | cut -f1,2",
        "govex departments --data ./city --json",
    ),
    "token": ("TOKEN=$(govex token --data ./city --dept budongchan)",),
    "case resolve": (
        "govex case resolve --data ./city --matter budongchan.new_commercial_housing_transfer "
        "--applicant buyer:<ID> --applicant buyer:<ID>",
        "govex case resolve --data ./city --matter <MATTER> --applicant <ID> --json > bundle.json",
    ),
    "case verify": ("govex case verify bundle.json --trust trust.json",),
    "connector check": (
        "govex connector check exchange/demo/samples/gongan_resident_id_cards.toml",
    ),
    "connector run": (
        "govex connector run gongan.toml --exchange http://127.0.0.1:8000",
        "govex connector run gongan.toml --bus kafka://127.0.0.1:9092 --json",
        "govex connector run gongan.toml --exchange http://127.0.0.1:8000 --reset-watermark",
    ),
    "connector quarantine": (
        "govex connector quarantine --data ./city",
        "govex connector quarantine --data ./city --resource gongan.resident_id_card --json",
    ),
    "cert issue": (
        "govex cert issue --data ./city --issuer gongan --type resident_id_card "
        "--subject s.json --out c.json",
    ),
    "cert issue-bulk": (
        "govex cert issue-bulk --data ./city --issuer gongan --type resident_id_card "
        "--csv holders.csv --out ./issued",
        "govex cert issue-bulk --data ./city --issuer gongan --type resident_id_card "
        "--csv holders.csv --encoding gbk --out ./issued --json",
    ),
    "cert verify": (
        "govex cert verify c.json --trust trust.json",
        "govex cert verify --qr-text 'GX1:…' --trust trust.json --json",
    ),
    "cert qr": ("govex cert qr <CERT-ID> --data ./city --out c.png",),
    "cert revoke": ("govex cert revoke <CERT-ID> --data ./city --reason 证件遗失",),
    "cert suspend": ("govex cert suspend <CERT-ID> --data ./city --reason 核查中",),
    "cert resume": ("govex cert resume <CERT-ID> --data ./city --reason 核查完毕",),
    "cert types": ("govex cert types", "govex cert types --json"),
    "cert show": (
        "govex cert show <CERT-ID> --data ./city",
        "govex cert show <CERT-ID> --data ./city --json",
    ),
    "trust export": ("govex trust export --data ./city --out trust.json",),
    "staff add": (
        "govex staff add --data ./city --dept minzheng --staff-id MZ-0012 --name 李娜 "
        "--roles clerk",
        "govex staff add --data ./city --dept shenji --staff-id SJ-0001 --name 王敏 "
        "--roles auditor",
    ),
    "staff list": ("govex staff list --data ./city --dept minzheng",),
    "staff disable": ("govex staff disable --data ./city --dept minzheng --staff-id MZ-0012",),
    "staff enable": ("govex staff enable --data ./city --dept minzheng --staff-id MZ-0012",),
    "staff reset": ("govex staff reset --data ./city --dept minzheng --staff-id MZ-0012",),
    "staff oidc": (
        "govex staff oidc --data ./city --dept gongan --issuer https://idp.gongan.example.gov.cn "
        "--client-id govex --client-secret-file idp-secret",
        "govex staff oidc --data ./city --dept gongan --off",
    ),
    "staff require-act": ("govex staff require-act --data ./city --dept minzheng on",),
    "grant request": (
        "govex grant request --data ./city --dept budongchan --resource shuiwu.house_sale_invoice "
        "--purpose budongchan.new_commercial_housing_transfer",
    ),
    "grant decide": (
        "govex grant decide <GRANT-ID> --data ./city --approve",
        "govex grant decide <GRANT-ID> --data ./city --deny --reason 用途不符",
    ),
    "grant revoke": ("govex grant revoke <GRANT-ID> --data ./city --reason 办件结束",),
    "grant narrow": (
        "govex grant narrow <GRANT-ID> --data ./city --field kind --expires 2027-06-30 "
        "--reason 最小必要",
    ),
    "cluster status": (
        "govex cluster status --data ./node-a",
        "govex cluster status --data ./node-a --json",
    ),
    "cluster drain": (
        "govex cluster drain --data ./node-b",
        "govex cluster drain --data ./node-b --grace 10",
    ),
    "cluster remove": ("govex cluster remove --node-id b --data ./node-a",),
    "grant list": (
        "govex grant list --data ./city",
        "govex grant list --data ./city --dept shuiwu --json",
    ),
    "audit export": ("govex audit export --data ./city --out log.jsonl --from 2026-05-01",),
    "audit verify": (
        "govex audit verify log.jsonl",
        "govex audit verify log.jsonl --checkpoint kept.txt --json",
    ),
    "audit trace": (
        "govex audit trace --data ./city --case BDC-2026-000001",
        "govex audit trace --data ./city --subject <ID> --json",
        "govex audit trace --data ./city --dept budongchan | cut -f1,4",
    ),
    "audit archive": ("govex audit archive --data ./city --before 2020-01-01",),
    "catalog add": ("govex catalog add my_resource.json --data ./city",),
    "catalog update": (
        "govex catalog update my_resource.json --data ./city",
        "govex catalog update my_resource.json --data ./city --major",
    ),
    "catalog list": ("govex catalog list --data ./city", "govex catalog list --data ./city --json"),
    "witness keygen": ("govex witness keygen --name witness.example --key witness.key",),
    "witness serve": (
        "govex witness serve --data ./w --key witness.key --log log.vkey --port 8100",
    ),
    "department add": (
        "govex department add --data ./city --uscc <USCC> --code jiaoyu --name 信阳市教育局 "
        "--region 411500 --keys ./keys",
    ),
    "department suspend": ("govex department suspend --data ./city --dept jiaoyu --reason 整改",),
    "department resume": ("govex department resume --data ./city --dept jiaoyu",),
    "department remove": ("govex department remove --data ./city --dept jiaoyu --reason 撤并",),
    "department key rotate": (
        "govex department key rotate --data ./city --dept jiaoyu --purpose seal --keys ./keys",
    ),
    "department key revoke": (
        "govex department key revoke --data ./city --dept jiaoyu --purpose auth --reason 泄露",
    ),
    "keys new": ("GOVEX_KEY_PASSPHRASE=… govex keys new --out ./keys --uscc <USCC>",),
}
"""Examples shown under each command's help, by the command's path."""

_METAVARS = {
    "data": "DIR",
    "out": "PATH",
    "keys": "DIR",
    "key": "FILE",
    "subject": "FILE",
    "trust": "FILE",
    "csv": "FILE",
    "checkpoint": "FILE",
    "readme": "FILE",
    "outbox": "FILE",
    "valid-from": "DATE",
    "valid-until": "DATE",
    "from": "DATE",
    "to": "DATE",
    "before": "DATE",
    "since": "DATE",
    "port": "PORT",
    "host": "ADDRESS",
    "limit": "N",
    "applicant": "[ROLE:]ID",
    "issuer": "DEPT",
    "dept": "DEPT",
    "uscc": "USCC",
    "url": "URL",
    "exchange": "URL",
    "bus": "URL",
    "type": "TYPE",
    "only": "FIGURE",
    "qr-text": "TEXT",
    "public-key": "MULTIKEY",
}


def commands(root: Any, path: tuple[str, ...] = ()) -> list[tuple[str, Any]]:
    """Every leaf command under ``root`` with its path (``"cert issue"``)."""
    children = getattr(root, "commands", None)
    if children is None:
        return [(" ".join(path), root)]
    found: list[tuple[str, Any]] = []
    for name, child in children.items():
        found.extend(commands(child, (*path, name)))
    return found


def _metavar(param: Any) -> str:
    if param.param_type_name == "argument":
        return str(param.metavar or param.name).upper().replace("_", "-")
    longest = max(param.opts, key=len).lstrip("-")
    return str(_METAVARS.get(longest, longest.upper().replace("-", "_")))


def _usage_name(param: Any) -> Any:
    def name() -> str:
        shown = str(param.metavar)
        return shown if param.required else f"[{shown}]"

    return name


def tidy(root: Any) -> Any:
    """Give every command of ``root`` its examples and plain metavars; ``root`` itself."""
    leaves = commands(root)
    for _, command in [("", root), *leaves]:
        for param in command.params:
            if getattr(param, "is_flag", False) or getattr(param, "count", False):
                continue
            if param.metavar is None:
                param.metavar = _metavar(param)
            if param.param_type_name == "argument":  # shown by its metavar alone
                setattr(param, "_usage_display_name", _usage_name(param))  # noqa: B010
                setattr(param, "display_type_rich", lambda ctx: None)  # noqa: B010
    for path, command in leaves:
        examples = EXAMPLES.get(path)
        if examples and not command.epilog:
            command.epilog = "Examples:\n\n" + "\n\n".join(f"  {e}" for e in examples)
    return root
