"""api/ is layered, and imports flow one way: serving -> app -> resources -> mail -> the
request context -> observability -> auth -> http -> database -> settings -> text. A module may
import from its own room or from a lower one, never from a higher one, so each room can be
read without the ones above it."""

from __future__ import annotations

import ast
import pathlib

API = pathlib.Path(__file__).parent.parent.parent / "api"

# Highest first. A room is a package of api/ or a module at its top level.
LAYERS = [
    "serving",
    "app",
    "resources",
    "mail",
    "context",
    "observability",
    "auth",
    "http",
    "database",
    "settings",
    "text",
]
RANK = {room: len(LAYERS) - index for index, room in enumerate(LAYERS)}


def room_of(module: str) -> str | None:
    """`api.http.problems` -> `http`; None outside api."""
    parts = module.split(".")
    return parts[1] if parts[0] == "api" and len(parts) > 1 else None


def imported_modules(path: pathlib.Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from api.http import problems` names a module of the room too.
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_every_room_is_known() -> None:
    rooms = {path.stem for path in API.iterdir() if path.suffix == ".py" or (path / "__init__.py").exists()}
    assert rooms - {"__init__"} == set(LAYERS)


def test_imports_flow_one_way() -> None:
    wrong = []
    for path in sorted(API.rglob("*.py")):
        module = ".".join(path.relative_to(API.parent).with_suffix("").parts)
        own = room_of(module)
        assert own is not None
        for imported in imported_modules(path):
            other = room_of(imported)
            if other is None or other == own or other not in RANK:
                continue
            if RANK[other] > RANK[own]:
                wrong.append(f"{module} imports {imported} ({own} sits below {other})")
    assert not wrong, "\n".join(wrong)


def test_the_top_level_stays_small() -> None:
    assert len(list(API.glob("*.py"))) <= 6
