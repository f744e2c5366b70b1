"""Data forms (XEP-0004), as much as evim fills: read a form's fields, build a submission.

Plain :mod:`xml.etree.ElementTree`: a room's configuration form and the publish options of
bookmarks are read and written field by field, and a form a server sends may hold fields
evim knows nothing about (left out of a submission, hence left as they are).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

DATA_NS = "jabber:x:data"


@dataclass(frozen=True)
class Field:
    var: str
    type: str
    values: tuple[str, ...]

    @property
    def value(self) -> str:
        return self.values[0] if self.values else ""

    @property
    def boolean(self) -> bool:
        return self.value.strip().lower() in ("1", "true")


def parse_form(element: ET.Element | None) -> dict[str, Field]:
    """The fields of the ``<x xmlns='jabber:x:data'/>`` in ``element`` (or ``element``
    itself), by ``var``; empty when there is none."""
    if element is None:
        return {}
    form = element if element.tag == f"{{{DATA_NS}}}x" else element.find(f"{{{DATA_NS}}}x")
    if form is None:
        return {}
    fields: dict[str, Field] = {}
    for field in form.iter(f"{{{DATA_NS}}}field"):
        var = field.get("var")
        if var:
            values = tuple(value.text or "" for value in field.findall(f"{{{DATA_NS}}}value"))
            fields[var] = Field(var, field.get("type", "text-single"), values)
    return fields


def submission(form_type: str, values: Mapping[str, str | Sequence[str]]) -> ET.Element:
    """``<x type='submit'>`` with the hidden ``FORM_TYPE`` and ``values`` (var → value(s))."""
    form = ET.Element(f"{{{DATA_NS}}}x", {"type": "submit"})
    _field(form, "FORM_TYPE", [form_type], kind="hidden")
    for var, value in values.items():
        _field(form, var, [value] if isinstance(value, str) else list(value))
    return form


def _field(form: ET.Element, var: str, values: Sequence[str], *, kind: str | None = None) -> None:
    field = ET.SubElement(form, f"{{{DATA_NS}}}field", {"var": var})
    if kind is not None:
        field.set("type", kind)
    for value in values:
        ET.SubElement(field, f"{{{DATA_NS}}}value").text = value


def boolean(value: bool) -> str:
    return "1" if value else "0"
