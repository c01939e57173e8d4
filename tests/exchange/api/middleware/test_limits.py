"""Body limits apply whatever the content type (RELIABILITY A6)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

Auth = Callable[[str], dict[str, str]]

DEEP_ARRAY = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 5000 + b"1" + b"}" * 5000


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream", None])
@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
def test_deep_json_under_any_content_type_is_refused_with_422(
    client: TestClient, auth: Auth, content_type: str | None, body: bytes
) -> None:
    headers = auth("budongchan")
    if content_type is not None:
        headers["content-type"] = content_type
    r = client.post("/v1/verify", headers=headers, content=body)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "schema.malformed_json"


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
@pytest.mark.parametrize(
    "body",
    [b'{"a": "x\\ud800"}', b'{"\\udc00": "k"}', b'["ok", {"b": ["\\udfff"]}]'],
    ids=["value", "key", "nested"],
)
def test_a_lone_surrogate_escape_is_refused_with_422_invalid_text(
    client: TestClient, auth: Auth, content_type: str, body: bytes
) -> None:
    headers = {**auth("budongchan"), "content-type": content_type}
    r = client.post("/v1/verify", headers=headers, content=body)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "schema.invalid_text"


def test_a_surrogate_pair_escape_is_valid_text(client: TestClient, auth: Auth) -> None:
    headers = {**auth("budongchan"), "content-type": "application/json"}
    r = client.post("/v1/verify", headers=headers, content=b'{"name": "\\ud83d\\ude00"}')
    assert r.status_code == 200, r.text
