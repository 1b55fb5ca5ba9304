"""What the emulator has planned to happen, in emulator time: a heap of jobs run in order.

Jobs are data (a kind and JSON arguments), not closures, so the schedule persists in the state
file. Whatever the clock does — real time, ×60, a jump of two hours — due jobs run one by one in
``(at, seq)`` order, and a job scheduled by another for the same moment runs after it.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from typing import Any


@dataclass(order=True)
class Job:
    at: float
    seq: int
    kind: str = field(compare=False)
    args: dict[str, Any] = field(compare=False, default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "seq": self.seq, "kind": self.kind, "args": self.args}


class Scheduler:
    def __init__(self) -> None:
        self._heap: list[Job] = []
        self._seq = itertools.count(1)

    def add(self, at: float, kind: str, **args: Any) -> Job:
        job = Job(at, next(self._seq), kind, args)
        heapq.heappush(self._heap, job)
        return job

    def pop_due(self, now: float) -> Job | None:
        if self._heap and self._heap[0].at <= now:
            return heapq.heappop(self._heap)
        return None

    def next_at(self) -> float | None:
        return self._heap[0].at if self._heap else None

    def pending(self) -> list[Job]:
        return sorted(self._heap)

    def to_json(self) -> list[dict[str, Any]]:
        return [job.to_json() for job in self.pending()]

    def restore(self, jobs: list[dict[str, Any]]) -> None:
        self._heap = [Job(float(j["at"]), int(j["seq"]), str(j["kind"]), dict(j["args"])) for j in jobs]
        heapq.heapify(self._heap)
        self._seq = itertools.count(max((job.seq for job in self._heap), default=0) + 1)
