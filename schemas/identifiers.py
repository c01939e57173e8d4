"""Chinese public identifiers and their check characters.

Four identifiers travel through govex, each with a validator that returns the
normalised value or raises :class:`~schemas.errors.IdentifierError` saying what is
wrong and where, a ``make_*`` function that builds valid values (demo data, tests),
and a pydantic ``Annotated`` type:

* 公民身份号码, citizen ID number (GB 11643-1999): 6-digit region, 8-digit birth
  date, 3-digit order code (odd for men, even for women), ISO 7064 MOD 11-2 check
  character ``0-9`` or ``X``. :data:`IdNumber`.
* 统一社会信用代码, unified social credit code (GB 32100-2015): registration
  authority, organisation kind, 6-digit region, the 9-character organisation code
  of GB 11714 (with its own MOD 11 check character), and a MOD 31 check character
  over the alphabet ``0-9A-Z`` without ``I O S V Z``. :data:`Uscc`. Its checks live in
  :mod:`schemas.uscc` (re-exported here).
* 行政区划代码, administrative region code (GB/T 2260): 6 digits whose first two
  name one of the 34 province-level divisions. :data:`RegionCode`. The province table
  and the codes of 信阳 by year live in :mod:`schemas.regions`.
* The e-certificate identifier after GB/T 36904 (see :func:`make_certificate_id`).
  :data:`CertificateId`.

:func:`format_checkers` exposes the validators as JSON Schema format checkers
(``cn-id``, ``uscc``, ``region``, ``certificate-id``, ``date``) for fastjsonschema.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Annotated, NamedTuple

from pydantic import AfterValidator, WithJsonSchema

from schemas.errors import ErrorCode, IdentifierError
from schemas.regions import (
    PROVINCE_CODES,
    province_name,
    region_known,
    region_valid_in,
    validate_region_code,
)
from schemas.uscc import (
    USCC_ALPHABET,
    make_uscc,
    organization_code_check_char,
    uscc_check_char,
    validate_uscc,
)

__all__ = [
    "CERTIFICATE_ID_PREFIX",
    "PROVINCE_CODES",
    "USCC_ALPHABET",
    "CertificateId",
    "CertificateIdParts",
    "IdNumber",
    "RegionCode",
    "Uscc",
    "format_checkers",
    "id_check_char",
    "make_certificate_id",
    "make_id_number",
    "make_uscc",
    "mask_id_number",
    "mod37_36_check_char",
    "organization_code_check_char",
    "parse_certificate_id",
    "uscc_check_char",
    "validate_certificate_id",
    "validate_id_number",
    "validate_region_code",
    "validate_uscc",
]

# ------------------------------------------------------------------------ ID numbers

_ID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_ID_CHECK = "10X98765432"  # index: weighted sum mod 11
_EARLIEST_BIRTH = date(1800, 1, 1)


def id_check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of the first 17 digits of an ID number."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise IdentifierError(f"ID number body {first17!r}: must be 17 digits")
    total = sum(int(ch) * w for ch, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def validate_id_number(
    value: str, *, today: date | None = None, region_history: bool = False
) -> str:
    """Return the normalised citizen ID number (lower-case ``x`` becomes ``X``) or raise.

    Checked: 18 characters, 17 digits then a digit or ``X``; a region prefix of a
    province-level division (``schema.unknown_province``); a real birth date between
    1800-01-01 and ``today``; the check character.

    ``region_history``: also refuse (``schema.region_not_in_use``) a region that
    :mod:`schemas.regions` lists as not in use in the birth year, for numbers given at
    birth (generated data); off by default, as a number may be given years after the
    birth. Codes the table does not list are never refused.
    """
    if len(value) != 18:
        raise IdentifierError(f"ID number {value!r}: must be 18 characters, got {len(value)}")
    number = value[:17] + value[17].upper()
    for pos, ch in enumerate(number[:17], start=1):
        if not ("0" <= ch <= "9"):
            raise IdentifierError(f"ID number {value}: character {pos} ({ch!r}) is not a digit")
    if number[17] not in "0123456789X":
        raise IdentifierError(
            f"ID number {value}: check character {number[17]!r} must be a digit or X"
        )
    try:
        province_name(number)
    except IdentifierError as exc:
        raise IdentifierError(
            f"ID number {value}: region {number[:6]} (characters 1-6): {exc.message}",
            code=exc.code,
        ) from None
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise IdentifierError(
            f"ID number {value}: birth date {number[6:14]} (characters 7-14) is not a real date"
        ) from None
    if birth > (today or date.today()):
        raise IdentifierError(f"ID number {value}: birth date {birth} is in the future")
    if birth < _EARLIEST_BIRTH:
        raise IdentifierError(f"ID number {value}: birth date {birth} is before 1800")
    expected = id_check_char(number[:17])
    if number[17] != expected:
        raise IdentifierError(
            f"ID number {value}: check character should be {expected}, not {number[17]}"
        )
    region = number[:6]
    if region_history and region_known(region) and not region_valid_in(region, birth.year):
        raise IdentifierError(
            f"ID number {value}: region {region} was not in use in {birth.year}, the birth year",
            code=ErrorCode.REGION_NOT_IN_USE,
        )
    return number


def make_id_number(region: str, birth: date, sequence: int, *, female: bool) -> str:
    """Build a valid ID number.

    ``sequence`` is the 3-digit order code (0-999) of GB 11643: odd for men, even for
    women, so its parity must agree with ``female``. ``make_id_number("110105",
    date(1949, 12, 31), 2, female=True)`` is the standard's example
    ``11010519491231002X``.
    """
    validate_region_code(region)
    if not 0 <= sequence <= 999:
        raise IdentifierError(f"ID order code {sequence}: must be between 0 and 999")
    if (sequence % 2 == 0) != female:
        raise IdentifierError(
            f"ID order code {sequence}: must be {'even' if female else 'odd'} for a "
            f"{'woman' if female else 'man'}"
        )
    body = f"{region}{birth:%Y%m%d}{sequence:03d}"
    return validate_id_number(body + id_check_char(body))


def mask_id_number(value: str) -> str:
    """Mask an ID number for display: keep only the region (the first 6 characters).

    ``"11010519491231002X"`` becomes ``"110105************"``. The serial and check
    characters are hidden too: with the birth date (a field of most registers) and the
    sex, they would give the whole number back. A value of 10 characters or fewer is
    masked entirely.
    """
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 6)


# -------------------------------------------------------------------- certificate id

CERTIFICATE_ID_PREFIX = "1.2.156.3005.2"
"""OID arc of e-certificate identifiers (GB/T 36904)."""

_MOD36_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_MOD36_VALUE = {ch: i for i, ch in enumerate(_MOD36_ALPHABET)}
_mod36_leads: dict[tuple[str, str], int] = {}  # checked (type code, issuer) → MOD 37,36 state
_MOD36_NEXT = [
    {ch: ((product + value) % 36 or 36) * 2 % 37 for ch, value in _MOD36_VALUE.items()}
    for product in range(37)
]  # running state → character → next state: one lookup per character of 0-9A-Z
_PREFIX_DOT = CERTIFICATE_ID_PREFIX + "."
_TYPE_CODE = re.compile(r"[0-9]{4,12}")
_SERIAL = re.compile(r"[0-9A-Z]{1,32}")
_VERSION = re.compile(r"[0-9]{3}")


class CertificateIdParts(NamedTuple):
    """The parts of an e-certificate identifier."""

    type_code: str
    issuer: str
    serial: str
    version: int


def mod37_36_check_char(chars: str) -> str:
    """ISO/IEC 7064 MOD 37,36 (hybrid system) check character over ``0-9A-Z``.

    It detects every single substitution. Adjacent transpositions are detected
    except for 72 of the 45,360 (state, pair) combinations, about 1 in 630: the
    hybrid systems trade that for a check character that is never a symbol (the pure
    MOD 37,2 would need ``*``).
    """
    return _MOD36_ALPHABET[(1 - _mod37_36_state(chars)) % 36]


def _mod37_36_state(chars: str, product: int = 36) -> int:
    """The MOD 37,36 running state after ``chars``, starting from ``product``."""
    for pos, ch in enumerate(chars, start=1):
        value = _MOD36_VALUE.get(ch)
        if value is None:
            raise IdentifierError(f"{chars!r}: character {pos} ({ch!r}) is not 0-9A-Z")
        product = ((product + value) % 36 or 36) * 2 % 37
    return product


def make_certificate_id(
    type_code: str, issuer_uscc: str, serial: str | int, version: int = 1
) -> str:
    """Build an e-certificate identifier after GB/T 36904.

    Layout: ``1.2.156.3005.2.<type code>.<issuer USCC>.<serial>.<version>.<check>``

    * type code: the certificate type's numeric code, 4-12 digits (``type_code`` in
      ``schemas/certificate_types/*.json``);
    * issuer: the USCC of the issuing department;
    * serial: 1-32 characters ``0-9A-Z`` chosen by the issuer (an int is written in
      decimal);
    * version: 3 digits, ``001`` to ``999``;
    * check: ISO/IEC 7064 MOD 37,36 over every character before the last dot, with
      the dots removed (prefix included), so that a changed character in any part is
      caught (and nearly every swap of neighbours, see :func:`mod37_36_check_char`).
    """
    serial_text = str(serial) if isinstance(serial, int) else serial
    body = f"{CERTIFICATE_ID_PREFIX}.{type_code}.{issuer_uscc}.{serial_text}.{version:03d}"
    _check_parts(body, type_code, issuer_uscc, serial_text, f"{version:03d}")
    # as in parse_certificate_id: the checked parts are all of 0-9A-Z, and the state after
    # the prefix, type and issuer is worked out once per type and issuer
    state = _mod36_leads.get((type_code, issuer_uscc))
    if state is None:  # the pair was checked above
        state = _mod37_36_state(CERTIFICATE_ID_PREFIX.replace(".", "") + type_code + issuer_uscc)
        if len(_mod36_leads) < _CACHE_LIMIT:
            _mod36_leads[(type_code, issuer_uscc)] = state
    check = _MOD36_ALPHABET[(1 - _mod37_36_state(f"{serial_text}{version:03d}", state)) % 36]
    return f"{body}.{check}"


def _check_parts(cid: str, type_code: str, issuer: str, serial: str, version: str) -> None:
    if not _TYPE_CODE.fullmatch(type_code):
        raise IdentifierError(f"certificate id {cid}: type code {type_code!r} must be 4-12 digits")
    try:
        validate_uscc(issuer)
    except IdentifierError as exc:
        raise IdentifierError(f"certificate id {cid}: issuer: {exc.message}") from None
    if not _SERIAL.fullmatch(serial):
        raise IdentifierError(f"certificate id {cid}: serial {serial!r} must be 1-32 of 0-9A-Z")
    if not _VERSION.fullmatch(version) or version == "000":
        raise IdentifierError(f"certificate id {cid}: version {version!r} must be 001-999")


def parse_certificate_id(value: str) -> CertificateIdParts:
    """Split a certificate identifier into its parts, checking each and the check character."""
    parts = value.split(".")
    prefix_len = CERTIFICATE_ID_PREFIX.count(".") + 1
    if len(parts) != prefix_len + 5:
        raise IdentifierError(
            f"certificate id {value!r}: must be {CERTIFICATE_ID_PREFIX}.<type code>.<issuer "
            f"USCC>.<serial>.<version>.<check>"
        )
    if not value.startswith(_PREFIX_DOT):  # the first parts, joined, are not the prefix
        raise IdentifierError(
            f"certificate id {value}: must start with {CERTIFICATE_ID_PREFIX}, not "
            f"{'.'.join(parts[:prefix_len])}"
        )
    type_code, issuer, serial, version, check = parts[prefix_len:]
    # the prefix, type code and issuer are the same for every certificate of one type and
    # issuer: once checked, the pair is remembered with the MOD 37,36 state after them
    state = _mod36_leads.get((type_code, issuer))
    if state is None:
        _check_parts(value, type_code, issuer, serial, version)
        state = _mod37_36_state(CERTIFICATE_ID_PREFIX.replace(".", "") + type_code + issuer)
        if len(_mod36_leads) < _CACHE_LIMIT:
            _mod36_leads[(type_code, issuer)] = state
    elif not _SERIAL.fullmatch(serial) or not _VERSION.fullmatch(version) or version == "000":
        _check_parts(value, type_code, issuer, serial, version)  # raises, naming the part
    # serial and version are of 0-9A-Z (checked above): one table lookup per character
    for ch in serial + version:
        state = _MOD36_NEXT[state][ch]
    expected = _MOD36_ALPHABET[(1 - state) % 36]
    if check != expected:
        raise IdentifierError(
            f"certificate id {value}: check character should be {expected}, not {check}"
        )
    return CertificateIdParts(type_code, issuer, serial, int(version))


def validate_certificate_id(value: str) -> str:
    """Return ``value`` if it is a well-formed certificate identifier, else raise."""
    parse_certificate_id(value)
    return value


# ------------------------------------------------------------------ pydantic, formats

IdNumber = Annotated[
    str,
    AfterValidator(validate_id_number),
    WithJsonSchema({"type": "string", "format": "cn-id", "pattern": "^[0-9]{17}[0-9Xx]$"}),
]
"""A citizen ID number, validated and normalised by :func:`validate_id_number`."""

Uscc = Annotated[
    str,
    AfterValidator(validate_uscc),
    WithJsonSchema({"type": "string", "format": "uscc", "pattern": f"^[{USCC_ALPHABET}]{{18}}$"}),
]
"""A unified social credit code, validated by :func:`validate_uscc`."""

RegionCode = Annotated[
    str,
    AfterValidator(validate_region_code),
    WithJsonSchema({"type": "string", "format": "region", "pattern": "^[1-8][0-9]{5}$"}),
]
"""An administrative region code, validated by :func:`validate_region_code`."""

CertificateId = Annotated[
    str,
    AfterValidator(validate_certificate_id),
    WithJsonSchema({"type": "string", "format": "certificate-id"}),
]
"""An e-certificate identifier, validated by :func:`parse_certificate_id`."""

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _valid_date(value: str) -> str:
    if not _DATE.fullmatch(value):
        raise IdentifierError(f"date {value!r}: must be YYYY-MM-DD")
    date.fromisoformat(value)
    return value


_ID_SHAPE = re.compile(r"[1-9][0-9]{16}[0-9Xx]")
_CACHE_LIMIT = 200_000
_past_births: set[str] = set()  # "YYYYMMDD": real dates from 1800 up to a day already seen
_real_dates: set[str] = set()  # "YYYY-MM-DD" strings already found to be real dates


def _is_id_number(value: str) -> bool:
    """``validate_id_number`` as a yes/no, without exceptions on the common (valid) path.

    Ingest checks every ID number on both sides, so the usual case takes one regular
    expression, a set lookup of the birth date and one ``int()``: the weights of
    ISO 7064 MOD 11-2 are ``2^(17-i) mod 11``, and as 13 ≡ 2 (mod 11) the weighted sum
    is ``2 · int(first17, 13)`` modulo 11. Anything this path does not accept outright is
    decided by :func:`validate_id_number` itself.
    """
    if value.__class__ is str and _ID_SHAPE.fullmatch(value) and value[:2] in PROVINCE_CODES:
        birth = value[6:14]
        if birth not in _past_births:
            try:
                born = date(int(birth[:4]), int(birth[4:6]), int(birth[6:]))
            except ValueError:
                return False
            if born < _EARLIEST_BIRTH:
                return False
            if born <= date.today() and len(_past_births) < _CACHE_LIMIT:
                _past_births.add(birth)
        if birth in _past_births:
            expected = _ID_CHECK[2 * int(value[:17], 13) % 11]
            return value[17] == expected or (expected == "X" and value[17] == "x")
    try:
        validate_id_number(value)
    except ValueError:  # IdentifierError is a ValueError
        return False
    return True


def _is_date(value: str) -> bool:
    """``_valid_date`` as a yes/no, remembering the real dates it has seen."""
    if value in _real_dates:
        return True
    try:
        _valid_date(value)
    except ValueError:
        return False
    if len(_real_dates) < _CACHE_LIMIT:
        _real_dates.add(value)
    return True


def _checker(validate: Callable[[str], object]) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        try:
            validate(value)
        except ValueError:  # IdentifierError is a ValueError
            return False
        return True

    check.__doc__ = f"True if {validate.__name__} accepts the value."
    return check


def format_checkers() -> dict[str, Callable[[str], bool]]:
    """JSON Schema format checkers, for ``fastjsonschema.compile(schema, formats=...)``.

    ``cn-id``, ``uscc``, ``region``, ``certificate-id``, and a stricter ``date`` that
    also refuses impossible dates such as 2023-02-30.
    """
    return {
        "cn-id": _is_id_number,
        "uscc": _checker(validate_uscc),
        "region": _checker(validate_region_code),
        "certificate-id": _checker(validate_certificate_id),
        "date": _is_date,
    }
