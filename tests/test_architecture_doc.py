"""docs/architecture.md describes the state machine in words; it must say what the code does."""

from __future__ import annotations

from pathlib import Path

from ims_portal.exports.models import STATUS_TABLE, VERIFICATION_TABLE, Status, Verification

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
NOTHING = "—"


def documented_table(text: str | None = None) -> dict[str, list[str]]:
    """The rows of the doc's state-machine table, by status."""
    text = DOC.read_text(encoding="utf-8") if text is None else text
    section = text.split("## The state machine", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0] in Status.values:
            rows[cells[0]] = cells[1:]
    return rows


def listed(cell: str) -> set[str]:
    return set() if cell == NOTHING else {name.strip() for name in cell.split(",")}


def kind(status: Status) -> str:
    rule = STATUS_TABLE[status]
    if rule.followed:
        return "followed"
    return "in flight" if rule.in_flight else "terminal"


def test_the_doc_has_one_row_for_every_status():
    assert set(documented_table()) == set(Status.values)


def test_each_row_says_what_the_status_table_says():
    for name, (moves, stamps, action, outcome, what) in documented_table().items():
        status = Status(name)
        rule = STATUS_TABLE[status]
        assert listed(moves) == {str(s) for s in rule.next}, name
        assert (None if stamps == NOTHING else stamps) == rule.stamps, name
        assert action == rule.action, name
        assert outcome == rule.outcome, name
        assert what == kind(status), name


def test_the_row_reader_sees_a_wrong_row():
    # The comparison above must be able to fail: a doc with one move too many is caught.
    wrong = DOC.read_text(encoding="utf-8").replace(
        "| queued | submitting, cancelled |", "| queued | submitting, cancelled, running |"
    )
    rows = documented_table(wrong)
    assert listed(rows["queued"][0]) != {str(s) for s in STATUS_TABLE[Status.QUEUED].next}


def documented_verification_table() -> dict[str, list[str]]:
    """The rows of the doc's table of verification states (a succeeded export's proof)."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## The proof of the object", 1)[1].split("\n## ", 1)[0]
    names = {state.value or "none": state for state in Verification}
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] in names:
            rows[cells[0]] = cells[1:]
    return rows


def test_the_doc_says_what_the_verification_table_says():
    rows = documented_verification_table()
    assert set(rows) == {state.value or "none" for state in Verification}
    for name, (moves, action, outcome) in rows.items():
        state = Verification("" if name == "none" else name)
        rule = VERIFICATION_TABLE[state]
        assert listed(moves) == {str(s) for s in rule.next}, name
        assert action == (rule.action or NOTHING), name
        assert outcome == (rule.outcome or NOTHING), name
