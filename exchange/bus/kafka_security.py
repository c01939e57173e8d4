"""Who a govex client is on Kafka: SASL and TLS settings, and what an open bus risks.

A province's bus is authenticated (SASL/SCRAM-SHA-512), encrypted (TLS) and authorised
(ACLs): each department's connector writes only its own resources' topics, each exchange
node reads with its own principal (``scripts/kafka.sh`` starts such a cluster, the README
says how to secure one). :class:`KafkaSecurity` is what a client needs for that — the
exchange's consumer (``GOVEX_KAFKA__*``) and the connectors' producers (``[publish]``)
turn it into kafka-python options with :meth:`KafkaSecurity.client_options`.

Secrets stay :class:`~pydantic.SecretStr`: from the environment, or from a file
(``password_file``, read when a client starts, never logged).

:func:`open_bus_problem` says why a bus is left open to the network (no authentication
and a bootstrap server off loopback): ``govex serve`` refuses such a bus unless told
``kafka.allow_unauthenticated`` — anyone who reaches the broker could read every
record without a grant or an audit entry.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr

__all__ = ["KafkaSecurity", "is_loopback", "open_bus_problem"]

Protocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]


class KafkaSecurity(BaseModel):
    """How a client authenticates to Kafka and checks the brokers (kafka-python names)."""

    protocol: Protocol | None = Field(
        default=None,
        description="PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL; default: from the bus URL "
        "(kafkas:// is TLS) and whether a username is set",
    )
    sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    username: str | None = Field(default=None, max_length=256, description="the SASL principal")
    password: SecretStr | None = None
    password_file: Path | None = Field(default=None, description="a file holding the password")
    ssl_cafile: Path | None = Field(default=None, description="PEM CA that signs the brokers")
    ssl_check_hostname: bool = True

    def resolved_protocol(self, *, tls: bool = False) -> Protocol:
        """The protocol in use: the setting, else TLS from the URL and SASL from a username."""
        if self.protocol is not None:
            return self.protocol
        sasl = self.username is not None
        if tls:
            return "SASL_SSL" if sasl else "SSL"
        return "SASL_PLAINTEXT" if sasl else "PLAINTEXT"

    def authenticated(self, *, tls: bool = False) -> bool:
        return self.resolved_protocol(tls=tls).startswith("SASL")

    def secret(self) -> str | None:
        """The password: the setting, else the first line of ``password_file``."""
        if self.password is not None:
            return self.password.get_secret_value()
        if self.password_file is not None:
            try:
                text = self.password_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise ValueError(
                    f"cannot read the Kafka password file {self.password_file}: "
                    f"{exc.strerror or exc}"
                ) from exc
            return text.splitlines()[0] if text else ""
        return None

    def client_options(self, *, tls: bool = False) -> dict[str, Any]:
        """kafka-python keyword arguments (``security_protocol``, ``sasl_*``, ``ssl_*``)."""
        protocol = self.resolved_protocol(tls=tls)
        options: dict[str, Any] = {"security_protocol": protocol}
        if protocol.startswith("SASL"):
            secret = self.secret()
            if self.username is None or secret is None:
                raise ValueError(
                    f"Kafka {protocol} needs a username and a password "
                    "(kafka.username with kafka.password or kafka.password_file)"
                )
            options.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.username,
                sasl_plain_password=secret,
            )
        if protocol.endswith("SSL"):
            if self.ssl_cafile is not None:
                options["ssl_cafile"] = str(self.ssl_cafile)
            options["ssl_check_hostname"] = self.ssl_check_hostname
        return options


def is_loopback(bootstrap: str) -> bool:
    """True when every bootstrap server is on this machine (127.0.0.0/8, ::1, localhost)."""
    for server in bootstrap.split(","):
        host = server.rpartition(":")[0].strip("[]")
        if host == "localhost":
            continue
        try:
            if not ipaddress.ip_address(host).is_loopback:
                return False
        except ValueError:
            return False
    return True


def open_bus_problem(bootstrap: str, security: KafkaSecurity, *, tls: bool = False) -> str | None:
    """Why this bus is open to whoever reaches it, or None (authenticated, or loopback)."""
    if security.authenticated(tls=tls) or is_loopback(bootstrap):
        return None
    return (
        f"the Kafka bus {bootstrap} is not on loopback and govex would connect without "
        "authentication: anyone who reaches the broker could read every record without a "
        "grant or an audit entry, and write to govex.records.* (set GOVEX_KAFKA__USERNAME "
        "and GOVEX_KAFKA__PASSWORD or _PASSWORD_FILE and use kafkas://; see the README, "
        '"Securing the Kafka bus")'
    )
