"""Reading OBS's XML answers (bucket listings and error bodies) without trusting them.

OBS answers in XML with a namespace that differs between clouds
(`http://obs.otc.t-systems.com/doc/2016-01-01/`, `http://obs.myhwclouds.com/doc/2015-06-30/`,
or none); elements are found by their local name, whatever the namespace.

A document type declaration is refused before parsing: OBS never sends one, and it is what
entity-expansion and external-entity attacks need, so nothing that the standard parser would
expand ever reaches it.
"""

from __future__ import annotations

from collections.abc import Iterator
from xml.etree import ElementTree

MAX_XML_BYTES = 4 * 1024 * 1024  # a listing of many thousand buckets; more is not OBS


class XmlError(ValueError):
    """The text is not an XML document this module will read."""


def parse(body: bytes) -> ElementTree.Element:
    """The root element of an XML answer; `XmlError` if it is not plain, well-formed XML."""
    if len(body) > MAX_XML_BYTES:
        raise XmlError("the XML answer is implausibly large")
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise XmlError("the XML answer declares a document type, which OBS never does")
    try:
        # Safe here: with no DTD there are no entities to expand or fetch.
        return ElementTree.fromstring(body)  # noqa: S314
    except ElementTree.ParseError as exc:
        raise XmlError(f"not well-formed XML: {exc}") from None


def local_name(element: ElementTree.Element) -> str:
    """An element's tag without its namespace."""
    return element.tag.rpartition("}")[2]


def children(element: ElementTree.Element, name: str) -> Iterator[ElementTree.Element]:
    """The direct children called `name` (any namespace)."""
    return (child for child in element if local_name(child) == name)


def child(element: ElementTree.Element, name: str) -> ElementTree.Element | None:
    """The first direct child called `name`, or None."""
    return next(children(element, name), None)


def text(element: ElementTree.Element, name: str) -> str:
    """The stripped text of the first direct child called `name`; blank if there is none."""
    found = child(element, name)
    return (found.text or "").strip() if found is not None else ""
