"""How every page shows a moment: its date, its time and "UTC", in a `<time>` element.

The portal stores and compares times in UTC and the audit trail's filters take UTC, so the
pages say so at each time rather than in a footnote. `{{ value|utc }}` shows minutes,
`{{ value|utc:"seconds" }}` seconds, `{{ value|utc:"micro" }}` microseconds (an audit
event's own page).
"""

from __future__ import annotations

from datetime import UTC, datetime

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()

PRECISIONS = {
    "minutes": "%Y-%m-%d %H:%M",
    "seconds": "%Y-%m-%d %H:%M:%S",
    "micro": "%Y-%m-%d %H:%M:%S.%f",
}


@register.filter
def utc(value: datetime | None, precision: str = "minutes") -> SafeString | str:
    """`<time datetime="2025-05-01T09:30:12Z">2025-05-01 09:30 UTC</time>`; "" for None."""
    if value is None:
        return ""
    moment = value.astimezone(UTC)
    return format_html(
        '<time datetime="{}">{} UTC</time>',
        moment.isoformat().replace("+00:00", "Z"),
        moment.strftime(PRECISIONS[precision]),
    )
