"""The repository's shape, as the README and docs/ describe it: the layout names every package
and module there is, links point at files that exist, and no two classes of the domain core
share a name (the layers themselves are import-linter's, in `make lint`)."""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _layout() -> str:
    """The README's layout block."""
    section = README.split("## Layout", 1)[1]
    return section.split("```", 2)[1]


def test_the_readme_layout_names_every_package_and_module() -> None:
    """Each package and top-level module of digests/ and bot/ is in the README's layout, and
    every name the layout gives exists."""
    layout = _layout()
    for package in ("digests", "bot"):
        for child in sorted((ROOT / package).iterdir()):
            if child.name.startswith(("_", ".")) and child.name != "__main__.py":
                continue
            if (child.is_dir() and (child / "__init__.py").exists()) or child.name == "migrations":
                assert re.search(rf"\b{child.name}/", layout), f"{package}/{child.name}/"
            elif child.suffix == ".py":
                assert re.search(rf"\b{re.escape(child.name)}\b", layout), f"{package}/{child.name}"
    named = re.findall(r"(?<![\w/.])([a-z_]+(?:\.py|/))(?![\w/])", layout)
    for name in set(named):
        found = list(ROOT.glob(f"*/{name.rstrip('/')}")) + list(ROOT.glob(name.rstrip("/")))
        assert found, f"the layout names {name}, which does not exist"


def test_links_in_the_readme_and_docs_point_at_files_that_exist() -> None:
    """No document links to a file the repository lacks."""
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            assert (doc.parent / target).exists(), f"{doc.name} links to {target}"


def test_no_two_classes_of_the_domain_core_share_a_name() -> None:
    """A class name in digests/ says which thing it is: no two classes are called the same."""
    names: Counter[str] = Counter()
    for path in (ROOT / "digests").rglob("*.py"):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names.update(node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef))
    assert [name for name, count in names.items() if count > 1] == []
