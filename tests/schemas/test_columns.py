"""The whole-column check of ID numbers answers exactly what the per-value check answers."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from schemas.columns import id_numbers_valid
from schemas.identifiers import format_checkers, make_id_number

_one = format_checkers()["cn-id"]


def _valid(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        born = date(1900, 1, 1) + timedelta(days=rng.randrange(45_000))
        region = rng.choice(["411502", "110101", "650102", "820000", "310115"])
        female = rng.random() < 0.5
        out.append(
            make_id_number(region, born, 2 * rng.randrange(500) + (not female), female=female)
        )
    return out


def _with_check(first17: str) -> str:
    weights = [2 ** (17 - k) % 11 for k in range(17)]
    return (
        first17 + "10X98765432"[sum(int(c) * w for c, w in zip(first17, weights, strict=True)) % 11]
    )


TODAY = date.today()
ODD = [
    _with_check("41150219000229123"),  # 1900 was no leap year
    _with_check("41150220000229123"),  # 2000 was
    _with_check("41150220230229123"),  # 2023 was not
    _with_check("41150217991231123"),  # before 1800
    _with_check("41150218000101123"),  # the first day allowed
    _with_check("411502" + (TODAY + timedelta(days=1)).strftime("%Y%m%d") + "123"),  # tomorrow
    _with_check("411502" + TODAY.strftime("%Y%m%d") + "123"),  # today
    _with_check("41150219881301123"),  # month 13
    _with_check("41150219880100123"),  # day 0
    _with_check("41150219880431123"),  # 31 April
    _with_check("99150219880101123"),  # no such province
    _with_check("01150219880101123"),  # starts with 0
    _with_check("41150219880101123").lower(),  # a lower-case x (where the check is X)
    "41150219880101123",  # 17 characters
    "4115021988010112345",  # 19
    "41150219880101123Z",
    "4115021988O101123X",  # a letter O
    "４1150219880101123X",  # a full-width digit
    "",
]


@pytest.mark.parametrize("odd", ODD)
def test_one_odd_number_among_valid_ones_gets_the_per_value_answer(odd: str) -> None:
    good = _valid(100)
    assert id_numbers_valid(good) is True
    batch = [*good[:50], odd, *good[50:]]
    assert id_numbers_valid(batch) == all(map(_one, batch))


def test_every_single_character_change_gets_the_per_value_answer() -> None:
    good = _valid(80, seed=11)
    rng = random.Random(3)
    alphabet = "0123456789Xx"
    answers = set()
    for number in _valid(300, seed=5):
        k = rng.randrange(18)
        changed = number[:k] + rng.choice(alphabet) + number[k + 1 :]
        batch = [*good, changed]
        expected = _one(changed)
        answers.add(expected)
        assert id_numbers_valid(batch) == expected, changed
    assert answers == {True, False}  # both kinds met
