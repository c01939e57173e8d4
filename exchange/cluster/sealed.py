"""Secret arguments of a control event, sealed for the nodes of this exchange.

Some commands carry a secret every node must hold (a staff member's TOTP secret, a
department identity provider's client secret: :mod:`.kinds_people`). Whoever reads the
control topic (a Kafka operator) must not read them, so those arguments travel sealed:
AES-256-GCM under a key derived with HKDF-SHA256 from the exchange's ``log`` key — the
provisioned data directory every node is a copy of holds it, the broker never does —
with the event's id, kind and the argument's position as associated data (a sealed value
moved into another event does not open). A sealed argument is ``{"sealed": "<base64url
of nonce ‖ ciphertext>"}``; an argument in clear (an event published before sealing) is
taken as it is.
"""

from __future__ import annotations

import base64
import secrets
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from exchange.cluster.events import ApplyFailed, ControlEvent, EventUnreadable
from signing.algorithms import secret_bytes

if TYPE_CHECKING:
    from exchange.cluster.kinds import Kind
    from exchange.keyring import Keyring

__all__ = ["Sealer"]

_INFO = b"govex-control-sealed-arguments-v1"
_NONCE = 12


class Sealer:
    """Seals and opens the secret arguments of control events (one key per exchange)."""

    def __init__(self, keyring: Keyring) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
            secret_bytes(keyring.key("log"))
        )
        self._aead = AESGCM(key)

    def seal(self, kind: Kind, event: ControlEvent) -> ControlEvent:
        """The event with its kind's secret arguments sealed (the others as they are)."""
        if not kind.sealed:
            return event
        args = list(event.args)
        for at in kind.sealed:
            if args[at] is not None:
                nonce = secrets.token_bytes(_NONCE)
                sealed = self._aead.encrypt(nonce, str(args[at]).encode("utf-8"), _aad(event, at))
                args[at] = {"sealed": base64.urlsafe_b64encode(nonce + sealed).decode("ascii")}
        return ControlEvent(event.kind, args, event.at, event.seed, event.origin, event.id)

    def open(self, kind: Kind, event: ControlEvent) -> Any:
        """The event's arguments with the sealed ones opened.

        A sealed value that does not open under this node's key is this node's failure
        (:class:`ApplyFailed`): applying on without it would leave this node apart."""
        if not kind.sealed or not isinstance(event.args, list):
            return event.args
        args = list(event.args)
        for at in kind.sealed:
            value = args[at] if at < len(args) else None
            if not isinstance(value, dict):
                continue  # None, or in clear (published before arguments were sealed)
            try:
                raw = base64.urlsafe_b64decode(str(value["sealed"]))
            except (KeyError, ValueError) as exc:
                raise EventUnreadable(f"{event.kind}: a sealed argument unreadable") from exc
            try:
                opened = self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], _aad(event, at))
            except InvalidTag as exc:
                raise ApplyFailed(
                    f"the control event {event.id} ({event.kind}) holds an argument sealed "
                    "under another key: this node's data directory is not a copy of this "
                    "exchange's provisioned one"
                ) from exc
            args[at] = opened.decode("utf-8")
        return args


def _aad(event: ControlEvent, at: int) -> bytes:
    return f"{event.id}\0{event.kind}\0{at}".encode()
