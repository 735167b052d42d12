"""Render the configuration reference (README.md) from the typed config models.

The README's "Configuration reference" section is this output; a test keeps them equal.
"""

from __future__ import annotations

from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from citytrack.config import CitytrackConfig


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The config model inside ``annotation`` (itself, list[...] or dict[str, ...])."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if get_origin(annotation) is None else None
    return text or str(annotation).replace("typing.", "").replace("citytrack.config.", "")


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        return "(empty)" if not isinstance(field.default_factory, type) else "(section)"
    return f"`{field.default!r}`" if field.default != "" else '`""`'


def reference_rows(model: type[BaseModel], prefix: str = "") -> list[str]:
    rows: list[str] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        sub = _model_of(field.annotation)
        if sub is not None:
            origin = get_origin(field.annotation)
            suffix = "[]" if origin is list else ".NAME" if origin is dict else ""
            rows.extend(reference_rows(sub, f"{key}{suffix}."))
            continue
        desc = (field.description or "").replace("|", "\\|")
        kind = _type_name(field.annotation).replace("|", "\\|")
        rows.append(f"| `{key}` | {kind} | {_default(field)} | {desc} |")
    return rows


def reference_markdown() -> str:
    head = ["| key | type | default | meaning |", "|---|---|---|---|"]
    return "\n".join(head + reference_rows(CitytrackConfig)) + "\n"


if __name__ == "__main__":
    print(reference_markdown(), end="")
