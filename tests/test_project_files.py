"""The one walk over a project's files for the project-wide scans (`roots.project_files`): one
list of folders that hold no project code, tests kept only when asked, each file once, and the
folders it lists recorded for the persistent cache."""

from __future__ import annotations

from pathlib import Path
from typing import List

from flake8_fastapi_bg import deps, roots
from flake8_fastapi_bg.roots import project_files

TREE = ["app/main.py", "app/api/routes.py", "app/notes.txt", "app/api/test_routes.py",
        "app/api/routes_test.py", "app/conftest.py", "tests/test_main.py", "app/fixtures/data.py",
        "app/testing/helpers.py",
        ".venv/lib/x.py", ".git/hooks/h.py", "venv/lib/x.py", "env/lib/x.py", "build/lib/app/main.py",
        "dist/x.py", "node_modules/x/y.py", "app/__pycache__/main.py", "lib/python3/site-packages/x.py",
        "myenv/pyvenv.cfg", "myenv/lib/x.py"]


def make(tmp_path: Path) -> Path:
    for name in TREE:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x = 1\n")
    return tmp_path


def found(root: Path, *given: Path, **options: bool) -> List[str]:
    return [Path(p).relative_to(root).as_posix() for p in project_files(given or (root,), "state", **options)]


def test_the_apps_own_files_without_tests(tmp_path: Path) -> None:
    root = make(tmp_path)
    assert found(root) == ["app/main.py", "app/api/routes.py"]


def test_tests_kept_when_asked(tmp_path: Path) -> None:
    root = make(tmp_path)
    assert found(root, tests=True) == ["app/conftest.py", "app/main.py", "app/api/routes.py",
                                       "app/api/routes_test.py", "app/api/test_routes.py",
                                       "app/fixtures/data.py", "app/testing/helpers.py", "tests/test_main.py"]


def test_nested_roots_yield_each_file_once(tmp_path: Path) -> None:
    root = make(tmp_path)
    assert found(root, root / "app", root) == ["app/main.py", "app/api/routes.py"]


def test_a_bounded_scan_stops_and_says_so(tmp_path: Path, monkeypatch) -> None:
    root = make(tmp_path)
    monkeypatch.setattr(roots, "MAX_SCANNED_FILES", 1)
    deps.start()
    assert found(root) == ["app/main.py", "app/api/routes.py"]  # unbounded
    assert ("unsure", "") not in deps.finish()
    deps.start()
    assert found(root, bounded=True) == ["app/main.py"]
    recorded = deps.finish()
    assert ("unsure", "") in recorded
    assert ("dir", "state", "", str(root)) in recorded and ("dir", "state", "", str(root / "app")) in recorded


def test_a_root_inside_one_listed_before_is_not_listed_again(tmp_path: Path, monkeypatch) -> None:
    """`src/` and the marker directory above it are both roots: the folders under `src/` are
    listed once, by its own walk, not again by the walk of the directory that holds it."""
    root = make(tmp_path)
    listed: List[str] = []
    original = deps.walk

    def walk(top, scanner, arg=""):
        for directory, dirs, files in original(top, scanner, arg):
            listed.append(Path(directory).relative_to(root).as_posix())
            yield directory, dirs, files

    monkeypatch.setattr(deps, "walk", walk)
    assert found(root, root / "app", root) == ["app/main.py", "app/api/routes.py"]
    assert sorted(listed) == sorted(set(listed))
    assert listed.count("app") == 1 and listed.count("app/api") == 1
