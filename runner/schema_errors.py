"""A schema's complaint about a YAML file (a job file, config.yaml), in words for whoever
wrote it: which of pydantic's errors to tell, what is wrong and the fix, with a "did you
mean" for a misspelt key or value."""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ValidationError

from .errors import short_repr
from .job import START_METHODS
from .yaml_places import dotted

_UNION_BRANCHES = ("int", "float")  # pydantic names the branch of `int | float` in a loc


def first_error(exc: ValidationError) -> dict:
    """The error to tell of `exc`'s: an unknown key first, as its "did you mean" explains
    a missing field too."""
    return min(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")


def loc_of(error: dict) -> tuple:
    """The keys and indexes of the field an error is about."""
    return tuple(part for part in error["loc"] if part not in _UNION_BRANCHES)


def more_problems(exc: ValidationError) -> str:
    """` (and 2 more problems)` after the one told, or nothing."""
    others = exc.error_count() - 1
    return f" (and {others} more problem{'s' if others > 1 else ''})" if others else ""


def did_you_mean(word: str, choices) -> str:
    """`; did you mean 'processes'?` for a `word` close to one of `choices`, else nothing."""
    from difflib import get_close_matches  # only for a mistake: 0.2 MiB of the daemon

    close = get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def kind_of(value: Any) -> str:
    """What YAML made of a value, in words: `a float`, `a mapping`, ..."""
    return {bool: "a boolean", int: "an integer", float: "a float", str: "a string",
            list: "a list", dict: "a mapping", type(None): "nothing"}.get(type(value), type(value).__name__)


def explain(error: dict, loc: tuple, model: type[BaseModel],
            noun: str = "setting") -> tuple[str, str]:
    """What is wrong and the fix, for one pydantic `error` at `loc` of a YAML file; `model`
    is the model at `loc`'s parent, whose fields are `noun`s (a "job field", a "setting")."""
    kind, value, name = error["type"], error.get("input"), dotted(loc)
    if kind == "invalid_key":
        return (f"a key is {kind_of(value)} ({short_repr(value)}), not a field name",
                "write each key as a field name, such as numbers, pool or timeout")
    if kind == "extra_forbidden":
        known = ", ".join(model.model_fields)
        return (f"{short_repr(loc[-1])} is not a {noun}{did_you_mean(loc[-1], model.model_fields)}",
                f"use one of: {known}")
    if kind == "literal_error":
        return (f"{short_repr(value)} is not a start method"
                f"{did_you_mean(value, START_METHODS)}",
                f"use {', '.join(START_METHODS[:-1])} or {START_METHODS[-1]}")
    if kind in ("int_type", "float_type", "bool_type", "string_type", "list_type", "model_type",
                "dict_type"):
        want = {"int_type": "an integer", "float_type": "a number", "bool_type": "true or false",
                "string_type": "a string", "list_type": "a list", "model_type": "a mapping",
                "dict_type": "a mapping"}[kind]
        if kind == "int_type":
            whole = meant_whole_number(value)
            if whole is not None:  # 1e6, 1.0e6, "5": what they meant, written as YAML reads it
                quoted = isinstance(value, str) and str(whole) == value.strip()
                return (f"{name} is {kind_of(value)} ({short_repr(value)}), but must be an "
                        "integer written in digits",
                        f"write {whole}" + (" without quotes" if quoted else ""))
        if kind == "float_type" and isinstance(value, str) and _is_number(value):
            return (f"{name} is a string ({short_repr(value)}), but must be a number",
                    f"write {value.strip()} without quotes")
        return (f"{name} is {kind_of(value)} ({short_repr(value)}), but must be {want}",
                f"write {want}")
    if kind in ("greater_than_equal", "greater_than"):
        return (f"{name} is {short_repr(value)}, but {error['msg'].lower()}",
                "use a larger value")
    if kind in ("less_than_equal", "less_than"):
        return (f"{name} is {short_repr(value)}, but {error['msg'].lower()}",
                "use a smaller value")
    if kind == "missing":
        return f"{name} is missing", f"add {name}"
    return f"{name}: {error['msg']}", "see the job file format in the README"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def meant_whole_number(value: Any) -> Optional[int]:
    """The whole number `value` stands for (1e6, 1.0e6, 2.5e3, "17"), if it is a float or
    text that stands for one that fits a job; else None."""
    if isinstance(value, bool) or not isinstance(value, (str, float)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if not number.is_integer() or abs(number) >= 1e30:
        return None
    return int(number) if isinstance(value, float) or "e" in value.lower() or "." in value \
        else int(value)
