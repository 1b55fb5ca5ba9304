"""No dead code in the shipped packages (#18.7), by vulture, two ways:

- as ``make deadcode`` runs it: settings in pyproject.toml (``[tool.vulture]``: the packages, 80 %
  confidence — unused imports, variables and arguments, unreachable code — and its few false
  positives);
- stricter, for functions, methods, classes and properties (60 % confidence): a definition in
  ``engine``, ``zoom_emulator``, ``activities``, ``workflows`` or ``worker.py`` that nothing uses —
  the tests and benchmarks count as users, and so does every framework registration (routes,
  Typer commands, pydantic validators and serializers, Temporal activities, workflows, signals and
  queries, SQLAlchemy event listeners, http.server handler methods) — is reported, unless it is
  listed in ``CALLED_FROM_OUTSIDE`` with who calls it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("engine", "zoom_emulator", "activities", "workflows", "worker.py")
#: Decorators that register what they decorate with a framework, which then calls it.
REGISTERING_DECORATORS = (
    "@router.*",
    "@app.*",
    "@*_app.command",
    "@field_validator",
    "@model_validator",
    "@model_serializer",
    "@activity.defn",
    "@workflow.*",
    "@pytest.fixture",
    "@*.listens_for",
)
#: Definitions called by something vulture does not read, and by whom.
CALLED_FROM_OUTSIDE = {
    # Jinja's sandbox and code generator call these overrides (engine/dsl/sandbox.py).
    "visit_Concat": "jinja2.compiler.CodeGenerator (visit_<node> dispatch)",
    "call_binop": "jinja2.sandbox.SandboxedEnvironment",
    "concat": "jinja2's compiled templates (CodeGenerator)",
    "concat_values": "jinja2's compiled templates (CodeGenerator)",
    # httpcore's network backend interface (engine/enrollment/egress.py).
    "connect_unix_socket": "httpcore.AsyncNetworkBackend",
    # The schema file's maintenance command, quoted in engine/dsl/schema.py and its test.
    "write_definition_schema": "python -c 'from engine.dsl.schema import write_definition_schema as w; w()'",
}
_FINDING = re.compile(
    r"^(?P<path>[^:]+):(?P<line>\d+): unused (?P<kind>function|method|class|property) '(?P<name>\w+)'"
)


def _vulture(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vulture", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_vulture_as_make_deadcode_runs_it_finds_nothing() -> None:
    found = _vulture()
    assert found.returncode == 0, found.stdout + found.stderr


def test_every_function_method_class_and_property_is_used() -> None:
    found = _vulture(
        *SHIPPED,
        "tests",
        "bench",
        "--min-confidence",
        "60",
        "--ignore-decorators",
        ",".join(REGISTERING_DECORATORS),
        # Alembic calls a migration's upgrade and downgrade; SQLAlchemy a TypeDecorator's hooks;
        # http.server a request handler's do_<METHOD> and log_message; pytest the tests and its hooks.
        "--ignore-names",
        "upgrade,downgrade,process_bind_param,process_result_value,do_*,log_message,test_*,pytest_*",
    )
    assert found.returncode in (0, 3), found.stderr
    unused = {
        match["name"]: f"{match['path']}:{match['line']}: {match['kind']}"
        for match in map(_FINDING.match, found.stdout.splitlines())
        if match is not None and match["path"].split("/")[0] in SHIPPED
    }
    dead = {name: where for name, where in unused.items() if name not in CALLED_FROM_OUTSIDE}
    assert not dead, "unused definitions (delete them, or say who calls them in CALLED_FROM_OUTSIDE):\n" + "\n".join(
        f"{where} {name}" for name, where in sorted(dead.items())
    )
    stale = sorted(set(CALLED_FROM_OUTSIDE) - set(unused))
    assert not stale, f"CALLED_FROM_OUTSIDE lists names vulture no longer reports: {stale}"
