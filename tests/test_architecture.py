"""The layering rules of style.md, checked on the source tree with the ast module."""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {".venv", "var", "node_modules", ".git", "__pycache__"}


def _python_files(under: Path):
    for path in under.rglob("*.py"):
        if not SKIP_DIRS.intersection(path.relative_to(ROOT).parts):
            yield path


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(module, line, at module top level) for every import in a file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno, id(node) in top_level))
    return found


def test_no_top_level_package_shadows_the_standard_library():
    packages = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in ROOT.glob("*.py")}
    assert not (packages | modules) & set(sys.stdlib_module_names)


def test_numerical_core_imports_no_django_or_apps():
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in _python_files(ROOT / "modeling" / "ml")
        for module, line, _ in _imports(path)
        if module.split(".")[0] in {"django", "rest_framework", "celery", "labeling", "accounts", "common", "config"}
        or module.startswith("modeling.") and not module.startswith("modeling.ml")
    ]
    assert offenders == []


def test_labeling_never_imports_modeling():
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in _python_files(ROOT / "labeling")
        for module, line, _ in _imports(path)
        if module.split(".")[0] == "modeling"
    ]
    assert offenders == []


def test_torch_and_transformers_are_imported_lazily_outside_the_numerical_core():
    offenders = []
    for app in ("accounts", "common", "labeling", "modeling", "config"):
        for path in _python_files(ROOT / app):
            if (ROOT / "modeling" / "ml") in path.parents:
                continue
            offenders += [
                f"{path.relative_to(ROOT)}:{line}"
                for module, line, top in _imports(path)
                if top and module.split(".")[0] in {"torch", "transformers"}
            ]
    assert offenders == []
