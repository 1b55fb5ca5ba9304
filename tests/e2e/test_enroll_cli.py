"""``rollcall enroll``, ``rollcall workflows`` and ``rollcall schema`` as a user runs them: real CLI
processes against ``rollcall api`` + ``rollcall worker`` processes on the session's dev server."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.databases import on_store
from support.rollcall import RunningStack

from engine.cli.stack_file import StackInfo, record_stack
from engine.dsl.schema import SCHEMA_PATH

# A guard against a hang, not a speed check: each CLI call is a Python start-up (seconds on a loaded machine).
pytestmark = pytest.mark.timeout(240)

DEFINITION = """\
key: {key}
name: CLI enrollment test
enrollment:
  triggers: [{{type: manual}}, {{type: api}}]
steps:
  - id: tag
    type: set_property
    property: cli_tagged
    value: "yes-{{{{ contact.properties.company }}}}"
"""

#: Keeps the run open (so a second request finds it running); the test unenrolls it at the end.
DELAYED = """\
key: {key}
name: CLI enrollment test with a delay
enrollment:
  triggers: [{{type: manual}}]
steps:
  - id: wait
    type: delay
    for: 1h
  - id: tag
    type: set_property
    property: cli_tagged
    value: "late"
"""

INVALID_DEFINITION = """\
key: {key}
name: Broken
enrollment:
  triggers: [{{type: manual}}]
steps:
  - id: wait
    type: delay
    for: 0s
  - id: wait
    type: nope
