"""The shape of the package: generated files in step, public paths kept, imports one way.

No database: these read the source (``ast``), import the package, or run a fresh
interpreter.  The import rules come from the table in ``docs/architecture.md``.
"""

from __future__ import annotations

import ast
import dataclasses
import graphlib
import importlib
import importlib.metadata
import importlib.util
import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest depends on tomli there
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "alembic_audit"
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def run_python(source: str) -> subprocess.CompletedProcess[str]:
    """Run ``source`` in a fresh interpreter (nothing imported yet) from the repository."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


# -- generated and duplicated definitions ---------------------------------------------


def load_tool(name: str) -> ModuleType:
    """A script of ``tools/`` (not a package) loaded by path."""
    spec = importlib.util.spec_from_file_location(f"_tools_{name}", ROOT / "tools" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_op_stub_is_what_the_tool_writes() -> None:
    stub = (PACKAGE / "op.pyi").read_text()
    assert stub == load_tool("write_op_stub").render_stub(), (
        "alembic_audit/op.pyi is out of date: run python tools/write_op_stub.py"
    )


def test_op_definition_keywords_are_the_spec_fields() -> None:
    from alembic_audit.core.spec import AuditSpec
    from alembic_audit.migration.arguments import SPEC_FIELDS

    spec_fields = {field.name for field in dataclasses.fields(AuditSpec)}
    assert set(SPEC_FIELDS) == spec_fields - {"table_name", "schema"}


# -- what users' code and files name ---------------------------------------------------

#: ``alembic_audit.__all__`` of the previous release (before the stage folders).
PREVIOUS_ALL = (
    "DEFAULT_AUDIT_TABLE_FUNCTION_NAMING_CONVENTION",
    "DEFAULT_AUDIT_TABLE_NAMING_CONVENTION",
    "DEFAULT_AUDIT_TABLE_TRIGGER_CONVENTION",
    "AuditColumn",
    "AuditDDL",
    "AuditInfo",
    "AuditSpec",
    "SessionSetting",
    "attach_audit_table",
    "audited_tables",
    "enable",
    "get_audit_spec",
    "grant_audit_access",
    "install_audit_triggers",
    "revoke_audit_access",
    "set_session_var_stmt",
    "set_session_vars",
    "spec_from_table",
    "uninstall_audit_triggers",
)

#: The operations migrations call as ``op.<name>`` once they import alembic_audit.operations.
OPERATIONS = (
    "create_audit_trigger",
    "drop_audit_trigger",
    "replace_audit_trigger",
    "grant_audit_access",
    "revoke_audit_access",
)


def test_previous_public_names_still_import() -> None:
    import alembic_audit

    missing = [name for name in PREVIOUS_ALL if not hasattr(alembic_audit, name)]
    assert missing == []
    assert set(PREVIOUS_ALL) <= set(alembic_audit.__all__)


@pytest.mark.parametrize(
    "path",
    [
        "alembic_audit.plugin:setup",
        "alembic_audit.engine_plugin:AuditPlugin",
        "alembic_audit.op",
        "alembic_audit.types:MirroredEnum",
        "alembic_audit.grants:grant_audit_access",
    ],
)
def test_kept_module_paths_import(path: str) -> None:
    module_name, _, attribute = path.partition(":")
    module = importlib.import_module(module_name)
    if attribute:
        assert getattr(module, attribute, None) is not None, path


def test_importing_alembic_audit_operations_registers_the_operations() -> None:
    # A fresh interpreter: in this one, other imports have registered them already.
    result = run_python(
        f"""
        import json
        import alembic_audit.operations
        from alembic.operations import Operations

        names = {list(OPERATIONS)!r}
        print(json.dumps([n for n in names if not callable(getattr(Operations, n, None))]))
        """
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def entry_points() -> list[importlib.metadata.EntryPoint]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [
        importlib.metadata.EntryPoint(name=name, value=value, group=group)
        for group, points in project["entry-points"].items()
        for name, value in points.items()
    ]


def test_entry_points_name_existing_objects() -> None:
    from sqlalchemy.engine import CreateEnginePlugin

    loaded = {(ep.group, ep.name): ep.load() for ep in entry_points()}
    assert set(loaded) == {("sqlalchemy.plugins", "audit"), ("alembic.plugins", "alembic_audit")}
    assert issubclass(loaded["sqlalchemy.plugins", "audit"], CreateEnginePlugin)
    assert callable(loaded["alembic.plugins", "alembic_audit"].setup)


# -- imports: private names, cycles, the folder table ----------------------------------


@dataclasses.dataclass(frozen=True)
class Import:
    """One name (or module) one module of the package imports from another."""

    importer: str
    target: str  # the module imported, or imported from
    name: str | None  # the name imported from ``target``; None for the module itself
    line: int
    in_function: bool
    type_checking: bool

    def __str__(self) -> str:
        what = f"{self.target}.{self.name}" if self.name else self.target
        return f"{self.importer} (line {self.line}) imports {what}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class ImportCollector(ast.NodeVisitor):
    def __init__(self, module: str) -> None:
        self.module = module
        self.is_package = MODULES[module].name == "__init__.py"
        self.functions = 0
        self.type_checking = 0
        self.found: list[Import] = []

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.functions += 1
        self.generic_visit(node)
        self.functions -= 1

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_If(self, node: ast.If) -> None:
        if not is_type_checking(node.test):
            self.generic_visit(node)
            return
        self.type_checking += 1
        for statement in node.body:
            self.visit(statement)
        self.type_checking -= 1
        for statement in node.orelse:
            self.visit(statement)

    def add(self, node: ast.stmt, target: str, name: str | None) -> None:
        if target == "alembic_audit" or target.startswith("alembic_audit."):
            self.found.append(
                Import(
                    self.module,
                    target,
                    name,
                    node.lineno,
                    self.functions > 0,
                    self.type_checking > 0,
                )
            )

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.add(node, alias.name, None)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            package = self.module.split(".")
            if not self.is_package:
                package.pop()
            base = package[: len(package) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        for alias in node.names:
            submodule = f"{target}.{alias.name}"
            if submodule in MODULES:
                self.add(node, submodule, None)
            else:
                self.add(node, target, alias.name)


def package_imports() -> Iterator[Import]:
    for module, path in MODULES.items():
        collector = ImportCollector(module)
        collector.visit(ast.parse(path.read_text(), str(path)))
        yield from collector.found


IMPORTS = list(package_imports())


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_every_import_of_the_package_names_one_of_its_modules() -> None:
    # Keeps the scan honest: an import it could not resolve would escape the checks.
    assert [str(i) for i in IMPORTS if i.target not in MODULES] == []


def test_no_module_imports_a_private_name_of_another() -> None:
    private = [
        str(i)
        for i in IMPORTS
        if (i.name is not None and is_private(i.name))
        or any(is_private(part) for part in i.target.split("."))
    ]
    assert private == []


def test_module_level_imports_have_no_cycle() -> None:
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for i in IMPORTS:
        if not i.in_function and not i.type_checking:
            graph[i.importer].add(i.target)
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


def folder_table() -> dict[str, set[str]]:
    """{folder: folders it may import from}, read from the table in docs/architecture.md.

    A row's folder is its first cell (```core/``` -> ``core``, ```types.py``` -> ``types``,
    ``root`` for the package root); its last cell names the folders it imports from in
    backticks, or says ``everything above`` / ``any folder``.
    """
    table: dict[str, set[str]] = {}
    rows = re.findall(r"^\| (`[^`|]+`|root) \|(.*)\| ([^|]+) \|$", ARCHITECTURE.read_text(), re.M)
    for first, _holds, imports in rows:
        folder = first.strip("`").removesuffix("/").removesuffix(".py")
        if imports.strip() == "everything above":
            allowed = set(table)
        elif imports.strip() == "any folder":
            allowed = set(table) | {folder}
        else:
            allowed = set(re.findall(r"`([^`]+)`", imports))
        table[folder] = allowed
    return table


def folder_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 1 and (PACKAGE / parts[1]).is_dir():
        return parts[1]
    return "types" if module == "alembic_audit.types" else "root"


def test_the_folder_table_reads_and_points_one_way() -> None:
    table = folder_table()
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert set(table) == folders | {"types", "root"}, "a folder without a row in the table"
    above: set[str] = set()
    for folder, allowed in table.items():
        if folder != "root":
            assert allowed <= above, f"{folder} may import from a folder below it"
        above.add(folder)
    # Every module at the root is named in the table's root row.
    root_row = next(line for line in ARCHITECTURE.read_text().splitlines() if line[:7] == "| root ")
    named = set(re.findall(r"`([^`]+)`", root_row))
    root_modules = {m.split(".")[-1] for m in MODULES if folder_of(m) == "root"} - {"alembic_audit"}
    assert root_modules - named == set(), "a module at the root without a word in the table"


def test_each_folder_imports_only_from_the_folders_the_table_allows() -> None:
    # Imports inside functions and under TYPE_CHECKING count too.
    table = folder_table()
    forbidden = [
        f"{i} ({folder_of(i.importer)}/ -> {folder_of(i.target)})"
        for i in IMPORTS
        if folder_of(i.target) != folder_of(i.importer)
        and folder_of(i.target) not in table[folder_of(i.importer)]
    ]
    assert forbidden == []


# -- what enable() costs an application --------------------------------------------------


def test_enable_imports_no_alembic_and_the_comparator_registers_when_alembic_loads() -> None:
    result = run_python(
        """
        import json
        import sys

        import alembic_audit

        alembic_audit.enable()
        loaded = sorted(m for m in sys.modules if m == "alembic" or m.startswith("alembic."))

        import alembic.autogenerate.compare as compare
        from alembic_audit.autogen.plugin import comparator

        registered = [
            [key[0], key[1]]
            for key, entries in compare.comparators._registry.items()
            for fn, _subgroup in entries
            if fn is comparator
        ]
        print(json.dumps({"loaded": loaded, "registered": registered}))
        """
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert "alembic.autogenerate" not in found["loaded"]
    assert found["loaded"] == []
    assert found["registered"] == [["schema", "postgresql"]]


def test_reading_and_maintenance_load_on_first_use_and_export_their_whole_api() -> None:
    # ``import alembic_audit`` (what an application and enable() pay) leaves the history
    # API and the maintenance calls unloaded; the names resolve on first use, and the
    # lazy table lists what those packages export (PruneStep, a record inside a
    # PruneReport, stays in alembic_audit.maintenance), so the two cannot drift.
    result = run_python(
        """
        import json
        import sys

        import alembic_audit

        def loaded():
            return sorted(
                m for m in sys.modules
                if m.startswith(("alembic_audit.reading", "alembic_audit.maintenance"))
            )

        before = loaded()
        history = alembic_audit.history
        from alembic_audit import prune
        print(json.dumps({
            "before": before,
            "after": loaded(),
            "history": history.__module__,
            "prune": prune.__module__,
            "dir": "revert_transaction" in dir(alembic_audit),
        }))
        """
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["before"] == []
    assert "alembic_audit.reading" in found["after"]
    assert "alembic_audit.maintenance" in found["after"]
    assert found["history"].startswith("alembic_audit.reading.")
    assert found["prune"].startswith("alembic_audit.maintenance.")
    assert found["dir"] is True

    import alembic_audit
    import alembic_audit.maintenance
    import alembic_audit.reading

    lazy = alembic_audit._LAZY
    for module in (alembic_audit.reading, alembic_audit.maintenance):
        suffix = "." + module.__name__.rsplit(".", 1)[1]
        exported = sorted(set(module.__all__) - {"PruneStep"})
        assert sorted(n for n, m in lazy.items() if m == suffix) == exported
    assert set(lazy) <= set(alembic_audit.__all__)
    with pytest.raises(AttributeError, match="no attribute 'histroy'"):
        alembic_audit.histroy  # noqa: B018


# -- the tests themselves ------------------------------------------------------------------


def test_test_modules_import_no_test_module_and_fixtures_load_one_way() -> None:
    # Shared helpers live in tests/fixtures/; fixtures load through tests/fixtures/plugin.py
    # (pyproject.toml's addopts), never through conftest.py or pytest_plugins.
    tests = ROOT / "tests"
    found = []
    for path in sorted(tests.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                # Relative imports here are of the tests package (or its fixtures).
                base = ("tests." if node.level else "") + (node.module or "")
                names = [f"{base}.{alias.name}".replace("..", ".") for alias in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "tests" and any(part.startswith("test_") for part in parts):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
            targets = node.targets if isinstance(node, ast.Assign) else []
            if any(isinstance(t, ast.Name) and t.id == "pytest_plugins" for t in targets):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} sets pytest_plugins")
    found += [str(p.relative_to(ROOT)) for p in tests.rglob("conftest.py")]
    assert found == []
