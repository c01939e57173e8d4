"""The govex JSON-LD vocabulary: one context defining every term a govex credential uses.

A credential names two contexts: the W3C VC 2.0 context and ours, which the exchange
serves at ``<issuer>/ns/credentials/v1`` (:func:`context_url`). Ours defines, under the
vocabulary ``https://govex.dev/ns/credentials#``:

* the credential type of every certificate type (``ResidentIdCardCredential`` …);
* ``metadata`` and the GB/T 36903 metadata fields (证照元数据, :class:`CertificateMetadata`);
* the ``credentialSubject`` fields of every certificate type, dates typed ``xsd:date``
  and date-times ``xsd:dateTime`` after their JSON Schema ``format``.

The document is generated from the certificate types (:func:`build_context`) and shipped
as the package data file ``credentials-v1.context.json`` (:func:`packaged_context`); a
test keeps the two equal, so a new type or field cannot be left undefined. Regenerate it
with ``python -m exchange.certificates.context``. Terms are ``@protected``: a later
context cannot redefine them. Nothing here is fetched: a verifier that needs the context
offline finds it in the trust bundle.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from importlib import resources as importlib_resources
from typing import Any

from exchange.certificates.vocabulary import credential_type_name
from schemas.certificates import CertificateMetadata, CertificateType, load_certificate_types

__all__ = [
    "CONTEXT_FILE",
    "CONTEXT_PATH",
    "CONTEXT_VERSION",
    "VOCABULARY",
    "build_context",
    "context_url",
    "packaged_context",
    "subject_terms",
]

VOCABULARY = "https://govex.dev/ns/credentials#"
"""The IRI every govex term expands under (a name, not fetched)."""
CONTEXT_VERSION = "v1"
CONTEXT_PATH = f"/ns/credentials/{CONTEXT_VERSION}"
"""Where the exchange serves the context, below its issuer URL."""
CONTEXT_FILE = "credentials-v1.context.json"
_XSD = "http://www.w3.org/2001/XMLSchema#"
_FORMAT_TYPES = {"date": f"{_XSD}date", "date-time": f"{_XSD}dateTime"}
_METADATA_TYPES = {"issue_date": "date", "valid_from": "date", "valid_until": "date"}
_JSON_LD_OR_VC = frozenset({"id", "type"})
"""Subject members the VC 2.0 context defines already (``id`` is ``@id``)."""


def context_url(issuer: str) -> str:
    """The URL of the govex context of the exchange whose issuer URL is ``issuer``."""
    return f"{issuer.rstrip('/')}{CONTEXT_PATH}"


def _properties(schema: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every property of a JSON Schema, nested objects and array items included."""
    for name, spec in schema.get("properties", {}).items():
        if not isinstance(spec, Mapping):
            continue
        yield name, spec
        yield from _properties(spec)
        items = spec.get("items")
        if isinstance(items, Mapping):
            yield name, items
            yield from _properties(items)


def subject_terms(types: Iterable[CertificateType]) -> dict[str, str | None]:
    """Every ``credentialSubject`` field of ``types`` → its JSON Schema format (or None)."""
    found: dict[str, str | None] = {}
    for ctype in types:
        for name, spec in _properties(ctype.json_schema):
            if name in _JSON_LD_OR_VC:
                continue
            fmt = spec.get("format")
            known = found.get(name)
            found[name] = known if known is not None else fmt if isinstance(fmt, str) else None
    return found


def _term(name: str, fmt: str | None) -> str | dict[str, str]:
    typed = _FORMAT_TYPES.get(fmt or "")
    if typed is None:
        return f"govex:{name}"
    return {"@id": f"govex:{name}", "@type": typed}


def build_context(types: Mapping[str, CertificateType] | None = None) -> dict[str, Any]:
    """The context document for ``types`` (default: every packaged certificate type)."""
    chosen = load_certificate_types() if types is None else types
    ordered = sorted(chosen.values(), key=lambda t: t.code)
    terms: dict[str, Any] = {"@protected": True, "govex": VOCABULARY}
    for ctype in ordered:
        name = credential_type_name(ctype)
        terms[name] = {"@id": f"govex:{name}"}
    terms["metadata"] = {"@id": "govex:metadata"}
    fields: dict[str, str | None] = {
        name: _METADATA_TYPES.get(name) for name in CertificateMetadata.model_fields
    }
    for name, fmt in subject_terms(ordered).items():
        fields.setdefault(name, fmt)
    for name in sorted(fields):
        terms[name] = _term(name, fields[name])
    return {"@context": terms}


def render(document: Mapping[str, Any]) -> str:
    """The context as it is shipped: UTF-8 JSON, two-space indent, a final newline."""
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


@cache
def packaged_text() -> str:
    """The shipped context file's text (what the exchange serves and bundles)."""
    resource = importlib_resources.files("exchange.certificates") / CONTEXT_FILE
    return resource.read_text("utf-8")


def packaged_context() -> dict[str, Any]:
    """The shipped context document (a fresh copy)."""
    value: dict[str, Any] = json.loads(packaged_text())
    return value


if __name__ == "__main__":  # pragma: no cover - the generator of the shipped file
    sys.stdout.write(render(build_context()))
