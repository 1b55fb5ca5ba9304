"""Recording files the emulator can serve: the WebVTT transcript and the chat file.

Zoom's audio transcript is WebVTT with a numbered cue per utterance and the speaker's display name
before a colon::

    WEBVTT

    1
    00:00:02.000 --> 00:00:07.480
    Alice Host: Welcome everyone to the product launch.

The text is made up (a seeded RNG), but who speaks when comes from the occurrence's join sessions:
the host and panelists throughout, a few attendees asking questions in the last third while they
are present. The output is exactly ``size`` bytes (cues are dropped from the end or the last one
padded), so a seed or scenario can ask for a 2 MB transcript and ``file_size`` tells the truth.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

#: The smallest transcript or chat file the emulator writes (one cue always fits).
MIN_FILE_BYTES = 512

_OPENERS = [
    "So",
    "Now",
    "Next",
    "Right",
    "Okay",
    "Also",
    "And",
    "Well",
    "Then",
    "Finally",
    "First",
    "Actually",
]
_WORDS = [
    "we",
    "will",
    "look",
    "at",
    "how",
    "the",
    "team",
    "uses",
    "data",
    "to",
    "plan",
    "each",
    "quarter",
    "customers",
    "asked",
    "about",
    "pricing",
    "roadmap",
    "integration",
    "dashboard",
    "reports",
    "export",
    "security",
    "onboarding",
    "workflow",
    "automation",
    "webinar",
    "recording",
    "questions",
    "slides",
    "release",
    "feature",
    "support",
    "migration",
    "timeline",
    "budget",
    "partners",
    "results",
    "demo",
    "metrics",
    "growth",
    "feedback",
    "settings",
    "accounts",
    "teams",
    "calendar",
    "contacts",
    "sync",
]
_QUESTIONS = [
    "Can you say more about",
    "How does this work with",
    "Is there a plan for",
    "What happens to",
    "Could you share the slides on",
    "When will we see",
]


@dataclass(frozen=True)
class Speaker:
    name: str
    role: str
    #: When this speaker is present: seconds from the start of the occurrence.
    windows: tuple[tuple[float, float], ...]

    def present(self, second: float) -> bool:
        return any(join <= second < leave for join, leave in self.windows)


def clean_name(name: str) -> str:
    """A display name that cannot break a cue (no newline, no ``-->``)."""
    return " ".join(name.replace("-->", "->").split()) or "Participant"


def vtt_timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def render_transcript(*, topic: str, duration_seconds: float, speakers: list[Speaker], size: int, seed: str) -> bytes:
    """The WebVTT transcript of one occurrence, exactly ``max(size, MIN_FILE_BYTES)`` bytes."""
    size = max(size, MIN_FILE_BYTES)
    rng = random.Random(f"transcript:{seed}")
    leads = [s for s in speakers if s.role in ("host", "panelist")] or [Speaker("Host", "host", ())]
    askers = [s for s in speakers if s.role == "attendee"]
    topic_words = [w for w in "".join(c if c.isascii() and c.isalnum() else " " for c in topic).lower().split()]
    header = "WEBVTT\n\n"
    average = 40 + sum(len(s.name.encode()) for s in leads) // len(leads) + 80
    count = max(1, (size - len(header)) // average)
    slot = max(duration_seconds, 1.0) / count
    cues = []
    for index in range(count):
        begin = index * slot
        speaker = _speaker_at(begin / max(duration_seconds, 1.0), begin, index, leads, askers)
        text = _utterance(rng, topic_words, question=speaker.role == "attendee")
        end = begin + slot * 0.95
        cues.append(f"{index + 1}\n{vtt_timestamp(begin)} --> {vtt_timestamp(end)}\n{speaker.name}: {text}\n\n")
    return fit_exactly(header, cues, size, rng)


def render_chat(*, duration_seconds: float, speakers: list[Speaker], size: int, seed: str) -> bytes:
    """Zoom's chat file (``CHAT``/``TXT``): ``HH:MM:SS From <name> : <message>`` lines."""
    size = max(size, MIN_FILE_BYTES)
    rng = random.Random(f"chat:{seed}")
    people = speakers or [Speaker("Host", "host", ())]
    lines = []
    count = max(1, size // 60)
    for index in range(count):
        second = index * max(duration_seconds, 1.0) / count
        stamp = vtt_timestamp(second)[:8]
        lines.append(f"{stamp} From {people[index % len(people)].name} : {_utterance(rng, [], question=False)}\n")
    return fit_exactly("", lines, size, rng)


def _speaker_at(share: float, second: float, index: int, leads: list[Speaker], askers: list[Speaker]) -> Speaker:
    """Leads talk (in turns of four cues); in the last third, attendees present ask questions."""
    if share >= 2 / 3 and index % 2 == 0:
        present = [s for s in askers if s.present(second)]
        if present:
            return present[(index // 2) % len(present)]
    present_leads = [s for s in leads if not s.windows or s.present(second)] or leads
    return present_leads[(index // 4) % len(present_leads)]


def _utterance(rng: random.Random, topic_words: list[str], *, question: bool) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(6, 14))]
    if topic_words and rng.random() < 0.3:
        words.insert(rng.randrange(len(words)), rng.choice(topic_words))
    if question:
        return f"{rng.choice(_QUESTIONS)} {' '.join(words)}?"
    return f"{rng.choice(_OPENERS)} {' '.join(words)}."


def fit_exactly(header: str, chunks: list[str], size: int, rng: random.Random) -> bytes:
    """``header`` + as many ``chunks`` as fit in ``size`` bytes, the last one padded to exactly
    ``size`` (more words before its trailing newlines). Chunks end with ``\\n``."""
    encoded = [chunk.encode() for chunk in chunks]
    total = len(header.encode()) + sum(len(c) for c in encoded)
    while len(encoded) > 1 and total > size:
        total -= len(encoded.pop())
    last = encoded.pop().decode()
    body = last.rstrip("\n")
    tail = last[len(body) :]
    missing = size - total
    padding = ""
    while len(padding) < missing:
        padding += " " + rng.choice(_WORDS)
    padding = padding[:missing] if missing > 0 else ""
    if padding.endswith(" "):
        padding = padding[:-1] + "."
    document = header.encode() + b"".join(encoded) + (body + padding + tail).encode()
    return document