"""


@dataclass
class Cli:
    """Runs ``rollcall`` in a scratch directory with the stack's URL and key in the environment."""

    cwd: Path
    env: dict[str, str]

    def __call__(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "engine.cli", *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def _cli(tmp_path: Path, **extra: str) -> Cli:
    work = tmp_path / "cli"
    work.mkdir(exist_ok=True)
    env = {name: value for name, value in os.environ.items() if not name.startswith("ROLLCALL_")}
    env.update({"COLUMNS": "200", "ROLLCALL_LOG_FORMAT": "json", **extra})
    return Cli(work, env)


@pytest.fixture
def cli(stack: RunningStack, tmp_path: Path) -> Cli:
    return _cli(tmp_path, ROLLCALL_API_URL=stack.api_url, ROLLCALL_API_KEY=stack.api_key)


def _key(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def _push(cli: Cli, tmp_path: Path, key: str, template: str = DEFINITION) -> None:
    definition = tmp_path / f"{key}.yaml"
    definition.write_text(template.format(key=key))
    pushed = cli("workflows", "push", str(definition))
    assert pushed.returncode == 0, pushed.stderr
    assert f"workflow {key}: version 1 saved" in pushed.stdout


def _contacts_csv(path: Path) -> None:
    """50 data rows on lines 2–52 around a blank line 11: 47 new people, a duplicate of line 3 on
    line 21 (both go in the first request, so they are admitted concurrently), an invalid email on
    line 31 and a row with neither email nor contact_id on line 41."""
    lines = ["Email,First_Name,last_name,contact_id,company"]
    person = 0
    for line in range(2, 52):
        if line == 20:
            lines.append("person001@example.com,Dup,Licate,,Acme")
        elif line == 30:
            lines.append("not-an-email,Bad,Email,,Acme")
        elif line == 40:
            lines.append(",Nobody,Known,, Acme ")
        else:
            lines.append(f"person{person:03}@example.com,First{person},Last{person},,Co{person % 3}")
            person += 1
    path.write_text("\n".join([*lines[:10], "", *lines[10:]]) + "\n")  # the blank line 11 moves later rows down
    assert person == 47


# long: one CSV through the CLI, then every row's report and run checked in the order a reader follows them
@on_store("postgresql")
def test_enroll_csv_reports_every_row_and_starts_each_enrollment(stack: RunningStack, cli: Cli, tmp_path: Path) -> None:
    key = _key("cli-csv")
    _push(cli, tmp_path, key, DELAYED)
    again = cli("workflows", "push", str(tmp_path / f"{key}.yaml"))
    assert again.returncode == 0 and "unchanged, still version 1" in again.stdout

    contacts = tmp_path / "contacts.csv"
    _contacts_csv(contacts)
    report = tmp_path / "report.csv"
    # 20 rows per request: three requests, two in flight at once.
    result = cli("enroll", key, "--csv", str(contacts), "--report", str(report), "--chunk-size", "20")

    # One row failed (no email, no id): exit 1; the refusal alone would have been exit 0.
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    out = result.stdout
    assert "enrolled 47 · already enrolled 1 · refused 1 · errors 1" in out
    # Counts per refusal and error code.
    # #13.13: a refusal carries its reason, as a single enrollment's error does.
    assert "│ refused │ CONTACT_EXCLUDED (invalid_email) │    1 │" in out
    assert "│ errors  │ INVALID_ROW                      │    1 │" in out
    # The first refusals and errors are listed with their CSV line numbers (after the blank line 11).
    assert "line 31" in out and "not-an-email" in out
    assert "line 41" in out and "neither email nor contact_id" in out

    with report.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 50
    assert [int(r["line"]) for r in rows] == [n for n in range(2, 53) if n != 11]
    by_line = {int(r["line"]): r for r in rows}
    statuses = [r["status"] for r in rows]
    assert statuses.count("enrolled") == 47
    original, duplicate = by_line[3], by_line[21]
    assert original["email"] == duplicate["email"] == "person001@example.com"
    assert {original["status"], duplicate["status"]} == {"enrolled", "already_enrolled"}
    assert original["enrollment_id"] == duplicate["enrollment_id"] != ""
    assert original["workflow_id"] == f"enroll:{key}:{original['contact_id']}"
    assert (by_line[31]["status"], by_line[31]["code"], by_line[31]["reason"]) == (
        "refused",
        "CONTACT_EXCLUDED",
        "invalid_email",
    )
    assert (by_line[41]["status"], by_line[41]["code"], by_line[41]["enrollment_id"]) == ("error", "INVALID_ROW", "")

    enrolled = sorted({int(r["contact_id"]) for r in rows if r["status"] in ("enrolled", "already_enrolled")})
    assert len(enrolled) == 47
    enrollment_of = {int(r["contact_id"]): int(r["enrollment_id"]) for r in rows if r["enrollment_id"]}
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    with httpx.Client(base_url=stack.api_url, headers=headers, timeout=60) as api:
        # CSV columns became the contact's fields and properties (cells trimmed).
        contact = api.get(f"/v1/contacts/{by_line[2]['contact_id']}").json()
        assert (contact["first_name"], contact["last_name"], contact["properties"]) == (
            "First0",
            "Last0",
            {"company": "Co0"},
        )

        def view_then_unenroll(contact_id: int) -> tuple[int, dict[str, Any], dict[str, Any]]:
            detail = api.get(f"/v1/workflows/{key}/enrollments/{contact_id}").json()
            ended = api.delete(f"/v1/workflows/{key}/enrollments/{contact_id}")
            assert ended.status_code == 200, ended.text
            return contact_id, detail, ended.json()

        # Every enrollment is running (in its delay) as the report says; unenrolling ends each run.
        with ThreadPoolExecutor(max_workers=8) as pool:
            seen = list(pool.map(view_then_unenroll, enrolled))
    for contact_id, detail, ended in seen:
        assert (detail["enrollment_id"], detail["status"], detail["trigger"]) == (
            enrollment_of[contact_id],
            "active",
            "manual",
        )
        assert detail["workflow_id"] == f"enroll:{key}:{contact_id}"
        assert (ended["status"], ended["ended_reason"]) == ("cancelled", "unenrolled"), ended


@on_store("sqlite")
def test_enroll_one_contact_and_the_workflows_commands(stack: RunningStack, cli: Cli, tmp_path: Path) -> None:
    key = _key("cli-one")
    _push(cli, tmp_path, key, DELAYED)

    listed = cli("workflows", "list")
    assert listed.returncode == 0 and key in listed.stdout
    shown = cli("workflows", "show", key, "--yaml")
    assert shown.returncode == 0 and shown.stdout == DELAYED.format(key=key)

    first = cli("enroll", key, "--email", "Solo@Example.com", "--first-name", "Solo", "--property", "company=One")
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.startswith("enrolled Solo@Example.com (contact ")
    second = cli("enroll", key, "--email", "solo@example.com")
    assert second.returncode == 0 and second.stdout.startswith("already enrolled:")

    # Validation errors print like `rollcall validate` with the pushed file's name, exit 1.
    broken = tmp_path / "broken.yaml"
    broken.write_text(INVALID_DEFINITION.format(key=key))
    pushed = cli("workflows", "push", str(broken))
    assert pushed.returncode == 1
    assert f"{broken}:8:5: error[ZERO_DELAY] $.steps[0].for:" in pushed.stdout
    validated = cli("validate", str(broken))
    assert validated.returncode == 1 and pushed.stdout == validated.stdout
    assert "3 error(s)" in pushed.stderr

    # A disabled workflow is refused before anything is sent; enabling it again lets contacts in.
    assert cli("workflows", "disable", key).returncode == 0
    disabled = cli("enroll", key, "--contact-id", "1")
    assert disabled.returncode == 2 and "is disabled" in disabled.stderr and "Traceback" not in disabled.stderr
    assert cli("workflows", "enable", key).returncode == 0

    # The enrollment the CLI started is the API's, waiting in its delay; unenrolling ends the run.
    contact_id = int(first.stdout.split("(contact ")[1].split(")")[0])
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    with httpx.Client(base_url=stack.api_url, headers=headers, timeout=30) as api:
        detail = api.get(f"/v1/workflows/{key}/enrollments/{contact_id}").json()
        assert (detail["status"], detail["trigger"], detail["current_step"]) == ("active", "manual", "wait")
        assert api.get(f"/v1/contacts/{contact_id}").json()["properties"] == {"company": "One"}
        ended = api.delete(f"/v1/workflows/{key}/enrollments/{contact_id}")
        assert ended.status_code == 200 and ended.json()["ended_reason"] == "unenrolled", ended.text


@on_store("sqlite")
def test_usage_and_connection_problems_are_one_line_and_exit_2(stack: RunningStack, cli: Cli, tmp_path: Path) -> None:
    key = _key("cli-usage")
    _push(cli, tmp_path, key)
    bad_columns = tmp_path / "bad-columns.csv"
    bad_columns.write_text("email,Company Name\nx@example.com,Acme\n")
    for args, expected in [
        (("enroll", "no-such-workflow", "--email", "x@example.com"), "no workflow 'no-such-workflow'"),
        (("enroll", key, "--email", "x@example.com", "--api-key", "wrong"), "the API refused the key"),
        (
            ("enroll", key, "--email", "x@example.com", "--api-url", "http://127.0.0.1:9"),
            "cannot reach the Rollcall API",
        ),
        (("enroll", key), "give --csv FILE"),
        (("enroll", key, "--csv", str(tmp_path / "missing.csv")), "no such file"),
        (("enroll", key, "--csv", str(bad_columns)), "'Company Name' cannot be contact properties"),
        (("enroll", key, "--email", "x@example.com", "--trigger", "event"), "--trigger must be one of"),
    ]:
        failed = cli(*args)
        assert failed.returncode == 2, (args, failed.stdout, failed.stderr)
        assert expected in failed.stderr and "Traceback" not in failed.stderr, (args, failed.stderr)
        assert len(failed.stderr.strip().splitlines()) == 1, failed.stderr


def test_schema_prints_the_shipped_schema(tmp_path: Path) -> None:
    cli = _cli(tmp_path)
    printed = cli("schema")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == SCHEMA_PATH.read_text(encoding="utf-8")
    assert json.loads(printed.stdout)["$schema"] == "https://json-schema.org/draft/2020-12/schema"

    target = tmp_path / "definition.schema.json"
    written = cli("schema", "--output", str(target))
    assert written.returncode == 0 and written.stdout == ""
    assert target.read_bytes() == SCHEMA_PATH.read_bytes()


def test_csv_rows_keep_their_line_numbers_and_local_problems(tmp_path: Path) -> None:
    """What the CLI makes of a CSV before sending anything (no stack needed)."""
    from engine.cli.enroll_rows import CsvProblem, read_contacts_csv

    path = tmp_path / "contacts.csv"
    path.write_bytes(
        "\ufeffEMAIL, First_Name ,contact_id,note\n"  # Excel's BOM, any case, spaces around names
        "a@example.com,Ann,,\n"  # line 2: blank cells are ignored
        'b@example.com,"Bob\nOn Two Lines",,"x"\n'  # lines 3-4: a quoted cell spans two lines
        ",,,\n"  # line 5: nothing at all, skipped
        "c@example.com,Cy,42,y\n"  # line 6: the id decides who is enrolled
        ",Dee,4x,\n"  # line 7: not a number
        f"d@example.com,{'n' * 201},,\n"  # line 8: longer than the API takes
        "e@example.com,Eve,,z,extra\n".encode()  # line 9: more cells than columns
    )
    rows = read_contacts_csv(path)
    assert [row.line for row in rows] == [2, 3, 6, 7, 8, 9]
    assert rows[0].contact == {"email": "a@example.com", "first_name": "Ann"}
    assert rows[1].contact == {"email": "b@example.com", "first_name": "Bob\nOn Two Lines", "properties": {"note": "x"}}
    assert rows[2].contact == {"contact_id": 42, "first_name": "Cy", "properties": {"note": "y"}}
    assert rows[2].email == "c@example.com"  # kept for the report
    assert rows[3].problem == "contact_id '4x' is not a whole number"
    assert rows[4].problem is not None and "first_name" in rows[4].problem
    assert rows[5].problem == "the row has 5 cells but the header names 4 columns"

    for header, message in [
        ("first_name,last_name\n", "needs an email or a contact_id column"),
        ("email,Email\n", "named twice: email"),
        ("email,,x\n", "column 2 has no name"),
        ("email,zoom_webinar_attendance_count\n", "are rollups"),
        ("", "the file is empty"),
    ]:
        path.write_text(header)
        with pytest.raises(CsvProblem, match=message):
            read_contacts_csv(path)


@on_store("postgresql")
def test_the_operators_view_in_a_terminal_finds_the_stack_and_keeps_keys_whole(
    stack: RunningStack, tmp_path: Path
) -> None:
    """#14.6: with no --api-url/ROLLCALL_API_URL the CLI uses the stack recorded in
    .rollcall/stack.json (ignored once its `up` has gone); tables at 80 and 120 columns keep long
    keys whole. #14.2: `workflows show` prints the stats with a bar per step, `enrollments` lists
    them. #14.3: `rollcall ui` prints the Web UI's list URL with the query URL-encoded."""
    cli = _cli(tmp_path, ROLLCALL_API_KEY=stack.api_key, ROLLCALL_API_PORT="9")
    ui = "http://127.0.0.1:8299"
    record_stack(
        StackInfo(stack.api_url, "127.0.0.1:7233", "default", temporal_ui_url=ui, pid=os.getpid()),
        cli.cwd / ".rollcall",
    )
    assert oct((cli.cwd / ".rollcall" / "stack.json").stat().st_mode & 0o777) == "0o600"
    key = _key("a-long-workflow-key-that-a-narrow-terminal-must-never-cut")
    _push(cli, tmp_path, key, DELAYED)
    for person in ("ada", "bob"):
        enrolled = cli("enroll", key, "--email", f"{person}@narrow.example")
        assert enrolled.returncode == 0, enrolled.stderr

    for columns in ("80", "120"):
        cli.env["COLUMNS"] = columns
        listed = cli("workflows", "list")
        assert listed.returncode == 0, listed.stderr
        assert any(key in line for line in listed.stdout.splitlines()), listed.stdout
        shown = cli("workflows", "show", key)
        assert shown.returncode == 0, shown.stderr
        rows = {line.split()[1]: line for line in shown.stdout.splitlines() if line.startswith("│ wait ")}
        assert "█" in rows["wait"] and rows["wait"].split("│")[7].strip() == "2", shown.stdout  # waiting now
        active = cli("enrollments", key, "--status", "active")
        assert active.returncode == 0, active.stderr
        assert "2 enrollment(s)" in active.stdout and "@" not in active.stdout
        for output in (listed.stdout, shown.stdout, active.stdout):
            table_lines = [line for line in output.splitlines() if line[:1] in "┏┃┡│└"]
            assert max(len(line) for line in table_lines) <= int(columns), output

    linked = cli("ui", key, "--failed")
    assert linked.returncode == 0, linked.stderr
    query, url = linked.stdout.strip().splitlines()
    assert query == f'RollcallWorkflowKey="{key}" AND ExecutionStatus="Failed"'
    assert url == (
        f"{ui}/namespaces/default/workflows?query=RollcallWorkflowKey%3D%22{key}%22%20AND%20"
        "ExecutionStatus%3D%22Failed%22"
    )
    saved = cli("ui")
    assert saved.returncode == 0 and 'RollcallKind IN ("enrollment", "registration", "sync")' in saved.stdout

    # A stack file whose `up` is gone is ignored: the CLI falls back to ROLLCALL_API_PORT.
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    record_stack(StackInfo(stack.api_url, "x", "default", pid=int(gone.stdout)), cli.cwd / ".rollcall")
    stale = cli("workflows", "list")
    assert stale.returncode == 2 and "http://127.0.0.1:9" in stale.stderr, stale.stderr

    headers = {"Authorization": f"Bearer {stack.api_key}"}
    with httpx.Client(base_url=stack.api_url, headers=headers, timeout=30) as api:
        for item in api.get(f"/v1/workflows/{key}/enrollments").json()["enrollments"]:
            assert api.delete(f"/v1/workflows/{key}/enrollments/{item['contact_id']}").status_code == 200
