"""The result file's layout: what a person reads (block style, strings whole, inline lists
wrapped), holding exactly the document's keys and values, in order."""

from __future__ import annotations

import yaml
from hypothesis import given, settings, strategies as st

from runner.results import LIST_WIDTH, result_text

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
