import json
from datetime import timedelta

from django import template

from ims_portal.audit.models import AuditEvent
from ims_portal.exports import rules
from ims_portal.exports.models import StatusStep

register = template.Library()


# The words of a duration, by its largest unit: placeholders h, m, s are hours, minutes and
# seconds, and mm, ss the same two digits wide. The pages' own clock (static/js/live.js),
# which counts an elapsed time on between renders, is given these same patterns.
DURATION_WORDS = {
    "hours": "{h} h {mm} min",
    "minutes": "{m} min {ss} s",
    "seconds": "{s} s",
}


@register.filter
def duration(value: timedelta | None) -> str:
    """A short human duration: 45 s, 3 min 20 s, 2 h 05 min."""
    if value is None:
        return ""
    seconds = max(int(value.total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    unit = "hours" if hours else "minutes" if minutes else "seconds"
    return DURATION_WORDS[unit].format(
        h=hours, m=minutes, s=seconds, mm=f"{minutes:02d}", ss=f"{seconds:02d}"
    )


@register.simple_tag
def duration_words() -> str:
    """`DURATION_WORDS` as JSON, for the `data-duration-words` of the script that counts
    elapsed times on (autoescaped there like any attribute value)."""
    return json.dumps(DURATION_WORDS)


@register.filter
def step_name(value: str) -> str:
    """The cloud names steps like `waiting_for_scheduling`; show them as words."""
    return value.replace("_", " ")


@register.filter
def status_detail(event: AuditEvent) -> str:
    """What explains the status change an export's audit event records (the job id it got,
    the error it ended with); empty for other events."""
    step = StatusStep.from_event(event)
    return step.detail if step else ""


@register.filter
def file_name_stem(image_name: str) -> str:
    """The image's part of the file name the new-export form suggests (rules.py)."""
    return rules.file_name_stem(image_name)
