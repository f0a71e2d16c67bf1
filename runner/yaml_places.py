"""Places in a YAML file, for messages that point at them: a field as dotted text
(`pool.processes`, `numbers[3]`), the node where the file writes a field, the field
written at a line and column, and a node's line and column (1-based)."""

from __future__ import annotations

import re
from typing import Optional

import yaml

from .errors import short_repr


def place(node: Optional[yaml.Node]) -> dict:
    """`line` and `column` (1-based) where `node` starts; nothing for no node."""
    if node is None:
        return {}
    return {"line": node.start_mark.line + 1, "column": node.start_mark.column + 1}


def dotted(loc: tuple) -> str:
    """A field's keys and indexes as one would write them: ("pool", "processes") is
    `pool.processes`, ("numbers", 3) is `numbers[3]`."""
    out = ""
    for part in loc:
        part = part if isinstance(part, int) else short_repr(part).strip("'\"")
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def node_at(node: yaml.Node, loc: tuple, key_only: bool = False) -> Optional[yaml.Node]:
    """The node of the value at `loc` (its key's, with `key_only`), or the nearest one
    the file has on the way to it."""
    for depth, part in enumerate(loc):
        last = depth == len(loc) - 1
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if getattr(k, "value", None) == str(part)]
            if not match:
                return node
            node = match[0][0] if (last and key_only) else match[0][1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return node
    return node


def where_written(root: Optional[yaml.Node], field: Optional[str]) -> dict:
    """The line and column where the file writes the dotted `field` (pool.processes,
    numbers[3]), if it does; else nothing (a default, or a field the file lacks)."""
    node = root
    for part in re.findall(r"\[\d+\]|[^.\[\]]+", field or "") if node is not None else ():
        if part.startswith("[") and isinstance(node, yaml.SequenceNode):
            index = int(part[1:-1])
            node = node.value[index] if index < len(node.value) else None
        elif isinstance(node, yaml.MappingNode):
            node = next((value for key, value in node.value
                         if getattr(key, "value", None) == part), None)
        else:
            node = None
        if node is None:
            return {}
    return {} if node is root else place(node)


def field_at(root: yaml.Node, line: int, column: int) -> Optional[str]:
    """The dotted field of the scalar that starts at (line, column), 1-based."""
    stack: list[tuple[yaml.Node, tuple]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        mark = node.start_mark
        if isinstance(node, yaml.ScalarNode) and (mark.line + 1, mark.column + 1) == (line, column):
            return dotted(path) or None
        if isinstance(node, yaml.SequenceNode):
            stack.extend((item, path + (index,)) for index, item in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            stack.extend((value, path + (getattr(key, "value", "?"),)) for key, value in node.value)
    return None
