"""The result file's layout: what a person reads (block style, strings whole, inline lists
wrapped), holding exactly the document's keys and values, in order."""

from __future__ import annotations

from unittest import mock

import yaml
from hypothesis import given, settings, strategies as st

from runner import result_text as result_text_module
from runner.result_text import LIST_WIDTH, result_text

MESSAGE = ("jobs/bad.yaml, line 4, column 3, field pool.proceses: 'proceses' is not a pool "
           "setting; did you mean 'processes'? Fix: use one of: processes, chunksize, "
           "maxtasksperchild, start_method, ordered")


def a_result(**extra) -> dict:
    return {"id": "x", "state": "done", "task": "primes", "source": "jobs/x.yaml",
            "numbers_tested": 200, "primes_found": 46, **extra,
            "settings": {"processes": 2, "maxtasksperchild": None, "ordered": True},
            "timings": {"queued": "2026-12-04T02:29:39.339+00:00", "seconds": 0.26},
            "chunks": {"done": 1, "retried": 0, "rerun_after_restart": 0}}


def test_mappings_are_blocks_strings_whole_and_the_inline_list_wrapped():
    primes = [p for p in range(2, 200) if all(p % d for d in range(2, p))]
    document = a_result(primes=primes, error={"message": MESSAGE, "what": "'proceses' is ..."})
    text = result_text(document, wrapped="primes")
    lines = text.splitlines()
    assert yaml.safe_load(text) == document and list(yaml.safe_load(text)) == list(document)
    assert "timings:" in lines and "chunks:" in lines and "error:" in lines  # a key a line
    assert "  retried: 0" in lines and not any("{" in line for line in lines)
    assert f'  message: "{MESSAGE}"' in lines  # one line, its quotes as written
    assert "  what: \"'proceses' is ...\"" in lines
    start = lines.index(next(line for line in lines if line.startswith("primes: [")))
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith("  "))
    listed = lines[start:end]
    assert len(listed) > 1 and all(len(line) <= LIST_WIDTH + 8 for line in listed), listed
    assert all(line.startswith("  ") for line in listed[1:]), listed


def test_a_document_without_the_inline_list_is_dumped_whole():
    document = a_result(primes_file="x.primes")
    assert result_text(document, wrapped="primes") == result_text(document)
    assert yaml.safe_load(result_text(document)) == document


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)


@settings(max_examples=200, deadline=None)
@given(message=_TEXT, values=st.lists(st.tuples(st.integers(), _TEXT | st.integers()), max_size=30))
def test_any_strings_and_values_read_back_as_they_were(message, values):
    """Any message (quotes of both kinds, line breaks, unicode) and a map task's values."""
    document = a_result(values=[[n, v] for n, v in values], error={"message": message})
    assert yaml.safe_load(result_text(document, wrapped="values")) == document


# -- the text written here is the text PyYAML's dumper writes -------------------------

_TRICKY = st.sampled_from([
    "", " ", "yes", "No", "on", "null", "Null", "~", "true", "1.5", ".5", "1e5", "0x1f", "0o17",
    "017", "1_000", "10:20", "2026-12-04", "2026-12-04T02:29:39.339+00:00", "=", "<<", "-",
    "- x", "-x", "?", "? x", "?x", ":", ": x", ":x", "a:", "a: b", "a:b", "#x", "a #b", "a#b",
    "---", "--- x", "...", "x...", "it's", "say \"it's\"", "\"q\"", "'", "\"", "a\\b", "@x",
    "`x`", "%x", "!x", "&x", "*x", "|", ">", "[x", "x]", "{x}", "a,b", " lead", "trail ",
    "jobs/x.yaml", "tab\there", "line\nbreak", "caf\u00e9", "\u2028", "\x7f", ".inf", "-.inf",
    ".nan", "NaN", "x" * 130])
_ASCII = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
_NUMBERS = st.none() | st.booleans() | st.integers() | st.floats() | st.integers(-2**80, 2**80)
_COMPARABLE = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
_NUMBER_LISTS = st.recursive(st.lists(_NUMBERS, max_size=30), st.lists, max_leaves=30)


def _documents(strings, lists):
    keys = strings | st.sampled_from(["id", "state", "primes", "timings", "error"])
    values = st.recursive(_NUMBERS | strings | lists,
                          lambda inner: st.dictionaries(keys, inner, max_size=4), max_leaves=10)
    return st.tuples(st.dictionaries(keys, values, min_size=1, max_size=6), keys | st.none())


@settings(max_examples=300, deadline=None)
@given(case=_documents(_TRICKY.filter(lambda text: text.isascii() and text.isprintable()
                                      and len(text) < 128) | _ASCII, _NUMBER_LISTS))
def test_the_text_of_a_results_shapes_is_pyyamls_byte_for_byte(case):
    """Mappings (keys under 128 characters), numbers, printable ASCII strings and lists of
    numbers are written here, and are the text PyYAML's dumper writes."""
    document, wrapped = case
    if type(document.get(wrapped)) is not list:
        wrapped = None  # the wrapped key holds the inline output, a list
    with mock.patch.object(result_text_module, "_dumped", side_effect=AssertionError):
        written = result_text(document, wrapped)
    assert written == result_text_module._dumped(document, wrapped)


@settings(max_examples=150, deadline=None)
@given(case=_documents(_TRICKY | _ASCII | st.text(max_size=20),
                       st.recursive(st.lists(_NUMBERS, max_size=10),
                                    lambda inner: st.lists(inner | _NUMBERS | _TRICKY | st.dictionaries(_ASCII, _NUMBERS, max_size=2), max_size=4), max_leaves=20)))
def test_any_other_document_is_left_to_pyyaml(case):
    """Strings past ASCII or with line breaks, strings and mappings in a list: PyYAML's."""
    document, wrapped = case
    assert result_text(document, wrapped) == result_text_module._dumped(document, wrapped)


@settings(max_examples=150, deadline=None)
@given(primes=st.lists(st.integers(0, 2**64), max_size=300),
       values=st.lists(st.tuples(st.integers(0, 2**64), _COMPARABLE | st.lists(st.integers())),
                       max_size=100),
       source=_ASCII, seconds=st.floats(0, 1e9),
       params=st.dictionaries(_ASCII, _COMPARABLE | _ASCII))
def test_a_results_shapes_are_written_without_pyyaml(primes, values, source, seconds, params):
    """The results a job of any task gives (its strings printable ASCII, its values no
    strings) never reach PyYAML's representer, and read back as they were."""
    for key, output in (("primes", primes), ("values", [[n, v] for n, v in values])):
        document = a_result(params=params, **{key: output})
        document["source"] = source
        document["timings"]["seconds"] = seconds
        with mock.patch.object(result_text_module, "_dumped", side_effect=AssertionError):
            text = result_text(document, wrapped=key)
        assert yaml.safe_load(text) == document
