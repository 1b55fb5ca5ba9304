"""The README's walk-through works as printed (issue #15, acceptance 4; #15.5).

Every command of the ``sh`` blocks under "Walk-through: one contact, one webinar, start to finish"
runs, in order and in one bash session (its variables carry over), in a folder where ``rollcall
up`` runs on free ports — exactly as a reader's second terminal would. Each command must exit 0;
the line ``# → TEXT`` under a command is what it must print (``…`` stands for anything), ``# ⟳
TEXT`` the same, printed once the command is run again enough times (Zoom's webinar happens in
real time).

The emulator runs at speed ×1, as under ``make up``: the demo's live webinar starts 4 minutes after
``up`` and lasts 5, the workflow thanks its attendee one minute after the end and the transcript
comes a minute later, so the walk-through takes about twelve minutes. A faster Zoom clock would need
wall-clock webhook signing and would not shorten the workflow's own (wall-clock) timer; instead it
runs in a thread of its own, started as soon as possible (``tests/support/parallel.py``), while the
rest of the suite runs, and its test — ordered last — waits for it and reports what it found.
"""

from __future__ import annotations

import queue
import re
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.rollcall import ROLLCALL, up_env, wait_for_http

REPO_ROOT = Path(__file__).resolve().parents[2]
SECTION = "## Walk-through: one contact, one webinar, start to finish"
#: How long a ``# ⟳`` command may take to print what it should (the webinar ends 9 minutes after
#: ``up``, its transcript comes 2 minutes later).
REPEAT_WITHIN_SECONDS = 15 * 60
REPEAT_EVERY_SECONDS = 5
COMMAND_TIMEOUT_SECONDS = 120

#: The whole walk-through, at most (the webinar ends 9 minutes after ``up``; the last step ~11).
WALKTHROUGH_SECONDS = 22 * 60
WALKTHROUGH_KEY = pytest.StashKey["Walkthrough"]()

pytestmark = pytest.mark.timeout(25 * 60)


@dataclass
class Step:
    command: str
    expect: str | None = None
    repeat: bool = False

    def matches(self, output: str) -> bool:
        assert self.expect is not None
        pattern = ".*?".join(re.escape(part) for part in self.expect.split("…"))
        return re.search(pattern, output, re.DOTALL) is not None


def walkthrough(readme: str) -> list[Step]:
    """The walk-through's commands (a line ending in ``\\`` goes on), each with what it prints."""
    start = readme.index(SECTION)
    end = readme.find("\n## ", start + len(SECTION))
    section = readme[start : end if end > 0 else None]
    steps: list[Step] = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.DOTALL):
        pending = ""
        for line in block.splitlines():
            marker = line[:4]
            if marker in ("# → ", "# ⟳ "):
                steps[-1].expect, steps[-1].repeat = line[4:].strip(), marker == "# ⟳ "
            elif line.startswith("#") or not line.strip():
                continue
            elif line.endswith("\\"):
                pending += line + "\n"
            else:
                steps.append(Step(pending + line))
                pending = ""
    return steps


class Shell:
    """One bash session fed command by command; each command's output (stdout and stderr) and
    exit status are read up to a marker line."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self._count = 0

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)

    def run(self, command: str) -> tuple[int, str]:
        assert self.process.stdin is not None
        self._count += 1
        marker = f"__walkthrough_done_{self._count}__"
        self.process.stdin.write(f"{command}\necho; echo {marker} $?\n")
        self.process.stdin.flush()
        output: list[str] = []
        deadline = time.monotonic() + COMMAND_TIMEOUT_SECONDS
        while True:
            try:
                line = self._lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"{command!r} did not finish within {COMMAND_TIMEOUT_SECONDS} s") from None
            if line.startswith(marker):
                return int(line.split()[1]), "".join(output)
            output.append(line)

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


def _folder(tmp_path: Path) -> Path:
    """A reader's checkout as far as the walk-through sees it: ``.venv`` and ``definitions``."""
    (tmp_path / ".venv").symlink_to(REPO_ROOT / ".venv")
    (tmp_path / "definitions").symlink_to(REPO_ROOT / "definitions")
    return tmp_path


