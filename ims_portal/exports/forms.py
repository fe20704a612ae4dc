"""Forms of the export pages; every export rule comes from `rules.py`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.forms.models import ModelChoiceIterator
from django.utils.html import format_html, strip_tags

from ims_portal.accounts.roles import EXPORTER, holders
from ims_portal.cloud import CloudError, ConfigurationError, Image, NotFound
from ims_portal.exports import preflight, rules
from ims_portal.exports.cloud_access import export_policy, get_client, image_choices, image_region
from ims_portal.exports.models import Export, ExportQuerySet, Status

NO_FORMAT_LABEL = "—"
# What the format field shows while fast export is on: it sends no format, and says so.
FAST_FORMAT_LABEL = f"{rules.QUICK_EXPORT_FORMAT.upper()} (fast export)"
FORMAT_CHOICES = [("", NO_FORMAT_LABEL), *[(f, f) for f in rules.FILE_FORMATS]]
# Where each field's entry in the error summary leads: the control to fix.
IMAGE_PICKER_ID = "image-picker"


@dataclasses.dataclass(frozen=True, slots=True)
class SummaryEntry:
    """One line of the error summary above a refused form; `anchor` is the id of its field
    ("" for an error of the whole form)."""

    anchor: str
    label: str
    message: str


CHECKED_FIELD_ORDER = (rules.IMAGE, rules.BUCKET, rules.FILE_NAME, rules.FILE_FORMAT, rules.QUICK)
# The fields the pre-flight's findings belong to, in the page's order.
PREFLIGHT_FIELDS = tuple(
    name for name in CHECKED_FIELD_ORDER if name in {c.field for c in rules.PREFLIGHT_CHECKS}
)
# The bucket picker's radio buttons: what a browser without the script sends for a bucket
# chosen from the list and no name typed.
BUCKET_PICK = "bucket_pick"


class ExportForm(forms.Form):
    """A new export. Validating it applies every export rule; with `fresh_image` it
    re-reads the image from IMS, as the submit does, rather than trusting the cached list.
    With `check_in_obs` (the submit, and the as-you-type check of the bucket and file name)
    it runs the pre-flight against OBS too (`preflight.run`): each failure is an error on
    its field, and `self.preflight` holds every finding for the page. `owner_id` is the
    user asking, whose own exports under way are named by number.

    Help texts and the browser's copy of the rules (`browser_rules`) are written from
    `rules.py` and the export policy in force, never typed out here.
    """

    image = forms.CharField(
        label="Image", max_length=64, error_messages={"required": "Choose the image to export."}
    )
    bucket = forms.CharField(
        label="OBS bucket",
        required=False,
        widget=forms.TextInput(
            attrs={
                "required": True,
                "minlength": rules.BUCKET_MIN,
                "maxlength": rules.BUCKET_MAX,
                "pattern": rules.BUCKET_PATTERN,
                "autocomplete": "off",
                "spellcheck": "false",
            }
        ),
    )
    file_name = forms.CharField(
        label="File name",
        required=False,
        strip=False,
        widget=forms.TextInput(
            attrs={"required": True, "maxlength": rules.OBJECT_MAX_BYTES, "autocomplete": "off"}
        ),
        help_text="The object to create, e.g. images/web-01.qcow2. It must not exist yet.",
    )
    file_format = forms.ChoiceField(label="Format", choices=FORMAT_CHOICES, required=False)
    quick = forms.BooleanField(label="Fast export", required=False)
    request_token = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(
        self,
        *args: Any,
        fresh_image: bool = True,
        check_in_obs: bool = True,
        owner_id: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.policy = export_policy()
        self.region = image_region()
        self.fields["bucket"].help_text = (
            f"A {rules.exportable_storage_classes()} bucket in region {self.region}: choose "
            f"one above or type its name ({rules.BUCKET_MIN} to {rules.BUCKET_MAX} lowercase "
            "letters, digits, '-' or '.')."
        )
        self.fields["quick"].help_text = f"Writes {self._fast_format} without conversion" + (
            "."
            if self.policy.normal_export_above_fast_limit
            else f"; needed for images of {self._fast_threshold} or more."
        )
        self.fresh_image = fresh_image
        self.check_in_obs = check_in_obs
        self.owner_id = owner_id
        self.image_record: Image | None = None
        self.cloud_unreachable = False
        self.preflight: preflight.Preflight | None = None
        if self._quick_chosen():
            # A disabled select sends nothing, which is what fast export wants: no format.
            file_format = self.fields["file_format"]
            assert isinstance(file_format, forms.ChoiceField)
            file_format.choices = [("", FAST_FORMAT_LABEL), *FORMAT_CHOICES[1:]]
            file_format.widget.attrs["disabled"] = True

    def _quick_chosen(self) -> bool:
        if self.is_bound:
            return bool(self.data.get(self.add_prefix("quick")))
        return bool(self.initial.get("quick"))

    def clean_bucket(self) -> str:
        bucket: str = self.cleaned_data["bucket"].strip()
        if not bucket:
            bucket = str(self.data.get(BUCKET_PICK, "")).strip()
        self._raise_first(rules.check_bucket(bucket))
        return bucket

    def clean_file_name(self) -> str:
        name: str = self.cleaned_data["file_name"]
        self._raise_first(rules.check_file_name(name))
        return name

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        quick = bool(data.get("quick"))
        for violation in rules.check_format(data.get("file_format") or None, quick):
            self.add_error(violation.field, violation.message)
        self._check_in_obs(data)
        image_id = data.get("image")
        if not image_id:
            return data
        image = self._load_image(image_id)
        if image is None:
            return data
        self.image_record = image
        for violation in rules.check_image_options(image, quick, self.policy):
            self.add_error(violation.field, violation.message)
        busy = Export.objects.in_flight().filter(image_id=image_id).first()
        if busy is not None:
            self.add_error("image", self.in_flight_message(busy))
        return data

    def _check_in_obs(self, data: dict[str, Any]) -> None:
        """The pre-flight, once the bucket name is well-formed (and the file name, for the
        object's check): each failure becomes an error on its field."""
        bucket = data.get("bucket")
        if not self.check_in_obs or not bucket:
            return
        object_name = data.get("file_name") or ""
        self.preflight = preflight.run(bucket, object_name, self.region, owner_id=self.owner_id)
        for finding in self.preflight.failures:
            if finding.field not in self.errors:
                self.add_error(finding.field, finding.error)

    @property
    def error_summary(self) -> list[SummaryEntry]:
        """Every message of a refused submit, in the page's order, each with the id of the
        field it is about, for the summary the page puts (and focuses) above the form."""
        entries = [SummaryEntry("", "", strip_tags(str(m))) for m in self.non_field_errors()]
        for name in CHECKED_FIELD_ORDER:
            anchor = IMAGE_PICKER_ID if name == rules.IMAGE else self[name].id_for_label
            label = str(self.fields[name].label or name.capitalize())
            entries += [SummaryEntry(anchor, label, strip_tags(str(m))) for m in self[name].errors]
        return entries

    @property
    def browser_rules(self) -> dict[str, Any]:
        """What the new-export page's script repeats for instant feedback, as JSON data.

        The page renders it with `json_script`; `static/js/export_form.js` holds no rule
        value of its own, so a rule changed in rules.py or a changed setting reaches the
        browser as it is.
        """
        return {
            "bucket": {
                "missing": rules.BUCKET_MISSING,
                "rules": [dataclasses.asdict(rule) for rule in rules.BUCKET_RULES],
                "problems": rules.BUCKET_PROBLEMS,
                "separator": rules.BUCKET_PROBLEMS_SEPARATOR,
            },
            "extensions": list(rules.FILE_EXTENSIONS),
            "fast_export_format": rules.QUICK_EXPORT_FORMAT,
            "format_labels": {"none": NO_FORMAT_LABEL, "fast": FAST_FORMAT_LABEL},
            "notes": {
                "needs_fast_export": f"This image is {self._fast_threshold} or more: "
                "only fast export is possible.",
                "encrypted": rules.ENCRYPTED_NOT_FAST,
                "format_cleared": f"Fast export always writes {self._fast_format}, "
                "so the format was cleared.",
            },
        }

    @property
    def usable_storage(self) -> str:
        """The storage classes IMS writes to, as the pages name them."""
        return rules.exportable_storage_classes()

    @property
    def _fast_threshold(self) -> str:
        return rules.size_label(self.policy.fast_only_from_bytes)

    @property
    def _fast_format(self) -> str:
        return rules.QUICK_EXPORT_FORMAT.upper()

    def in_flight_message(self, busy: Export) -> str:
        """IMS refuses a second export of an image in flight (IMG.0148); say where it is."""
        return format_html(
            'This image is already being exported (<a href="{}">export #{}</a>, {}). '
            "Wait until it ends.",
            busy.get_absolute_url(),
            busy.pk,
            Status(busy.status).label.lower(),
        )

    def _load_image(self, image_id: str) -> Image | None:
        gone = "This image no longer exists; refresh the list and choose again."
        try:
            if self.fresh_image:
                return get_client().get_image(image_id)
            image = next((c.image for c in image_choices() if c.image.id == image_id), None)
        except NotFound:
            image = None
        except (CloudError, ConfigurationError) as error:
            self.cloud_unreachable = True
            self.add_error(
                None,
                f"The cloud could not be reached to check the image ({getattr(error, 'message', '') or error}). "
                "Nothing was submitted; try again in a moment.",
            )
            return None
        if image is None:
            self.add_error("image", gone)
        return image

    @staticmethod
    def _raise_first(violations: list[rules.Violation]) -> None:
        if violations:
            raise forms.ValidationError(violations[0].message, code=violations[0].code)


def requesters(among: QuerySet[User] | None = None, also: str = "") -> QuerySet[User]:
    """The users (of `among`, or the one named `also`) who have requested an export: each
    one is asked about by one probe of the owner index, never by reading every export."""
    users = get_user_model().objects.all()
    if among is not None:
        users = users.filter(Q(pk__in=among.values("pk")) | Q(username=also))
    has_exports = Exists(Export.objects.filter(owner=OuterRef("pk")).order_by())
    return users.filter(has_exports).order_by("username")


# Generic to the type checker only; at run time they take no subscript.
if TYPE_CHECKING:
    UserChoiceIterator = ModelChoiceIterator[User]
    UserChoiceField = forms.ModelChoiceField[User]
else:
    UserChoiceIterator = ModelChoiceIterator
    UserChoiceField = forms.ModelChoiceField


class _ListedChoices(UserChoiceIterator):
    """The menu's choices, by username. They are read as one list of names: a model
    choice iterator would build a user for each, through a server-side cursor (on
    PostgreSQL, three round trips where one will do)."""

    def __init__(self, field: RequesterField) -> None:
        super().__init__(field)
        self.queryset = field.listed

    def __iter__(self) -> Iterator[tuple[str, str]]:
        if self.field.empty_label is not None:
            yield ("", str(self.field.empty_label))
        for username in self.queryset.values_list("username", flat=True):
            yield (username, username)


class RequesterField(UserChoiceField):
    """Who requested the export. Any user who has requested one is accepted, but the menu
    lists only `listed`: everyone who ever exported would be a list as long as the user
    table, read from every export."""

    iterator = _ListedChoices

    def __init__(self, *, listed: QuerySet[User], **kwargs: Any) -> None:
        self.listed = listed
        super().__init__(**kwargs)


# The letters or digits a history search must hold. PostgreSQL's trigram indexes know a
# name by its letters and digits only, three at a time with the word's edges: a shorter
# search, punctuation aside, has no trigram to look up, or only one that nearly every name
# holds, and would read nearly every export.
SEARCH_MIN_CHARS = 3


class HistoryFilterForm(forms.Form):
    """Query-string filters of the history page; junk answers 400, not a 500.

    With `by_user=True` (auditors, who see everyone's exports) it also filters by the user
    who requested the export: `user=<username>`, one of the users who have exports; the
    menu offers the exporters who have exported, and the one chosen.
    """

    IN_FLIGHT = "in_flight"  # the status filter's "any status in flight"

    status = forms.ChoiceField(
        choices=[("", "Any status"), (IN_FLIGHT, "In flight"), *Status.choices], required=False
    )
    q = forms.CharField(
        label="Search",
        max_length=200,
        required=False,
        strip=True,
        help_text=f"Part of an image, bucket or object name: at least {SEARCH_MIN_CHARS} letters "
        "or digits.",
    )
    page = forms.IntegerField(min_value=1, required=False)

    def __init__(self, *args: Any, by_user: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Its help and its message (exports/partials/field_errors.html) are read with it.
        self.fields["q"].widget.attrs["aria-describedby"] = "id_q_helptext errors-q"
        if by_user:
            self.fields["user"] = RequesterField(
                label="Requested by",
                queryset=requesters(),
                listed=requesters(holders(EXPORTER), also=self.data.get("user", "")),
                to_field_name="username",
                required=False,
                empty_label="Everyone",
            )

    def clean_q(self) -> str:
        text = str(self.cleaned_data["q"])
        if text and sum(char.isalnum() for char in text) < SEARCH_MIN_CHARS:
            self.fields["q"].widget.attrs["aria-invalid"] = "true"
            raise forms.ValidationError(
                f"Type at least {SEARCH_MIN_CHARS} letters or digits (punctuation does not "
                "count): a shorter search would have to read nearly every export."
            )
        return text

    def refuses_only_the_search(self) -> bool:
        """Whether the search text is the one filter refused (the rest apply without it)."""
        return set(self.errors) == {"q"}

    def apply(self, exports: ExportQuerySet) -> ExportQuerySet:
        """Narrow `exports` to the filters that were accepted."""
        data = self.cleaned_data
        if data.get("user"):
            exports = exports.filter(owner=data["user"])
        if data["status"] == self.IN_FLIGHT:
            exports = exports.in_flight()
        elif data["status"]:
            exports = exports.filter(status=data["status"])
        if data.get("q"):
            exports = exports.matching(data["q"])
        return exports


class AbandonForm(forms.Form):
    """Why a person stops following an export. The audit trail keeps the reason, so one is
    required; its length is bounded like any other detail of an event."""

    REASON_MAX = 500

    # The product's own message, not the browser's bubble, says a reason is missing.
    use_required_attribute = False

    reason = forms.CharField(
        label="Reason",
        max_length=REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 3, "aria-required": "true"}),
        error_messages={
            "required": "Say why you stop following this export; the audit trail records it.",
            "max_length": f"Keep the reason to {REASON_MAX} characters or fewer.",
        },
        help_text="For example: the job is stuck at 40% for an hour; exporting again under "
        "another name.",
    )
