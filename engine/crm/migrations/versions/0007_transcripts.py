"""Transcripts, downloaded and searchable (issue #15 point 4), and recording file sizes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

- ``recordings.file_size``: the size Zoom announces for each file (video files are never
  downloaded; their URL and size are what Rollcall keeps).
- ``transcripts``: one per TRANSCRIPT recording file, linked to the recording and the occurrence,
  with its status (``stored``, ``too_large``, ``invalid``), size and digest.
- ``transcript_cues``: the transcript's cues (speaker, start and end in milliseconds, text), and
  a full-text index over speaker and text — SQLite: an FTS5 table kept by triggers
  (``engine.crm.transcripts.SQLITE_FTS_TABLE``); PostgreSQL: a GIN index on their ``tsvector``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Kept here as written (a migration never changes with the code): engine.crm.transcripts reads the
# same names and expression.
_FTS = "transcript_cues_fts"
_PG_VECTOR = "to_tsvector('english'::regconfig, coalesce(speaker, '') || ' ' || text)"

_SQLITE_FTS = [
    f"CREATE VIRTUAL TABLE {_FTS} USING fts5(speaker, text, content='transcript_cues', content_rowid='id', "
    "tokenize='porter unicode61 remove_diacritics 2')",
    f"CREATE TRIGGER {_FTS}_insert AFTER INSERT ON transcript_cues BEGIN "
    f"INSERT INTO {_FTS}(rowid, speaker, text) VALUES (new.id, new.speaker, new.text); END",
    f"CREATE TRIGGER {_FTS}_delete AFTER DELETE ON transcript_cues BEGIN "
    f"INSERT INTO {_FTS}({_FTS}, rowid, speaker, text) VALUES ('delete', old.id, old.speaker, old.text); END",
    f"CREATE TRIGGER {_FTS}_update AFTER UPDATE ON transcript_cues BEGIN "
    f"INSERT INTO {_FTS}({_FTS}, rowid, speaker, text) VALUES ('delete', old.id, old.speaker, old.text); "
    f"INSERT INTO {_FTS}(rowid, speaker, text) VALUES (new.id, new.speaker, new.text); END",
]


def upgrade() -> None:
    op.add_column("recordings", sa.Column("file_size", sa.BigInteger, nullable=True))
    op.create_table(
        "transcripts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("recording_id", sa.Integer, nullable=False),
        sa.Column("marketing_event_id", sa.Integer, nullable=False),
        sa.Column("zoom_webinar_id", sa.String(32), nullable=False),
        sa.Column("occurrence", sa.String(100), nullable=False),
        sa.Column("occurrence_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.String(500), nullable=True),
        sa.Column("byte_size", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("cue_count", sa.Integer, nullable=False),
        sa.Column("downloaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_transcripts"),
        sa.UniqueConstraint("recording_id", name="uq_transcripts_recording_id"),
        sa.ForeignKeyConstraint(
            ["recording_id"], ["recordings.id"], name="fk_transcripts_recording_id_recordings", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["marketing_event_id"],
            ["marketing_events.id"],
            name="fk_transcripts_marketing_event_id_marketing_events",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_transcripts_marketing_event_id", "transcripts", ["marketing_event_id"])
    op.create_index("ix_transcripts_zoom_webinar_id", "transcripts", ["zoom_webinar_id"])
    op.create_table(
        "transcript_cues",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("transcript_id", sa.Integer, nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("speaker", sa.String(200), nullable=True),
        sa.Column("start_ms", sa.BigInteger, nullable=False),
        sa.Column("end_ms", sa.BigInteger, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_transcript_cues"),
        sa.UniqueConstraint("transcript_id", "sequence", name="uq_transcript_cues_transcript_id_sequence"),
        sa.ForeignKeyConstraint(
            ["transcript_id"],
            ["transcripts.id"],
            name="fk_transcript_cues_transcript_id_transcripts",
            ondelete="CASCADE",
        ),
    )
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_FTS:
            op.execute(statement)
    else:
        op.execute(f"CREATE INDEX ix_transcript_cues_search ON transcript_cues USING gin (({_PG_VECTOR}))")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS {_FTS}_{name}")
        op.execute(f"DROP TABLE IF EXISTS {_FTS}")
    op.drop_table("transcript_cues")
    op.drop_table("transcripts")
    with op.batch_alter_table("recordings") as batch:
        batch.drop_column("file_size")
