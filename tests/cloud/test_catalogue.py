"""Every export-relevant error code has a message and a remedy of our own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ims_portal.cloud.catalogue import CATALOGUE, Explanation, explain

REQUIRED = [
    *(f"IMG.{n:04d}" for n in range(68, 82) if n != 78),  # IMG.0078 is not in the code table
    "IMG.0001",
    "IMG.0027",
    "IMG.0109",
    "IMG.0128",
    "IMG.0130",
    "IMG.0148",
    "IMG.0160",
    "IMG.0026",
    "IMG.0030",
    "IMG.0087",
    "APIGW.0101",
    "APIGW.0301",
    "APIGW.0306",
    "APIGW.0307",
    "APIGW.0308",
]

REFERENCE = Path("/work/shared/reference/ims-api/api-ref__error_codes.rst")


@pytest.mark.parametrize("code", REQUIRED)
def test_required_codes_are_explained(code):
    explanation = explain(code)
    assert explanation is CATALOGUE[code]
    assert explanation.message.endswith(".")
    assert len(explanation.remedy) > 10


def test_gateway_codes_are_found_in_either_spelling():
    assert explain("APIG.0308") is CATALOGUE["APIGW.0308"]
    assert explain(" apigw.0301 ") is CATALOGUE["APIGW.0301"]


def test_unknown_codes_fall_back_on_the_status_then_a_generic_text():
    assert explain("IMG.9999", status=403) == explain("", status=403)
    assert explain("IMG.9999", status=502).message.startswith("The cloud had a problem")
    generic = explain("IMG.9999")
    assert isinstance(generic, Explanation)
    assert generic.remedy


@pytest.mark.skipif(not REFERENCE.exists(), reason="reference pages not available")
def test_our_texts_are_not_copies_of_the_reference_table():
    reference = REFERENCE.read_text()
    cells = {c.strip().rstrip(".") for c in re.split(r"\|", reference) if len(c.strip()) > 25}
    for code, explanation in CATALOGUE.items():
        assert explanation.message.rstrip(".") not in cells, code
        assert explanation.remedy.rstrip(".") not in cells, code


@pytest.mark.skipif(not REFERENCE.exists(), reason="reference pages not available")
def test_every_img_code_we_explain_exists_in_the_reference():
    documented = set(re.findall(r"IMG\.\d{4}", REFERENCE.read_text()))
    ours = {code for code in CATALOGUE if code.startswith("IMG.")}
    assert ours <= documented
