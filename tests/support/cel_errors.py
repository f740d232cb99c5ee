"""The exceptions the `cel` package (common-expression-language, bindings to cel-rust) raises,
so that models of upstream CEL evaluators catch exactly the failures upstream tolerates and
nothing else (a bug in a model, an AssertionError, an UnknownField always propagates).

Measured on the pinned package: a parse error is a ValueError ("Failed to parse expression");
at run time an undefined variable, a failing or mistyped function (Python functions included:
"Python function call failed") is a RuntimeError, a missing map key a KeyError, an index out of
range an IndexError, a division by zero a ZeroDivisionError, an operator on the wrong types a
TypeError, an integer overflow an OverflowError, a bad conversion a ValueError.
"""

from __future__ import annotations

CEL_PARSE_ERROR = ValueError
CEL_RUNTIME_ERRORS: tuple[type[Exception], ...] = (
    RuntimeError,
    KeyError,
    IndexError,
    ZeroDivisionError,
    TypeError,
    OverflowError,
    ValueError,
)
