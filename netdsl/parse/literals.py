"""Literals as a .net file writes them → their values: number literals (`4.1G`, `1_000`, `0.5`)
read exactly, within netdsl's limits, and string literals' escapes read as Python reads them.
The parser's AST builder (build.py) reads the literals of a source here, and `--set` (cli) the
numbers given from outside; a malformed literal is an E101 or E215 at the part that is wrong."""

from __future__ import annotations

import codecs
import math
import re

from netdsl.diagnostics import NetdslError, error
from netdsl.limits import MAX_DIGITS, MAX_INT
from netdsl.source import Source

_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|N\{[^}]*\}|[0-7]{1,3}|.)",
                     re.S)


_SIMPLE = "\\'\"abfnrtv01234567xuUN"  # the one-letter escapes, and the starts of the others


def unescape(raw: str, source: Source, at: int) -> str:
    """A string literal's text (`raw`, starting at offset `at`) with its escapes read as Python
    reads them (`\\n`, `\\"`, `\\u00e9`; an unknown one keeps its backslash), one escape at a
    time, so that the letters around them stay themselves; E101 at an escape that is malformed
    (`\\xzz`)."""
    def read(m: re.Match[str]) -> str:
        if len(m.group(1)) == 1 and m.group(1) not in _SIMPLE:
            return m.group()  # NOTE: unknown: kept, without Python's warning for it
        try:
            return codecs.decode(m.group(), "unicode_escape")
        except UnicodeDecodeError:
            kind = m.group()[:2]
            raise NetdslError([error(
                "E101", f"`{kind}` is not an escape a string can hold",
                source.span(at + m.start(), at + m.end()), hints=[
                    "write a backslash as `\\\\`; the escapes are `\\n`, `\\t`, `\\\"`, "
                    "`\\\\`, `\\xHH`, `\\uHHHH`"])]) from None
    return _ESCAPE.sub(read, raw)


class BadNumber(Exception):
    """A number literal that is malformed (`1__0`, `08`) or beyond netdsl's limits (over
    limits.MAX_INT, not a finite float, a nonzero that rounds to 0): its diagnostic, at
    `start:end` in the literal (all of it where end is None)."""

    def __init__(self, code: str, message: str, label: str, hint: str, start: int = 0,
                 end: int | None = None):
        super().__init__(message)
        self.code, self.message, self.label, self.hint = code, message, label, hint
        self.start, self.end = start, end


def _too_large() -> BadNumber:
    return BadNumber("E215", "the number is too large", "too large",
                      f"netdsl's integers go up to 2**63 - 1 = {MAX_INT}, its numbers to about "
                      "1.8e308")


_STRAY_UNDERSCORE = re.compile(r"_{2,}|_(?![0-9])")  # NOTE: the lexer starts a number at a digit


def _check_digits(text: str) -> None:
    """Python's rules for a literal's digits: a `_` stands between two digits (`1_000`, not
    `1__000` or `10_`), and a whole number other than 0 does not start with 0 (`08`)."""
    if "_" in text:
        bad = _STRAY_UNDERSCORE.search(text)
        if bad is not None:
            fixed = re.sub(r"_+(?![0-9])", "", re.sub(r"_{2,}", "_", text))
            raise BadNumber("E101", "a `_` in a number must stand between two digits",
                             "misplaced `_`", f"write `{fixed}`", bad.start(), bad.end())
    if text[0] == "0" and len(text) > 1 and re.fullmatch(r"0[0-9_]*[1-9][0-9_]*[KMGT]?", text):
        fixed = text.lstrip("0_")
        raise BadNumber("E101", "a whole number cannot start with `0`", "leading zero",
                         f"write `{fixed}`: netdsl reads numbers in decimal")


def literal_number(text: str) -> int | float:
    """The value of the number literal `text`; BadNumber where it is malformed or too large."""
    _check_digits(text)
    text = text.replace("_", "")
    decimal = any(c in text for c in ".eE")
    if len(text) > (1000 if decimal else MAX_DIGITS):  # NOTE: before int(): Python refuses
        raise _too_large()  # 4,300 digits, slowly; a decimal may hold many (pi's, 1e-45's)
    scale = {"K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}.get(text[-1:], 1)
    if scale != 1:
        text = text[:-1]
    if decimal:
        if not math.isfinite(float(text) * scale):
            raise _too_large()
        value = _decimal(text, scale)
        if value == 0 and text.lower().partition("e")[0].strip("0.") != "":
            raise BadNumber("E215", "the number is too small: it would be 0", "rounds to 0",
                             "netdsl's numbers are 64-bit floats: the smallest above 0 is "
                             "about 5e-324; write 0 if 0 is meant")
        return value
    if int(text) * scale > MAX_INT:
        raise _too_large()
    return int(text) * scale


def read_number(text: str) -> int | float:
    """A number literal's value as a .net file reads it (`4.1G`, `1_000`), for values given
    from outside (--set); ValueError, saying what is wrong and what to write, where the literal
    is malformed or beyond netdsl's limits."""
    try:
        return literal_number(text)
    except BadNumber as bad:
        raise ValueError(f"{bad.message} ({bad.hint})") from None


def _decimal(text: str, scale: int) -> int | float:
    """`1.5e3` times `scale` read in decimal, so that 4.1G is 4_100_000_000 exactly (float 4.1
    * 1e9 is not) and `expect macs ~= 4.1G within 1%` has exact bounds: an int when `scale`
    scales it to a whole number, else the float nearest to the decimal value, as
    decimal.Decimal(text) * scale gives them. NOTE: in integers where Decimal's product is
    exact (28 digits, an exponent far inside its range), which is all but contrived literals:
    importing decimal costs a cold check ~1 ms."""
    mantissa, _, exponent = text.lower().partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = int(whole + fraction) * scale
    power = int(exponent or 0) - len(fraction)
    if len(str(digits)) > 28 or not -9999 <= power <= 9999:
        from decimal import Decimal
        exact = Decimal(text) * scale
        return int(exact) if scale != 1 and exact == exact.to_integral_value() else float(exact)
    ten: int = 10**abs(power)
    if scale != 1 and (power >= 0 or digits % ten == 0):
        return digits * ten if power >= 0 else digits // ten
    return float(f"{digits}e{power}")
