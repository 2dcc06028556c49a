"""Fill the JSON templates in ``emr/`` with values from the config.

Three forms of placeholder, each ``${name}``:

- a string value that is exactly ``"${name}"`` becomes the value, whatever its JSON type;
  a ``None`` value removes the key (or the list item) altogether;
- an object key ``"${name}"`` splices the value (a mapping) into that object;
- ``${name}`` inside a longer string is replaced by the value as text.

An unknown name is an error that names the template, so a typo never reaches AWS.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DROP = object()


class TemplateError(ValueError):
    """A template names a placeholder nobody filled, or splices a non-mapping."""


def load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TemplateError(f"{path}: not valid JSON: {exc}") from None


def render(template: Any, values: dict[str, Any], source: str = "template") -> Any:
    """``template`` with every placeholder filled from ``values``."""

    def lookup(name: str) -> Any:
        if name not in values:
            raise TemplateError(f"{source}: unknown placeholder ${{{name}}}")
        return values[name]

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for key, child in node.items():
                whole = PLACEHOLDER.fullmatch(key)
                if whole:
                    spliced = lookup(whole.group(1))
                    if not isinstance(spliced, dict):
                        raise TemplateError(f"{source}: key ${{{whole.group(1)}}} needs a mapping")
                    out.update(spliced)
                    continue
                value = walk(child)
                if value is not _DROP:
                    out[key] = value
            return out
        if isinstance(node, list):
            return [v for v in (walk(child) for child in node) if v is not _DROP]
        if isinstance(node, str):
            whole = PLACEHOLDER.fullmatch(node)
            if whole:
                value = lookup(whole.group(1))
                return _DROP if value is None else value
            return PLACEHOLDER.sub(lambda m: str(lookup(m.group(1))), node)
        return node

    result = walk(template)
    return None if result is _DROP else result
