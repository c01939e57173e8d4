"""统一社会信用代码, the unified social credit code (GB 32100-2015), and the organisation
code inside it (GB 11714).

18 characters of :data:`USCC_ALPHABET`: registration authority, organisation kind,
6-digit region, the 9-character organisation code (with its own MOD 11 check character),
and a MOD 31 check character. :func:`validate_uscc` returns a valid code or raises
:class:`~schemas.errors.IdentifierError` naming the wrong part; :func:`make_uscc` builds
one. :mod:`schemas.identifiers` re-exports these beside the other identifiers (and the
pydantic type :data:`~schemas.identifiers.Uscc`).
"""

from __future__ import annotations

from schemas.errors import IdentifierError
from schemas.regions import validate_region_code

__all__ = [
    "USCC_ALPHABET",
    "make_uscc",
    "organization_code_check_char",
    "uscc_check_char",
    "validate_uscc",
]

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
"""The 31 characters of a USCC (GB 32100): digits and letters without I, O, S, V, Z."""

_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_USCC_VALUE = {ch: i for i, ch in enumerate(USCC_ALPHABET)}
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_CENTRAL_REGION = "100000"  # used in the USCC of central (national-level) bodies
_CACHE_LIMIT = 200_000
_valid_usccs: set[str] = set()  # USCCs already found valid

# GB 32100 Annex A: registration authority -> organisation kinds it registers.
_USCC_KINDS: dict[str, str] = {
    "1": "1239",  # 机构编制: 机关, 事业单位, 群众团体, 其他
    "2": "19",  # 外交
    "3": "123459",  # 司法行政: 律师事务所, 公证处, 基层法律服务所, 司法鉴定, 仲裁委 …
    "4": "19",  # 文化
    "5": "1239",  # 民政: 社会团体, 民办非企业单位, 基金会, 其他
    "6": "1239",  # 旅游
    "7": "129",  # 宗教
    "8": "19",  # 工会
    "9": "123",  # 工商 / 市场监管: 企业, 个体工商户, 农民专业合作社
    "A": "19",  # 中央军委改革和编制办公室
    "N": "1239",  # 农业: 集体经济组织
    "Y": "1",  # 其他
}


def uscc_check_char(first17: str) -> str:
    """GB 32100 check character (weights 3^i mod 31) of the first 17 characters."""
    if len(first17) != 17:
        raise IdentifierError(f"USCC body {first17!r}: must be 17 characters")
    total = 0
    for pos, (ch, weight) in enumerate(zip(first17, _USCC_WEIGHTS, strict=True), start=1):
        if ch not in _USCC_VALUE:
            raise IdentifierError(
                f"USCC body {first17}: character {pos} ({ch!r}) is not in {USCC_ALPHABET}"
            )
        total += _USCC_VALUE[ch] * weight
    return USCC_ALPHABET[(31 - total % 31) % 31]


def organization_code_check_char(first8: str) -> str:
    """GB 11714 check character (``0-9`` or ``X``) of an 8-character organisation code."""
    if len(first8) != 8 or not first8.isascii() or not first8.isalnum() or first8 != first8.upper():
        raise IdentifierError(f"organization code body {first8!r}: must be 8 of 0-9A-Z")
    total = sum(int(ch, 36) * w for ch, w in zip(first8, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def validate_uscc(value: str) -> str:
    """Return the USCC if valid, else raise saying which part is wrong.

    Checked: 18 characters of :data:`USCC_ALPHABET`; registration authority
    (character 1) and organisation kind (character 2) among GB 32100 Annex A; region
    (characters 3-8) a province-level region code or ``100000`` for central bodies;
    organisation code (characters 9-17) with its GB 11714 check character; the
    GB 32100 check character (character 18).
    """
    if type(value) is str and value in _valid_usccs:
        return value
    if len(value) != 18:
        raise IdentifierError(f"USCC {value!r}: must be 18 characters, got {len(value)}")
    for pos, ch in enumerate(value, start=1):
        if ch not in _USCC_VALUE:
            raise IdentifierError(
                f"USCC {value}: character {pos} ({ch!r}) is not allowed (only {USCC_ALPHABET})"
            )
    authority, kind, region = value[0], value[1], value[2:8]
    if authority not in _USCC_KINDS:
        raise IdentifierError(
            f"USCC {value}: registration authority {authority!r} (character 1) is unknown"
        )
    if kind not in _USCC_KINDS[authority]:
        raise IdentifierError(
            f"USCC {value}: organisation kind {kind!r} (character 2) is not registered by "
            f"authority {authority!r}"
        )
    if region != _CENTRAL_REGION:
        try:
            validate_region_code(region)
        except IdentifierError as exc:
            raise IdentifierError(
                f"USCC {value}: characters 3-8: {exc.message}", code=exc.code
            ) from None
    expected_org = organization_code_check_char(value[8:16])
    if value[16] != expected_org:
        raise IdentifierError(
            f"USCC {value}: organization code {value[8:17]} (characters 9-17): check "
            f"character should be {expected_org}, not {value[16]}"
        )
    expected = uscc_check_char(value[:17])
    if value[17] != expected:
        raise IdentifierError(
            f"USCC {value}: check character should be {expected}, not {value[17]}"
        )
    if type(value) is str and len(_valid_usccs) < _CACHE_LIMIT:
        _valid_usccs.add(value)
    return value


def make_uscc(authority: str, kind: str, region: str, seq: int) -> str:
    """Build a valid USCC whose organisation code body is ``seq`` on 8 digits.

    Government organs are ``make_uscc("1", "1", region, n)``, companies
    ``make_uscc("9", "1", region, n)``; ``region`` may be ``"100000"`` for central
    bodies.
    """
    if not 0 <= seq <= 99_999_999:
        raise IdentifierError(f"USCC sequence {seq}: must be between 0 and 99999999")
    org_body = f"{seq:08d}"
    body = f"{authority}{kind}{region}{org_body}{organization_code_check_char(org_body)}"
    return validate_uscc(body + uscc_check_char(body))
