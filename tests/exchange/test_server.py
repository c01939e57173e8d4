"""Slow and greedy clients against a real ``govex serve`` on loopback: a client that
trickles its headers or its body is cut off, one address holds a bounded number of
connections, and ordinary requests are served as before. And what the address served
decides: a demo exchange's department picker is offered on loopback only. And the heap
the served process starts with is kept out of its full garbage collections."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from exchange.config import Settings
from exchange.demo.setup import create_demo
from exchange.server import GC_YOUNG, build_app, demo_exposed, serve
from tests.support import LOOPBACK, free_port
from tests.support.serve import govex_serve

HEADER_TIMEOUT_S = 1.0
BODY_TIMEOUT_S = 1.0
PER_ADDRESS = 4


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    data = tmp_path_factory.mktemp("serve") / "data"
    env = {
        "GOVEX_API__HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
        "GOVEX_API__BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
        "GOVEX_API__MAX_CONNECTIONS_PER_ADDRESS": str(PER_ADDRESS),
    }
    init = [sys.executable, "-m", "exchange", "init", "--data", str(data), "--demo"]
    subprocess.run(init, env={**os.environ, **env}, check=True, capture_output=True, timeout=120)
    with govex_serve(data, env=env) as served:
        yield served.port


def _get(port: int, path: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def _response(s: socket.socket) -> bytes:
    """One whole response (head and Content-Length body) read from a kept-alive socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += s.recv(65536)
    return data


