"""The result file's text: a result document as YAML, the way a person reads it.

Block style, a key a line; each string whole on its line (an error's message is never
folded); a string with a quote in it (an error message quoting the user's field) in
double quotes, where single quotes would double it; lists in flow style, and the inline
output's list (`primes: [2, 3, 5]`) wrapped at LIST_WIDTH columns.

PyYAML's dumper defines that text. Its representer took about 110 µs of the daemon's one
thread for every job, so the shapes a result has (mappings; integers, floats, null,
booleans and printable ASCII strings; lists of those but strings, and of such lists) are
written here, byte for byte as the dumper writes them (tests/test_result_text.py checks
it on any document of those shapes). A document with anything else in it (a string
with a line break or past ASCII, a string in a list, such as a map task's value) is
dumped by PyYAML whole.
"""

from __future__ import annotations

import functools
import math
from typing import Optional

import yaml
from yaml.resolver import Resolver

LIST_WIDTH = 100  # an inline list (`primes: [...]`) wraps at this column
_UNFOLDED_WIDTH = 1 << 30  # wider than any line: a string (an error's message) stays whole
_INDENT = 2
_SIMPLE_KEY_MAX = 128  # a longer key is written as a complex key (`? key`): left to PyYAML
_STR_TAG = "tag:yaml.org,2002:str"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_FIRST_INDICATORS = set("#,[]{}&*!|>'\"%@`")  # a plain scalar may not start with these
_RESOLVER = Resolver()


class _LeftToPyYAML(Exception):
    """A value this module does not write; the whole document goes to PyYAML."""


def result_text(document: dict, wrapped: Optional[str] = None) -> str:
    """A result document as its file's text (see the module's docstring), the list under
    the key `wrapped` (the inline output), if there is one, wrapped at LIST_WIDTH
    columns. The same text as PyYAML's dumper gives, whatever the document holds."""
    try:
        if not document:
            raise _LeftToPyYAML  # `{}`, in flow style
        lines: list[str] = []
        for key, value in document.items():
            if key == wrapped and type(value) is not list:
                raise _LeftToPyYAML
            _write_pair(lines, key, value, 0, LIST_WIDTH if key == wrapped else _UNFOLDED_WIDTH)
        return "".join(lines)
    except _LeftToPyYAML:
        return _dumped(document, wrapped)


def _write_pair(lines: list[str], key: object, value: object, indent: int, width: int) -> None:
    if type(key) is not str or len(key) >= _SIMPLE_KEY_MAX:
        raise _LeftToPyYAML
    head = f"{' ' * indent}{_string(key)}:"
    if type(value) is dict and value:
        lines.append(head + "\n")
        for inner_key, inner_value in value.items():
            _write_pair(lines, inner_key, inner_value, indent + _INDENT, width)
    elif type(value) is list:
        out = [head, " "]
        _write_flow_list(out, value, len(head) + 1, indent + _INDENT, width)
        out.append("\n")
        lines.append("".join(out))
    elif type(value) is dict:
        lines.append(head + " {}\n")
    elif type(value) is str:
        lines.append(f"{head} {_string(value)}\n")
    else:
        lines.append(f"{head} {_number(value)}\n")


def _write_flow_list(out: list[str], items: list, column: int, indent: int, width: int) -> int:
    """Append `items` as a flow list starting at `column`, breaking the line after a comma
    past `width` as libyaml's emitter does (the next item at `indent`); returns the
    column it ends at."""
    out.append("[")
    column += 1
    for position, item in enumerate(items):
        if position:
            out.append(",")
            column += 1
        if column > width:
            out.append("\n" + " " * indent)
            column = indent
        elif position:
            out.append(" ")
            column += 1
        if type(item) is list:
            column = _write_flow_list(out, item, column, indent + _INDENT, width)
        elif type(item) is str or type(item) is dict:
            raise _LeftToPyYAML  # plain scalars follow other rules inside a flow list
        else:
            text = _number(item)
            out.append(text)
            column += len(text)
    out.append("]")
    return column + 1


def _number(value: object) -> str:
    """An integer, float, null or boolean as PyYAML's SafeRepresenter writes it."""
    if type(value) is int:
        return str(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is float:
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value).lower()
        if "." not in text and "e" in text:  # 1e17 is no YAML float; 1.0e17 is
            text = text.replace("e", ".0e", 1)
        if _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) != _FLOAT_TAG:
            raise _LeftToPyYAML
        return text
    raise _LeftToPyYAML


@functools.lru_cache(maxsize=1024)
def _string(text: str) -> str:
    """A string (a key or a value) as the result's dumper writes it in block context:
    double quotes if it holds a single quote and no double one, else plain where libyaml
    allows it and it reads back as a string, else single quotes."""
    if not text.isascii() or not text.isprintable():
        raise _LeftToPyYAML  # escapes, line breaks and tabs follow rules not written here
    if "'" in text and '"' not in text:
        return '"' + text.replace("\\", "\\\\") + '"'
    if _plain_allowed(text) and _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) == _STR_TAG:
        return text
    return "'" + text.replace("'", "''") + "'"


def _plain_allowed(text: str) -> bool:
    """Whether libyaml's emitter (yaml_emitter_analyze_scalar) allows a printable ASCII
    string on one line as a plain scalar in block context."""
    if not text or text[0] == " " or text[-1] == " " or text.startswith(("---", "...")):
        return False
    first, after_first = text[0], text[1:2]
    if first in _FIRST_INDICATORS:
        return False
    if first in "?:-" and after_first in ("", " "):
        return False
    # later in the string: ': ' (or ':' at the end) starts a value, ' #' a comment
    return not (text.endswith(":") or ": " in text[1:] or " #" in text)


class _ResultDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):
    """PyYAML's dumper of the text above: block style for mappings, flow style for lists,
    double quotes for a string with a single quote and no double one."""


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = '"' if "'" in text and '"' not in text else None
    return dumper.represent_scalar(_STR_TAG, text, style=style)


_ResultDumper.add_representer(str, _represent_str)
_ResultDumper.add_representer(list, lambda dumper, data: dumper.represent_sequence(
    "tag:yaml.org,2002:seq", data, flow_style=True))


def _dumped(document: dict, wrapped: Optional[str]) -> str:
    """The text of `document` as PyYAML's dumper writes it (see `result_text`)."""
    if wrapped not in document:
        return _dump(document, _UNFOLDED_WIDTH)
    keys = list(document)
    at = keys.index(wrapped)
    # a top-level block mapping dumped in pieces is the same text as dumped whole
    pieces = (({key: document[key] for key in keys[:at]}, _UNFOLDED_WIDTH),
              ({wrapped: document[wrapped]}, LIST_WIDTH),
              ({key: document[key] for key in keys[at + 1:]}, _UNFOLDED_WIDTH))
    return "".join(_dump(piece, width) for piece, width in pieces if piece)


def _dump(mapping: dict, width: int) -> str:
    return yaml.dump(mapping, Dumper=_ResultDumper, sort_keys=False, default_flow_style=False,
                     width=width)
