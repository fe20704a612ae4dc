"""The README's layout section names every folder of the project and every part of the
package, so a newcomer's map matches the tree."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def layout_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.split("## Layout", 1)[1].split("\n## ", 1)[0]


def tracked_paths() -> list[str]:
    listing = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return listing.splitlines()


def named(section: str, name: str) -> bool:
    return re.search(rf"(?<![\w/.]){re.escape(name)}(?![\w])", section) is not None


def test_every_top_level_folder_is_in_the_layout():
    folders = {path.split("/", 1)[0] for path in tracked_paths() if "/" in path}
    folders -= {".ci"}  # CI's one script, named in the README's opening lines
    section = layout_section()
    missing = sorted(folder for folder in folders if not named(section, f"{folder}/"))
    assert not missing, f"README layout does not name: {missing}"


def test_every_part_of_the_package_is_in_the_layout():
    parts = {
        path.split("/")[1]
        for path in tracked_paths()
        if path.startswith("ims_portal/") and path.count("/") >= 1
    }
    parts = {part if "." in part else f"{part}/" for part in parts}
    parts -= {"__init__.py"}
    section = layout_section()
    missing = sorted(part for part in parts if not named(section, part))
    assert not missing, f"README layout does not name: {missing}"
