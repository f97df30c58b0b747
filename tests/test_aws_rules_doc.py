"""docs/aws-rules.md stays the project's own rules document (read from the files; no cloud starts).

Docstrings and comments in the engine and its tests cite AWS rules by tag, e.g. ``[SQS-a]``. Every
tag cited must be a rule of docs/aws-rules.md, under a heading that carries it and an anchor named
after it, with the AWS page it comes from; links into the document must land on an anchor; and
no file may point at the retired background file instead.
"""

from __future__ import annotations

import io
import os
import re
import tokenize
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "docs" / "aws-rules.md"
CITING = ("lambdalab", "tests")
# A tag in a docstring or comment: ``[INV]``, ``[SQS-a]``, ``[KC502]``; not ``x[ANY]`` nor ``[[M]``.
TAG = re.compile(r"(?<![\w\[])\[([A-Z][A-Z0-9]*(?:-[A-Za-z0-9]+)*)\]")
LOG_LEVELS = frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})  # ``[ERROR]`` log lines
RULE_HEADING = re.compile(r'^#{2,4} <a id="([^"]+)"></a>\[([^\]]+)\] \S')
HEADING = re.compile(r"^#{1,6} (.+)$", re.MULTILINE)
SOURCE_LINE = re.compile(r"^- (Source|Sources|Related): <https://")
LINK = re.compile(r"aws-rules\.md#([\w-]+)")
RETIRED = "aws-" + "semantics"  # the background file the rules used to point at (split: not a mention)
SEARCHED_SUFFIXES = (".py", ".md", ".ipynb", ".cfg", ".toml", ".txt", ".yaml", ".yml")
SKIPPED_DIRS = frozenset({".git", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".lambdalab", ".aws-sam",
                          "__pycache__", ".ipynb_checkpoints", "node_modules"})


def cited_tags(path: Path) -> Iterator[tuple[str, int]]:
    """(tag, line) for each rule tag in the file's strings and comments; code is never read as a tag."""
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
    for token in tokens:
        if token.type in (tokenize.STRING, tokenize.COMMENT):
            for offset, line in enumerate(token.string.splitlines()):
                for tag in TAG.findall(line):
                    if tag not in LOG_LEVELS:
                        yield tag, token.start[0] + offset


@cache
def citations() -> dict[str, list[str]]:
    """Every tag cited in the engine and its tests (this file's patterns aside), with where."""
    found: dict[str, list[str]] = {}
    for top in CITING:
        for path in sorted((ROOT / top).rglob("*.py")):
            if path == Path(__file__).resolve():
                continue
            for tag, line in cited_tags(path):
                found.setdefault(tag, []).append(f"{path.relative_to(ROOT)}:{line}")
    return found


@cache
def rules() -> dict[str, list[str]]:
    """Tag -> the lines of its rule (from its heading to the next heading)."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in RULES.read_text().splitlines():
        heading = RULE_HEADING.match(line)
        if heading:
            anchor, tag = heading.groups()
            assert anchor == tag.lower(), f"the anchor of [{tag}] must be {tag.lower()!r}, not {anchor!r}"
            assert tag not in found, f"[{tag}] is defined twice"
            current = found[tag] = []
        elif HEADING.match(line):
            current = None
        elif current is not None:
            current.append(line)
    return found


def anchors(path: Path) -> set[str]:
    """The explicit ``<a id>`` anchors of a Markdown file and the ids GitHub gives its headings."""
    text = path.read_text()
    found = set(re.findall(r'<a id="([^"]+)"></a>', text))
    for title in HEADING.findall(text):
        plain = re.sub(r"<[^>]+>", "", title).strip().lower()
        found.add(re.sub(r"[^\w\- ]", "", plain).replace(" ", "-"))
    return found


def searched_files() -> Iterator[Path]:
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs
                   if d not in SKIPPED_DIRS and not d.startswith(".venv") and not d.endswith(".egg-info")]
        for name in files:
            if name.endswith(SEARCHED_SUFFIXES):
                yield Path(folder, name)


def test_the_engine_and_its_tests_cite_rules():
    assert len(citations()) > 40, sorted(citations())
    assert {"INV", "SQS-a", "KIN-ONF", "A-ERR", "L-S3"} <= set(citations())


def test_every_cited_tag_is_a_rule_of_the_document():
    missing = {tag: places[:3] for tag, places in citations().items() if tag not in rules()}
    assert not missing, f"tags cited but not defined in docs/aws-rules.md: {missing}"


def test_every_rule_says_which_aws_page_it_comes_from():
    unsourced = [tag for tag, lines in rules().items() if not any(SOURCE_LINE.match(line) for line in lines)]
    assert not unsourced, f"rules without a source line: {unsourced}"


def test_links_into_the_rules_land_on_an_anchor():
    targets = anchors(RULES)
    broken = [f"{path.relative_to(ROOT)}: #{anchor}"
              for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
              for anchor in LINK.findall(path.read_text()) if anchor not in targets]
    assert not broken, f"links to anchors docs/aws-rules.md lacks: {broken}"


def test_no_file_points_at_the_retired_background_file():
    mentions = [str(path.relative_to(ROOT)) for path in searched_files()
                if RETIRED in path.read_text(errors="replace")]
    assert not mentions, f"these files mention {RETIRED}; cite docs/aws-rules.md instead: {mentions}"
