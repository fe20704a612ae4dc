"""History's finished and duration columns and its empty states; times shown with their date
and UTC; the new-export form's error summary, fast export's format and suggested name."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.template import Context, Template
from django.urls import reverse

from ims_portal.exports import rules
from ims_portal.exports.forms import FAST_FORMAT_LABEL, ExportForm
from ims_portal.exports.models import Status
from ims_portal.simulator import seed
from tests.portal_fixtures import export_form_data

pytestmark = pytest.mark.django_db


def render(template: str, **context: object) -> str:
    return Template("{% load timestamps %}" + template).render(Context(context))


def test_a_time_shows_its_date_and_utc_in_a_time_element():
    moment = datetime(2025, 5, 1, 11, 30, 12, 345678, tzinfo=UTC)
    assert render("{{ t|utc }}", t=moment) == (
        '<time datetime="2025-05-01T11:30:12.345678Z">2025-05-01 11:30 UTC</time>'
    )
    assert "2025-05-01 11:30:12 UTC" in render('{{ t|utc:"seconds" }}', t=moment)
    assert "2025-05-01 11:30:12.345678 UTC" in render('{{ t|utc:"micro" }}', t=moment)
    assert render("{{ t|utc }}", t=None) == ""


def test_a_time_in_another_zone_is_shown_in_utc():
    from zoneinfo import ZoneInfo

    berlin = datetime(2025, 5, 1, 13, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    assert ">2025-05-01 11:30 UTC<" in render("{{ t|utc }}", t=berlin)


@pytest.mark.parametrize(
    ("image_name", "file_format", "quick", "expected"),
    [
        ("web-01", "qcow2", False, "web-01.qcow2"),
        ("web-01", "", True, "web-01.zvhd2"),
        ("web-01", "vmdk", True, "web-01.zvhd2"),  # fast export writes ZVHD2 whatever was chosen
        ("web-01", "", False, "web-01"),
        ("  db server/prod  ", "vhd", False, "db-server-prod.vhd"),
        ("/root-image", "qcow2", False, "root-image.qcow2"),
        ("tab\tand\x7fbell\x07", "qcow2", False, "tabandbell.qcow2"),
    ],
)
def test_the_suggested_file_name_is_the_image_name_and_the_written_extension(
    image_name, file_format, quick, expected
):
    suggestion = rules.suggested_file_name(image_name, file_format, quick)
    assert suggestion == expected
    assert rules.check_file_name(suggestion) == []


def test_history_shows_when_each_export_finished_and_how_long_it_took(client, alice, make_export):
    done = make_export(alice, image_name="done-image")
    done.transition(Status.CANCELLED)
    done.refresh_from_db()
    make_export(alice, image_name="waiting-image")
    client.force_login(alice)
    page = client.get(reverse("exports:history")).content.decode()
    assert '<th scope="col">Finished</th>' in page and '<th scope="col">Duration</th>' in page
    finished = done.finished_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    assert f"{finished} UTC</time>" in page
    assert page.count(" UTC</time>") == 3  # two requested times, one finished time


def test_an_empty_history_leads_an_exporter_to_a_new_export(client, alice):
    client.force_login(alice)
    page = client.get(reverse("exports:history")).content.decode()
    assert 'id="history-empty"' in page
    assert f'href="{reverse("exports:new")}"' in page.split('id="history-empty"')[1]


def test_an_empty_history_offers_an_auditor_no_new_export(client, carol):
    client.force_login(carol)
    page = client.get(reverse("exports:history")).content.decode()
    empty = page.split('id="history-empty"')[1]
    assert "No exports yet." in empty
    assert reverse("exports:new") not in empty


def test_a_filter_that_matches_nothing_says_so_and_offers_every_export(client, alice, make_export):
    make_export(alice)
    client.force_login(alice)
    page = client.get(reverse("exports:history"), {"q": "nothing-like-it"}).content.decode()
    empty = page.split('id="history-empty"')[1]
    assert "No exports match these filters." in empty
    assert f'href="{reverse("exports:history")}"' in empty


@pytest.mark.usefixtures("cloud")
def test_a_refused_submit_lists_every_message_with_a_link_to_its_field(client, alice):
    client.force_login(alice)
    data = export_form_data(bucket="Bad_Bucket", file_name="", file_format="")
    response = client.post(reverse("exports:new"), data)
    assert response.status_code == 422
    summary = response.context["form"].error_summary
    assert [(entry.anchor, entry.label) for entry in summary] == [
        ("id_bucket", "OBS bucket"),
        ("id_file_name", "File name"),
        ("id_file_format", "Format"),
    ]
    page = response.content.decode()
    for entry in summary:
        assert f'<a href="#{entry.anchor}">{entry.label}: ' in page
        assert f'id="{entry.anchor}"' in page


@pytest.mark.usefixtures("cloud")
def test_the_summary_of_an_image_in_flight_is_text_with_a_link_to_the_picker(
    client, alice, make_export
):
    make_export(alice, image_id=seed.SMALL_CENTOS)
    client.force_login(alice)
    response = client.post(reverse("exports:new"), export_form_data())
    [entry] = response.context["form"].error_summary
    assert entry.anchor == "image-picker"
    assert entry.message.startswith("This image is already being exported (export #")
    assert "<a" not in entry.message  # the summary line is itself a link


@pytest.mark.usefixtures("cloud")
def test_a_form_sent_with_fast_export_shows_its_format_locked_and_named(client, alice):
    client.force_login(alice)
    data = export_form_data(quick="on", file_format="", bucket="Bad_Bucket")
    page = client.post(reverse("exports:new"), data).content.decode()
    select = (
        page.split('name="file_format"')[0].rsplit("<select", 1)[1]
        + page.split('name="file_format"')[1].split("</select>")[0]
    )
    assert "disabled" in select
    assert f'<option value="" selected>{FAST_FORMAT_LABEL}</option>' in select


@pytest.mark.usefixtures("cloud")
def test_a_normal_form_keeps_the_format_open():
    form = ExportForm(initial={})
    assert "disabled" not in form.fields["file_format"].widget.attrs


def test_a_search_too_short_to_be_quick_is_said_on_its_field(client, alice, make_export):
    make_export(alice, image_name="ab-web")
    client.force_login(alice)
    page = client.get(reverse("exports:history"), {"q": "ab"})
    assert page.status_code == 200
    html = page.content.decode()
    (field,) = re.findall(r'<input[^>]*name="q"[^>]*>', html)
    assert 'aria-invalid="true"' in field and "errors-q" in field and "id_q_helptext" in field
    errors = html.split('id="errors-q"')[1].split("</div>")[0]
    assert "letters or digits" in errors
    assert "ab-web" in html  # the list is still there, without the search
    # As the search field's fragment asks for it: the rows, and the message out of band.
    fragment = client.get(reverse("exports:history"), {"q": "ab"}, headers={"HX-Request": "true"})
    oob = fragment.content.decode().split('id="errors-q"')[1].split("</div>")[0]
    assert 'hx-swap-oob="true"' in oob and "letters or digits" in oob
    # A search long enough clears it.
    fine = client.get(reverse("exports:history"), {"q": "web"}, headers={"HX-Request": "true"})
    cleared = fine.content.decode().split('id="errors-q"')[1].split("</div>")[0]
    assert "error" not in cleared.split(">", 1)[1]
