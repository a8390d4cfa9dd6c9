"""The connector tables (``server.services.connectors``), declared with sqlmodel.

``connectors`` holds each model's configured connectors: the type, its config and secrets
(JSON text; a stored secret only as Fernet ciphertext, ``server.connector_secrets``), the cube
and ``LoadSpec`` the rows load through, a cron schedule, and the watermark the last committed
run reached (JSON, so a number stays a number). ``running`` is the claim of the run going on:
set by one conditional update, so two starts — a click and the scheduler, or two server
processes — never run one connector twice at once. ``next_run_at`` is the scheduler's next
firing (``server.scheduler``).

``connector_runs`` is the history: one row per run, its state, what it read and wrote, the
watermark before and after, and the error (secrets redacted) when it failed.

Created by revision 0009 (``server/storage/migrations``).
"""

from __future__ import annotations

from sqlmodel import Field, SQLModel

from server.storage.metadata import new_id
from server.storage.sql import now


class ConnectorRow(SQLModel, table=True):
    __tablename__ = "connectors"

    model: str = Field(primary_key=True)
    name: str = Field(primary_key=True)
    type: str
    config: str  # JSON
    secrets: str = "{}"  # JSON: name -> {"env": NAME} | {"fernet": ciphertext}
    cube: str
    load_spec: str  # JSON: a LoadSpec
    schedule: str | None = None  # cron, UTC
    enabled: bool = True
    watermark: str | None = None  # JSON
    description: str = ""
    running: str | None = None  # the id of the run going on
    claimed_at: str | None = None
    next_run_at: str | None = None
    created_at: str = Field(default_factory=now)
    updated_at: str = Field(default_factory=now)
    updated_by: str = ""  # a user's name


class ConnectorRun(SQLModel, table=True):
    __tablename__ = "connector_runs"

    id: str = Field(default_factory=new_id, primary_key=True)
    model: str = Field(index=True)
    connector: str
    cause: str  # api | schedule
    dry_run: bool = False  # pulled and validated only: nothing written
    author: str  # who the run writes as
    status: str  # running | succeeded | failed
    phase: str = ""  # pulling | validating | committing | done
    started_at: str = Field(default_factory=now)
    ended_at: str | None = None
    rows: int = 0
    cells: int = 0
    commit_id: int | None = None
    watermark_before: str | None = None  # JSON
    watermark_after: str | None = None  # JSON
    error: str | None = None
    report: str | None = None  # JSON: the import's report, when it got that far
