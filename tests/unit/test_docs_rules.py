"""The docs stay inside the repository (#18.7): every rule id the code cites is listed in
docs/rules.md, and every document a comment cites is a file of the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("engine", "zoom_emulator", "activities", "workflows", "tests", "bench", "definitions", "worker.py")
RULE_ID = re.compile(r"\bR-[A-Z]+-\d+\b")
DOCUMENT = re.compile(r"[A-Za-z0-9_./-]+\.md\b")
#: Documents outside the repository that comments used to cite: their facts are in docs/ now.
#: (Spelled in two parts, so that searching the tree for them finds nothing, this file included.)
OUTSIDE = tuple(
    a + b for a, b in (("temporal", "-notes"), ("shared/", "spec"), ("zoom-api", ".md"), ("zoom-integration", ".md"))
)


def _files() -> list[Path]:
    found: list[Path] = []
    for name in SOURCES:
        path = ROOT / name
        if path.is_file():
            found.append(path)
        else:
            found.extend(p for p in path.rglob("*") if p.suffix in (".py", ".yaml", ".yml") and p.is_file())
    return sorted(found)


def test_every_rule_id_in_the_code_is_listed_in_docs_rules() -> None:
    listed = set(re.findall(r"^\| (R-[A-Z]+-\d+) \|", (ROOT / "docs" / "rules.md").read_text(), re.MULTILINE))
    cited: dict[str, str] = {}
    for path in _files():
        for rule in RULE_ID.findall(path.read_text(encoding="utf-8", errors="replace")):
            cited.setdefault(rule, str(path.relative_to(ROOT)))
    assert len(cited) > 30
    missing = {rule: where for rule, where in cited.items() if rule not in listed}
    assert not missing, f"rule ids cited but not in docs/rules.md: {missing}"


def test_no_comment_cites_a_document_outside_the_repository() -> None:
    documents = [p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*.md") if ".venv" not in p.parts]
    problems: list[str] = []
    for path in _files():
        if path == Path(__file__).resolve():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        where = path.relative_to(ROOT)
        problems.extend(f"{where}: {name}" for name in OUTSIDE if name in text)
        for document in DOCUMENT.findall(text):
            if not any(known == document or known.endswith("/" + document) for known in documents):
                problems.append(f"{where}: {document} is not a file of the repository")
    assert not problems, "\n".join(problems)


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lowercase, punctuation dropped, spaces to dashes."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(document: Path) -> set[str]:
    found: set[str] = set()
    in_code = False
    for line in document.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            slug = _slug(line.lstrip("#"))
            number = 0
            while (candidate := slug if number == 0 else f"{slug}-{number}") in found:
                number += 1
            found.add(candidate)
    return found


def test_links_between_the_docs_resolve() -> None:
    """Every relative link of the docs names a file of the repository, and a heading of it."""
    pages = [ROOT / "README.md", ROOT / "bench" / "README.md", ROOT / "definitions" / "README.md"]
    pages += sorted((ROOT / "docs").glob("*.md"))
    problems: list[str] = []
    for page in pages:
        text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            document = (page.parent / path).resolve() if path else page
            where = f"{page.relative_to(ROOT)}: {target}"
            if not document.exists():
                problems.append(f"{where}: no such file")
            elif anchor and document.suffix == ".md" and anchor not in _anchors(document):
                problems.append(f"{where}: no such heading")
    assert not problems, "\n".join(problems)


def test_the_readme_layout_table_names_every_part_of_the_tree() -> None:
    """The README's code layout stays true (#18.7): every package and top-level module of
    ``engine``, every part of ``zoom_emulator`` and every folder of ``tests`` is in it."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("| path | what |")
    table = readme[start : readme.index("\n\n", start)]
    missing: list[str] = []
    for package, prefix in (("engine", "engine/"), ("zoom_emulator", ""), ("tests", "")):
        for entry in sorted((ROOT / package).iterdir()):
            if entry.name.startswith((".", "__")) or entry.name == "conftest.py":
                continue
            if entry.is_dir() and not any(entry.rglob("*.py")) and package != "tests":
                continue
            name = entry.name + "/" if entry.is_dir() else entry.name
            written = f"`{prefix}{name}`" if entry.is_dir() and package == "engine" else f"`{name}`"
            if written not in table:
                missing.append(f"{package}/{name}")
    assert not missing, f"not in the README's layout table: {missing}"
