"""Signer processes: the proof values of every algorithm, in the order of the messages."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator

import pytest

from signing.algorithms import Algorithm, verify
from signing.keys import generate_key
from signing.multibase import decode_base58btc
from signing.pool import OwnedExecutor, SigningPool, sign_encoded
from tests.support.orphans import HAS_PROC, left_behind


@pytest.fixture(scope="module")
def pool() -> Iterator[SigningPool]:
    signers = SigningPool(2)
    yield signers
    signers.close()


@pytest.mark.parametrize("algorithm", ["Ed25519", "ES256", "SM2"])
def test_a_pool_signs_every_message_in_order(pool: SigningPool, algorithm: Algorithm) -> None:
    key = generate_key(algorithm)
    messages = [b"message %d" % i for i in range(9)]
    values = pool.submit(key, messages)()
    assert len(values) == len(messages)
    for value, message in zip(values, messages, strict=True):
        verify(key.public_key(), decode_base58btc(value), message)
    if algorithm == "Ed25519":  # deterministic: the same bytes as signed here
        assert values == sign_encoded(key, messages)


def test_a_closed_pool_starts_again_and_a_pool_needs_a_worker(pool: SigningPool) -> None:
    key = generate_key("Ed25519")
    pool.close()
    assert pool.submit(key, [b"again"])() == sign_encoded(key, [b"again"])
    assert pool.submit(key, [])() == []
    pool.close()
    with pytest.raises(ValueError, match="at least one worker"):
        SigningPool(0)


_SIGNS_THEN_WAITS = """
import json, multiprocessing, sys
from signing.keys import generate_key
from signing.pool import SigningPool
pool = SigningPool(2)
pool.submit(generate_key("Ed25519"), [b"a", b"b", b"c", b"d"])()
print(json.dumps([p.pid for p in multiprocessing.active_children()]), flush=True)
sys.stdin.read()
"""


@pytest.mark.skipif(not HAS_PROC, reason="reads processes from /proc")
def test_the_signers_and_their_fork_server_leave_when_their_process_is_killed() -> None:
    assert left_behind(_SIGNS_THEN_WAITS) == []


def test_work_queued_before_a_shutdown_without_waiting_is_still_done() -> None:
    """``shutdown(wait=False)`` lets the queued work finish: the workers keep their owner's
    pipe open until then, even once nothing here refers to the executor any more."""
    pool = OwnedExecutor(1)
    queued = pool.submit(time.sleep, 0.5)
    pool.shutdown(wait=False)
    del pool
    gc.collect()
    assert queued.result(timeout=120) is None