def _closed_by_server(s: socket.socket) -> bool:
    """Whether the server has closed ``s`` (a read gives EOF or a reset)."""
    s.settimeout(0.05)
    try:
        return s.recv(1024) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def _trickle(port: int, head: bytes, *, step_s: float, limit_s: float) -> float:
    """Send ``head`` then one byte every ``step_s``; seconds until the server cut it off."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(head)
        for _ in range(int(limit_s / step_s)):
            time.sleep(step_s)
            if _closed_by_server(s):
                return time.monotonic() - start
            try:
                s.sendall(b"a")
            except OSError:
                return time.monotonic() - start
    return float("inf")


def test_a_client_trickling_its_headers_is_cut_off_within_the_header_timeout(
    port: int,
) -> None:
    took = _trickle(port, b"GET /healthz HTTP/1.1\r\nX-Slow: ", step_s=0.2, limit_s=6)
    print(f"slow headers cut off after {took:.2f} s (header timeout {HEADER_TIMEOUT_S} s)")
    assert HEADER_TIMEOUT_S * 0.8 <= took <= HEADER_TIMEOUT_S + 1.5


def test_a_client_trickling_its_body_is_cut_off_within_the_body_timeout(port: int) -> None:
    head = (
        b"POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 100000\r\n\r\n"
    )
    took = _trickle(port, head, step_s=0.2, limit_s=6)
    print(f"slow body cut off after {took:.2f} s (body timeout {BODY_TIMEOUT_S} s)")
    assert took <= BODY_TIMEOUT_S + 1.5


def test_one_address_holds_a_bounded_number_of_connections(port: int) -> None:
    held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(PER_ADDRESS)]
    try:
        time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as extra:
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.2)
            refused = _closed_by_server(extra)
        assert refused, "a connection beyond the per-address cap was served"
    finally:
        for s in held:
            s.close()
    time.sleep(0.3)  # the server sees the closes
    assert _get(port, "/healthz").startswith(b"HTTP/1.1 200")


def _problem(answer: bytes) -> dict[str, object]:
    """The problem+json body of a whole HTTP answer."""
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"application/problem+json" in head.lower(), head
    problem: dict[str, object] = json.loads(body)
    return problem


def test_keep_alive_requests_are_served_as_before(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        for _ in range(3):
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = _response(s)
            assert answer.startswith(b"HTTP/1.1 200"), answer
            time.sleep(HEADER_TIMEOUT_S * 0.6)  # idle between requests: not a slow head


def test_a_request_head_beyond_its_cap_is_refused_and_the_connection_closed(port: int) -> None:
    """A head longer than ``max_header_bytes`` (16 KiB) gets 431 in problem+json and a
    close, whether it comes whole or in pieces; one just within the cap is served."""
    within = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 12_000 + b"\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(within)
        assert _response(s).startswith(b"HTTP/1.1 200")
    for pieces in (1, 8):
        pad = b"a" * 40_000
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + pad + b"\r\n\r\n"
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            step = len(head) // pieces + 1
            try:
                for at in range(0, len(head), step):
                    s.sendall(head[at : at + step])
                    time.sleep(0.02)
            except OSError:
                pass  # closed while sending: refused
            answer = b""
            try:
                while chunk := s.recv(65536):
                    answer += chunk
            except OSError:
                pass
        assert answer.startswith(b"HTTP/1.1 431"), (pieces, answer[:80])
        assert _problem(answer)["code"] == "exchange.request_head_too_large", answer


def test_a_body_sent_with_its_head_and_pipelined_requests_are_served(port: int) -> None:
    """A head and its (larger than the head cap) body in one write, then two requests in
    one write on the same connection: every one is answered, nothing is cut off."""
    body = b"x" * 40_000
    head = (
        b"POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(head + body)
        answer = _response(s)
        assert not answer.startswith(b"HTTP/1.1 400"), answer[:120]
        assert answer.startswith(b"HTTP/1.1 4"), answer[:120]  # refused by the app, not the parser
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 2)
        answers, until = b"", time.monotonic() + 5
        while answers.count(b"HTTP/1.1 200") < 2 and time.monotonic() < until:
            answers += s.recv(65536)
        assert answers.count(b"HTTP/1.1 200") == 2, answers[:200]


def test_a_chunked_bodys_trailer_beyond_the_head_cap_is_refused(port: int) -> None:
    """A chunked body whose trailer goes on beyond ``max_header_bytes``, sent in pieces, is
    cut off with 431 (the parser would otherwise gather the trailer until the body
    deadline)."""
    head = (
        b"POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-Trailer: "
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(head)
        closed = False
        for _ in range(40):  # 40 × 2 KiB: far beyond the 16 KiB cap
            time.sleep(0.01)
            try:
                s.sendall(b"a" * 2048)
            except OSError:
                closed = True
                break
        answer = b""
        try:
            while chunk := s.recv(65536):
                answer += chunk
            closed = True
        except OSError:
            closed = True
    assert closed
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert _problem(answer)["code"] == "exchange.request_head_too_large", answer


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",  # no colon
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS hello on the plain port
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    ],
    ids=["header-without-colon", "tls-hello", "two-content-lengths"],
)
def test_bytes_that_are_not_http_get_problem_json_not_plain_text(
    port: int, request_bytes: bytes
) -> None:
    """What the HTTP parser refuses is answered like every other refusal: RFC 9457
    problem+json with a stable code (uvicorn's own answer is plain text), then a close."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request_bytes)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"content-type: application/problem+json" in answer.lower()
    problem = _problem(answer)
    assert problem["code"] == "exchange.malformed_request"
    assert problem["status"] == 400


def test_an_upgrade_request_is_an_ordinary_request_and_holds_no_connection_slot(
    port: int,
) -> None:
    """No WebSocket routes: ``Upgrade: websocket`` is answered as any request, and more of
    them than an address may hold at once leave its connections free."""
    request = (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    for _ in range(PER_ADDRESS * 2):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(request)
            assert not _response(s).startswith(b"HTTP/1.1 101")
    time.sleep(0.3)  # the server sees the closes
    assert _get(port, "/healthz").startswith(b"HTTP/1.1 200")


def _form_token(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]*)"', html)
    assert match is not None
    return match.group(1)


def test_a_demo_exchange_offers_its_picker_on_loopback_only(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data = tmp_path_factory.mktemp("picker") / "data"
    with create_demo(Settings(data=data)) as exchange:
        assert [demo_exposed(exchange, h) for h in ("127.0.0.1", "::1", "localhost")] == [
            False,
            False,
            False,
        ]
        assert demo_exposed(exchange, "0.0.0.0")
        with pytest.raises(ValueError, match="loopback only"):
            serve(exchange, host="0.0.0.0", port=1)  # refused before anything is bound
        with TestClient(build_app(exchange), raise_server_exceptions=False) as local:
            assert 'value="gongan"' in local.get("/console/login").text
        with TestClient(
            build_app(exchange, bind_host="0.0.0.0"), raise_server_exceptions=False
        ) as exposed:
            login = exposed.get("/console/login")
            assert 'name="department"' not in login.text
            r = exposed.post(
                "/console/login",
                data={"csrf": _form_token(login.text), "method": "demo", "department": "gongan"},
                follow_redirects=False,
            )
            assert r.status_code == 403
            assert "loopback" in r.text


_SERVE_AND_REPORT_HEAP = """
import gc, os, signal, sys, threading, time, urllib.request
url, out = sys.argv[1], sys.argv[2]

def report() -> None:
    while True:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=2)
            break
        except OSError:
            time.sleep(0.1)
    with open(out, "w") as f:
        f.write(f"{gc.get_freeze_count()} {len(gc.get_objects(generation=2))} "
                f"{gc.get_threshold()[0]}")
    os.kill(os.getpid(), signal.SIGINT)

threading.Thread(target=report, daemon=True).start()
sys.argv = ["govex", "serve", "--data", sys.argv[3], "--port", sys.argv[4]]
from exchange.cli.main import main
main()
"""


def test_the_served_process_keeps_its_startup_heap_out_of_full_collections(
    tmp_path: Path,
) -> None:
    """What ``govex serve`` made before serving (modules, the exchange, the app) is frozen:
    a full collection while serving walks only what serving made since (P3-p99)."""
    data, out, port = tmp_path / "data", tmp_path / "heap.txt", free_port()
    create_demo(Settings(data=data)).close()
    served = subprocess.run(
        [sys.executable, "-c", _SERVE_AND_REPORT_HEAP, f"http://{LOOPBACK}:{port}", str(out),
         str(data), str(port)],
        capture_output=True, timeout=180,
    )  # fmt: skip
    assert out.exists(), served.stderr.decode()[-2000:]
    frozen, old, young = map(int, out.read_text().split())
    assert frozen > 50_000  # the startup heap: well over 100,000 objects
    assert old < frozen // 10
    assert young == GC_YOUNG  # young collections every 10,000 objects, not 700
