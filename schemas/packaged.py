"""The data shipped inside ``schemas``: one folder of JSON files per kind of definition.

``resources/`` (政务信息资源目录 entries), ``certificate_types/`` (电子证照 types) and
``matters/`` (一件事一次办 matters) are each a folder of ``*.json`` files, one
definition per file. :func:`read_folder` reads one such folder in file-name order and
validates every file against its model; a file that does not validate is a
:class:`~schemas.errors.SchemaError` naming the file.
"""

from __future__ import annotations

import json
from importlib import resources as importlib_resources
from typing import TypeVar

from pydantic import BaseModel

from schemas.errors import ErrorCode, SchemaError

__all__ = ["read_folder"]

M = TypeVar("M", bound=BaseModel)


def read_folder(
    folder: str, model: type[M], *, what: str, code: ErrorCode | None = None
) -> list[tuple[str, M]]:
    """Every ``*.json`` file of the packaged ``folder`` as ``(file name, model)``, by name.

    ``what`` names the kind of file in the error (``"resource file x.json is invalid: …"``);
    ``code`` is the error's code (the default code of :class:`SchemaError` when None).
    """
    root = importlib_resources.files("schemas") / folder
    out: list[tuple[str, M]] = []
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".json"):
            continue
        try:
            value = model.model_validate(json.loads(entry.read_text("utf-8")))
        except ValueError as exc:
            raise SchemaError(f"{what} file {entry.name} is invalid: {exc}", code=code) from exc
        out.append((entry.name, value))
    return out