class Walkthrough:
    """The walk-through, run in a thread of its own from the start of the session (see
    ``tests/support/parallel.py``): it spends ten minutes waiting for Zoom's clock, which the rest
    of the suite uses; the test at the end of the session waits for it and reports its result."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.failure: BaseException | None = None
        self.up: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._run, name="readme-walkthrough", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def result(self, timeout: float) -> None:
        self._thread.join(timeout)
        if self._thread.is_alive():
            self.stop()
            raise AssertionError(f"the walk-through did not finish within {timeout:.0f} s (folder {self.folder})")
        if self.failure is not None:
            raise self.failure  # the folder (up.log, .rollcall/) stays for a look
        shutil.rmtree(self.folder, ignore_errors=True)

    def stop(self) -> None:
        if self.up is not None and self.up.poll() is None:
            self.up.send_signal(signal.SIGINT)
            try:
                self.up.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.up.kill()

    def _run(self) -> None:
        try:
            run_walkthrough(self.folder, self)
        except BaseException as failure:  # reported by the test
            self.failure = failure


def run_walkthrough(tmp_path: Path, holder: Walkthrough | None = None) -> None:
    """#15.5 and acceptance 4: enroll Jane through the API → registered to the demo webinar → it
    starts and ends in the emulator → Zoom's webhooks reach Rollcall → the sync writes attendance,
    the recording and the transcript → the thanks webhook reaches the demo inbox; every command of
    the README as printed, every printed result as the README says."""
    steps = walkthrough((REPO_ROOT / "README.md").read_text(encoding="utf-8"))
    quiet = [s.command for s in steps if not s.expect and not re.match(r"^(\. \S+|[A-Z_]+=.*)$", s.command, re.S)]
    assert len(steps) >= 15 and quiet == [], quiet  # every command but assignments says what it prints
    folder = _folder(tmp_path)
    env = up_env()
    up = subprocess.Popen(
        [*ROLLCALL, "up"],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "up.log", "w"),  # noqa: SIM115 (closed with the process)
    )
    if holder is not None:
        holder.up = up
    shell = None
    try:
        wait_for_http(f"http://127.0.0.1:{env['ROLLCALL_API_PORT']}/healthz", timeout=120)
        deadline = time.monotonic() + 60
        while not (folder / ".rollcall" / "stack.env").exists():
            assert time.monotonic() < deadline and up.poll() is None, (tmp_path / "up.log").read_text()
            time.sleep(0.2)
        shell = Shell(folder, env)
        for number, step in enumerate(steps, 1):
            _check(shell, number, step, tmp_path)
    finally:
        if shell is not None:
            shell.close()
        up.send_signal(signal.SIGINT)
        up.wait(timeout=60)
    assert up.returncode == 0, (tmp_path / "up.log").read_text()[-3000:]


def test_the_readme_walkthrough_runs_as_printed(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """The walk-through, every command as printed (see ``run_walkthrough``). It started in the
    background when collection ended; this test, ordered last, waits for it and reports it."""
    running: Walkthrough | None = request.config.stash.get(WALKTHROUGH_KEY, None)
    if running is None:  # e.g. run from a plugin-less session: run it here
        run_walkthrough(tmp_path)
        return
    running.result(timeout=WALKTHROUGH_SECONDS)


def _check(shell: Shell, number: int, step: Step, tmp_path: Path) -> None:
    deadline = time.monotonic() + (REPEAT_WITHIN_SECONDS if step.repeat else 0)
    while True:
        status, output = shell.run(step.command)
        assert status == 0, f"step {number}: {step.command!r} exited {status}:\n{output}"
        if step.expect is None or step.matches(output):
            return
        if time.monotonic() >= deadline:
            up_log = (tmp_path / "up.log").read_text()[-4000:]
            raise AssertionError(
                f"step {number}: {step.command!r} printed\n{output[-3000:]}\nnot {step.expect!r}\n\nup:\n{up_log}"
            )
        time.sleep(REPEAT_EVERY_SECONDS)
