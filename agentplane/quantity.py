"""Kubernetes resource quantities, parsed exactly so quotas can be compared with tier ceilings.

The grammar is k8s.io/apimachinery's (resource.ParseQuantity): sign, digits, optional binary
or decimal suffix or exponent. Amounts beyond what this platform can ever mean are refused
before arithmetic, so `1e999999999` or a thousand digits cost nothing and never overflow.
"""

from __future__ import annotations

import re
from decimal import Decimal, localcontext

_SUFFIX = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
# Suffixes first, then an exponent with at least one digit: "1E" is one exa, "1E3" is 1000.
_QUANTITY = re.compile(
    r"^(?P<num>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:(?P<exp>[eE][+-]?[0-9]{1,3})|(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$"
)
MAX_DIGITS = 30
# Kubernetes stores quantities as int64 milli-units at most; anything larger is meaningless here.
MAX_AMOUNT = Decimal(2**63 - 1) / 1000


def parse_quantity(text: str) -> Decimal:
    """'500m' -> 0.5, '4Gi' -> 4294967296. Raises ValueError for anything Kubernetes would reject
    and for amounts no cluster has (more than 2^63/1000 units)."""
    shown = (
        repr(text)
        if isinstance(text, str) and text.isascii() and text.isprintable() and len(text) <= 40
        else "the value"
    )
    match = _QUANTITY.match(text) if isinstance(text, str) and len(text) <= 64 else None
    if not match:
        raise ValueError(f"{shown} is not a Kubernetes quantity (examples: 500m, 2, 4Gi, 512Mi)")
    if sum(c.isdigit() for c in match["num"]) > MAX_DIGITS:
        raise ValueError(f"{shown} has more than {MAX_DIGITS} digits")
    with localcontext() as ctx:
        ctx.prec = 60
        number = Decimal(match["num"])
        if match["exp"] is not None:
            exponent = int(match["exp"][1:])
            if exponent > 30 or exponent < -30:
                raise ValueError(f"{shown} is out of range (exponent beyond ±30)")
            amount = number.scaleb(exponent)
        else:
            amount = number * _SUFFIX[match["suffix"] or ""]
    if abs(amount) > MAX_AMOUNT:
        raise ValueError(f"{shown} is more than any cluster holds (at most {MAX_AMOUNT:.3E})")
    return amount
