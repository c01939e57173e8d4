"""``govex witness``: a small C2SP tlog-witness for the exchange's audit log (or any log).

``keygen`` writes a cosigner key (a note signer key, ``PRIVATE+KEY+…``) and prints its
vkey; ``serve`` answers ``POST /add-checkpoint`` for the logs given with ``--log``,
keeping its state in ``--data`` (:mod:`exchange.witness`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

__all__ = ["witness_app"]

witness_app = typer.Typer(
    help="A C2SP transparency-log witness: cosigns checkpoints that extend what it saw.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
console = Console()

KeyOpt = Annotated[
    Path, typer.Option("--key", help="file with the witness's cosigner key (PRIVATE+KEY+…)")
]


def _read_key(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read the witness key {path}: {exc.strerror}") from exc


def _vkey(value: str) -> str:
    """``--log``: a vkey as it is, or the vkey in the file it names."""
    path = Path(value)
    if "+" in value and not path.is_file():
        return value
    try:
        return path.read_text("utf-8").strip()
    except OSError as exc:
        raise ValueError(
            f"--log {value}: neither a vkey (name+id+key) nor a readable file ({exc.strerror})"
        ) from exc


@witness_app.command()
def keygen(
    name: Annotated[
        str, typer.Option(help="schema-less URL naming the witness, e.g. witness.example.org/w1")
    ],
    key: KeyOpt,
) -> None:
    """Write a new cosigner key to KEY (mode 600) and print its verifier key (vkey)."""
    from signing.cosignature import CosignatureSigner, witness_name

    if key.exists():
        raise ValueError(f"{key} exists; the witness key is not overwritten")
    signer = CosignatureSigner.generate(witness_name(name))
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(signer.skey + "\n")
    console.print(signer.vkey, markup=False, highlight=False, soft_wrap=True)


@witness_app.command()
def serve(
    data: Annotated[Path, typer.Option("--data", help="directory of the witness's state")],
    key: KeyOpt,
    log: Annotated[
        list[str],
        typer.Option(
            "--log",
            help="vkey of a log to witness (its key name is its origin), or a file holding it",
        ),
    ],
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8100,
) -> None:
    """Answer POST /add-checkpoint (c2sp.org/tlog-witness) until interrupted."""
    import uvicorn

    from exchange.witness.server import Witness, create_witness_app
    from exchange.witness.state import WitnessState
    from signing.checkpoint import NoteVerifier
    from signing.cosignature import CosignatureSigner, witness_name

    signer = CosignatureSigner.from_skey(_read_key(key))
    witness_name(signer.name)
    logs = [NoteVerifier.from_vkey(_vkey(v)) for v in log]
    witness = Witness(signer, logs, WitnessState(data))
    console.print(f"witness {signer.vkey}", markup=False, highlight=False, soft_wrap=True)
    console.print(
        f"witnessing {', '.join(v.name for v in logs)} on http://{host}:{port}/add-checkpoint",
        markup=False,
        highlight=False,
    )
    uvicorn.run(
        create_witness_app(witness),
        host=host,
        port=port,
        log_level="warning",
        server_header=False,
    )
