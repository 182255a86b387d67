"""Every ``pip install`` line the docs and the error messages give works as pasted: lilqueue is
not on the package index, so it is installed from a clone (a path), never by its bare name, and
each extra named is one pyproject.toml defines."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WHERE = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "lilqueue").rglob("*.py")),
         *sorted((ROOT / "demo").rglob("*.py"))]
# what follows "pip install", up to the end of a command: a code span's or a string's end, &&, ;, a comment
COMMAND = re.compile(r"pip install ([^`'\n&;#)]+)")
EXTRAS = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])


def install_lines() -> list[tuple[str, str]]:
    return [(f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, match.start()) + 1}", match.group(1).strip())
            for path in WHERE for text in [path.read_text()] for match in COMMAND.finditer(text)]


def requirements(line: str) -> list[str]:
    """The requirements of a pip command line: its words that are not options (``-e`` takes one)."""
    words = shlex.split(line)
    return [word for i, word in enumerate(words) if not word.startswith("-") or words[i - 1:i] == ["-e"]]


def test_the_docs_give_install_lines_to_check():
    found = dict(install_lines())
    assert len(found) >= 5, found
    assert any('".[postgres]"' in line for line in found.values()), found


@pytest.mark.parametrize(("where", "line"), install_lines())
def test_no_install_line_asks_the_package_index_for_lilqueue_and_every_extra_exists(where, line):
    for requirement in requirements(line):
        name, _, extras = requirement.partition("[")
        assert not re.fullmatch(r"lilqueue\s*([<>=!~].*)?", name, re.IGNORECASE), (
            f"{where}: `pip install {line}` asks the package index for lilqueue, which is not there")
        if extras and (name.startswith((".", "/", "~")) or name == ""):
            named = {extra.strip() for extra in extras.rstrip("]").split(",")}
            assert named <= EXTRAS, f"{where}: `pip install {line}`: no extra {named - EXTRAS} in pyproject.toml"
