"""The import rules of docs/architecture.md, checked on every module's imports (all of them:
top-level and inside functions), so the folder tree stays the architecture diagram."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("dispatcher", "web", "workers", "pbxsim", "tests", "bench")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(), str(path))
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" \
        else module_name(path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def all_imports() -> list[tuple[str, str]]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            source = module_name(path)
            found.extend((source, target) for target in imports_of(path))
    return found


IMPORTS = all_imports()


def within(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def offenders(importer: tuple[str, ...], imported: tuple[str, ...],
              allowed: tuple[str, ...] = ()) -> list[str]:
    return sorted({f"{source} imports {target}" for source, target in IMPORTS
                   if within(source, *importer) and within(target, *imported)
                   and not within(source, *allowed)})


IO_LIBRARIES = ("flask", "celery", "kombu", "sqlalchemy", "psycopg2", "redis", "requests",
                "asterisk", "socket", "subprocess", "gunicorn")


# Fault-injection checkpoints (dispatcher.devstack.faults) sit on the dial path itself: they do
# nothing unless the dev stack's fault settings are given, and the fault tests kill -9 there.
FAULTS = "dispatcher.devstack.faults"
# What the simulated PBX shares with production: the AMI wire format and the CDR table.
SIMULATOR_NEEDS = ("dispatcher.adapters.ami.protocol", "dispatcher.adapters.db.cdr_schema")


@pytest.mark.parametrize(("rule", "importer", "imported", "allowed"), [
    ("the domain is plain Python: no adapters, use cases or entry points",
     ("dispatcher.domain",), ("dispatcher.adapters", "dispatcher.usecases", "dispatcher.cli",
                              "dispatcher.devstack", "web", "workers", "pbxsim"), ()),
    ("the domain does no I/O", ("dispatcher.domain",), IO_LIBRARIES, ()),
    ("use cases know no entry point", ("dispatcher.usecases",),
     ("web", "workers", "dispatcher.cli", "flask", "celery"), ()),
    ("the web app never imports worker code", ("web",), ("workers",), ()),
    ("the package never imports the entry points built on it", ("dispatcher",),
     ("web", "workers"), ()),
    ("workers never import Flask or the web app", ("workers",), ("flask", "web"), ()),
    ("only tests, the dev stack, the `dispatcher pbxsim` command and the bench use the "
     "simulator", ("dispatcher", "web", "workers"), ("pbxsim",),
     ("dispatcher.devstack", "dispatcher.cli.main")),
    ("pyst2 is wrapped in one module", ("dispatcher", "web", "workers", "pbxsim", "bench"),
     ("asterisk.manager",), ("dispatcher.adapters.ami.pyst2_manager",)),
])
def test_import_rule(rule: str, importer: tuple[str, ...], imported: tuple[str, ...],
                     allowed: tuple[str, ...]) -> None:
    found = offenders(importer, imported, allowed)
    assert found == [], f"{rule}:\n" + "\n".join(found)


def test_adapters_serve_use_cases_never_the_other_way_round() -> None:
    found = [f for f in offenders(("dispatcher.adapters",),
                                  ("dispatcher.usecases", "dispatcher.cli",
                                   "dispatcher.devstack", "web", "workers"))
             if not within(f.split(" imports ")[1], FAULTS)]
    assert found == [], "\n".join(found)


# What SQLAlchemy may give a module outside the database adapter: the session types it is
# handed, and the exceptions it may meet. Statements (select, update, text...) stay inside.
SESSION_AND_ERRORS = ("sqlalchemy.orm.Session", "sqlalchemy.orm.sessionmaker", "sqlalchemy.exc")


def test_sql_is_written_only_in_the_database_adapter() -> None:
    """The simulator stands in for Asterisk's own cdr_pgsql, which writes the cdr table."""
    found = [f"{source} imports {target}" for source, target in IMPORTS
             if within(target, "sqlalchemy", "psycopg2")
             and not within(source, "dispatcher.adapters.db", "pbxsim", "tests", "bench")
             and target != "sqlalchemy.orm" and not within(target, *SESSION_AND_ERRORS)]
    assert found == [], "\n".join(sorted(set(found)))


def test_the_simulator_depends_only_on_the_ami_protocol_and_the_cdr_schema() -> None:
    found = [f for f in offenders(("pbxsim",), ("dispatcher",))
             if not within(f.split(" imports ")[1], *SIMULATOR_NEEDS)]
    assert found == [], "\n".join(found)


def test_the_rules_see_imports_at_all() -> None:
    """A rule that never matches anything could not fail: the scan must find real edges."""
    assert ("web.calls", "dispatcher.usecases.submit_call") in IMPORTS
    assert any(source.startswith("workers.") and target.startswith("celery")
               for source, target in IMPORTS)
