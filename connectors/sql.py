"""A SQL source: one SELECT against any database SQLAlchemy reaches, streamed into Arrow.

``url`` is a SQLAlchemy URL (``postgresql+psycopg://reader@erp-db/erp``,
``sqlite:////srv/exports/actuals.db``, ``duckdb:////srv/lake.duckdb``…) without its password;
``password`` names the secret holding it, or ``url_secret`` a secret holding the whole URL.
``query`` is run as written, with ``:watermark`` bound to the last committed run's watermark
(``initial_watermark`` before the first; None if neither, so write
``WHERE :watermark IS NULL OR updated_at > :watermark`` to read everything the first time).
``watermark`` names the result column whose highest value is the new watermark.

The rows are read ``batch_rows`` at a time (a server-side cursor where the driver has one:
``stream_results``) and each batch becomes one Arrow record batch; ``max_rows`` bounds a run.
The query runs in a transaction that is rolled back, read-only on PostgreSQL: a connector reads.
Give it a database user that may only read what it should.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connectors.base import ConnectorType, Pull, PullFailed, Watermark, column_batch, highest


class SqlConfig(BaseModel):
    """A SQL source (docs/connectors.md)."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(
        None, max_length=2048, description="a SQLAlchemy URL without its password"
    )
    url_secret: str | None = Field(
        None, max_length=255, description="instead of url: the secret holding the whole URL"
    )
    password: str | None = Field(None, max_length=255, description="the secret holding it")
    query: str = Field(min_length=1, max_length=100_000, description="a SELECT")
    watermark: str | None = Field(
        None, max_length=255, description="the result column whose highest value is kept"
    )
    initial_watermark: str | int | float | None = None
    batch_rows: int = Field(10_000, ge=1, le=1_000_000)
    max_rows: int = Field(10_000_000, ge=1, le=1_000_000_000)

    @field_validator("url")
    @classmethod
    def _url(cls, url: str | None) -> str | None:
        if url is not None:
            try:
                sa.make_url(url)
            except sa.exc.ArgumentError:
                raise ValueError("not a SQLAlchemy URL (dialect+driver://…)") from None
        return url

    @model_validator(mode="after")
    def _one_url(self) -> SqlConfig:
        if (self.url is None) == (self.url_secret is None):
            raise ValueError("give either url or url_secret")
        return self


def _engine_url(config: SqlConfig, secrets: Mapping[str, str]) -> sa.URL:
    def secret(name: str, what: str) -> str:
        if name not in secrets:
            raise PullFailed(f"the connector has no secret {name!r} ({what})")
        return secrets[name]

    try:
        if config.url_secret is not None:
            url = sa.make_url(secret(config.url_secret, "url_secret"))
        else:
            assert config.url is not None
            url = sa.make_url(config.url)
    except sa.exc.ArgumentError:
        raise PullFailed("the connector's URL is not a SQLAlchemy URL") from None
    if config.password is not None:
        url = url.set(password=secret(config.password, "password"))
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")  # the driver plancube installs
    return url


def pull(config: SqlConfig, secrets: Mapping[str, str], watermark: Watermark) -> Pull:
    url = _engine_url(config, secrets)
    since = watermark if watermark is not None else config.initial_watermark
    statement = sa.text(config.query)
    binds = {"watermark": since} if "watermark" in statement.compile().params else {}
    state: dict[str, Watermark] = {"watermark": watermark}

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
            raise PullFailed(f"cannot connect with this URL: {exc}") from None
        rows = 0
        try:
            with engine.connect() as conn:
                options: dict[str, Any] = {"stream_results": True, "yield_per": config.batch_rows}
                if conn.dialect.name == "postgresql":
                    options["postgresql_readonly"] = True
                result = conn.execution_options(**options).execute(statement, binds)
                columns = list(result.keys())
                if config.watermark is not None and config.watermark not in columns:
                    raise PullFailed(
                        f"the query has no column {config.watermark!r} (watermark); its "
                        f"columns: {columns}"
                    )
                for part in result.partitions(config.batch_rows):
                    rows += len(part)
                    if rows > config.max_rows:
                        raise PullFailed(
                            f"the query returns more than max_rows ({config.max_rows:,}) "
                            "rows; nothing was loaded"
                        )
                    values = list(zip(*part, strict=True)) if part else []
                    batch = column_batch(values, columns)
                    if config.watermark is not None:
                        state["watermark"] = highest(
                            state["watermark"], batch.column(config.watermark)
                        )
                    yield batch
                conn.rollback()  # a connector reads; whatever the query did is undone
        except sa.exc.SQLAlchemyError as exc:
            orig = getattr(exc, "orig", None)
            raise PullFailed(f"{type(orig or exc).__name__}: {_first_line(exc)}") from None
        finally:
            engine.dispose()

    return Pull(batches(), lambda: state["watermark"])


def _first_line(exc: sa.exc.SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig) if orig is not None else str(exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


SQL = ConnectorType(
    name="sql",
    config=SqlConfig,
    pull=pull,
    description="the rows of a SELECT on any SQLAlchemy URL, incremental by a watermark column",
)
