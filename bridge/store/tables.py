"""Table definitions (SQLAlchemy Core). Alembic migrations are generated from these."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _ts(name: str, nullable: bool = False) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


accounts = Table(
    "accounts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("webhook_secret", String(80), nullable=False),
    _ts("created_at"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("secret_hash", String(128), nullable=False),
    Column("label", String(200), nullable=True),
    _ts("created_at"),
    _ts("revoked_at", nullable=True),
)

conferences = Table(
    "conferences",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("alias", String(200)),
    Column("detail", Text),
    Column("type", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("play_beep", String(20), nullable=False),
    Column("record", Boolean, nullable=False),
    Column("max_participants", Integer),
    Column("timeout", Integer, nullable=False),
    Column("wait_media", JSON),
    Column("action_url", Text),
    Column("status_callback_url", Text),
    Column("data", JSON, nullable=False),
    Column("pre_actions", JSON, nullable=False),
    Column("post_actions", JSON, nullable=False),
    Column("dial_in", JSON),
    Column("access_code", String(20)),
    Column("reservation_id", String(40)),
    Column("revision", Integer, nullable=False),
    _ts("created_at"),
    _ts("updated_at"),
    _ts("started_at", nullable=True),
    _ts("ended_at", nullable=True),
    Column("end_reason", String(40)),
    Column("participant_count", Integer, nullable=False),
    Column("peak_participants", Integer, nullable=False),
    Column("recording_id", String(40)),
    # bumped by every commit that touches the conference (its participants, events...): a
    # process whose in-memory copy is older finds out at commit (services/live.py)
    Column("version", Integer, nullable=False, server_default=text("0")),
    Index("ix_conferences_account_id_id", "account_id", "id"),
    Index("ix_conferences_status", "status"),
    # An access code routes to at most one conference that has not ended.
    Index(
        "uq_conferences_live_access_code",
        "access_code",
        unique=True,
        sqlite_where=text("status != 'terminated' AND access_code IS NOT NULL"),
        postgresql_where=text("status != 'terminated' AND access_code IS NOT NULL"),
    ),
)

participants = Table(
    "participants",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("conference_id", String(40), ForeignKey("conferences.id"), nullable=False),
    Column("account_id", String(40), nullable=False),
    Column("direction", String(10), nullable=False),
    Column("status", String(10), nullable=False),
    Column("options", JSON, nullable=False),
    Column("call_options", JSON),
    Column("from_", String(200)),
    Column("to", String(200)),
    Column("name", String(200)),  # display name
    Column("call_ref", String(200)),
    Column("moderator", Boolean, nullable=False),
    Column("muted", Boolean, nullable=False),
    Column("deaf", Boolean, nullable=False),
    Column("hold", Boolean, nullable=False),
    Column("talking", Boolean, nullable=False),
    Column("dtmf_enabled", Boolean, nullable=False),
    Column("answer_timeout", Integer, nullable=False),
    Column("hold_media", JSON),
    Column("revision", Integer, nullable=False),
    _ts("created_at"),
    _ts("updated_at"),
    _ts("joined_at", nullable=True),
    _ts("left_at", nullable=True),
    Column("leave_reason", String(20)),
    Column("failure_reason", String(20)),
    Column("recent_digits", String(32), nullable=False),
    Index("ix_participants_conference_id_status", "conference_id", "status"),
)

reservations = Table(
    "reservations",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("conference_id", String(40), ForeignKey("conferences.id"), nullable=False),
    Column("conference_name", String(48), nullable=False),
    Column("max_participants", Integer, nullable=False),
    _ts("start_time"),
    Column("duration_minutes", Integer, nullable=False),
    Column("divert", String(200)),
    Column("status", String(20), nullable=False),
    Column("revision", Integer, nullable=False),
    _ts("created_at"),
    _ts("updated_at"),
    Index("ix_reservations_status_start_time", "status", "start_time"),
    Index("ix_reservations_account_id_id", "account_id", "id"),
)

recordings = Table(
    "recordings",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("conference_id", String(40), ForeignKey("conferences.id"), nullable=False, index=True),
    Column("account_id", String(40), nullable=False),
    Column("status", String(20), nullable=False),
    Column("path", Text),
    Column("format", String(10), nullable=False),
    Column("duration_seconds", Float, nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("revision", Integer, nullable=False),
    _ts("created_at"),
    _ts("updated_at"),
    _ts("ended_at", nullable=True),
)

events = Table(
    "events",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), nullable=False),
    Column("conference_id", String(40), nullable=False),
    Column("participant_id", String(40)),
    Column("sequence", Integer, nullable=False),
    Column("type", String(60), nullable=False),
    _ts("occurred_at"),
    Column("data", JSON, nullable=False),
    UniqueConstraint("conference_id", "sequence"),
    Column("position", BigInteger),  # commit order across conferences (the event stream's)
    Index("ix_events_account_id_position", "account_id", "position"),
    Index("ix_events_position", "position"),  # the tail of every process's events, its max
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("secret", String(80), nullable=False),
    Column("event_types", JSON, nullable=False),
    _ts("created_at"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("event_id", String(40), ForeignKey("events.id"), nullable=False),
    Column("account_id", String(40), nullable=False),
    Column("conference_id", String(40), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("subscription_id", String(40)),
    Column("url", Text, nullable=False),
    Column("status", String(12), nullable=False),  # pending | delivered | dead
    Column("attempts", Integer, nullable=False),
    _ts("next_attempt_at"),
    _ts("lease_until", nullable=True),
    Column("lease_holder", String(64)),  # the instance holding the lease (store/instance.py)
    Column("last_status", Integer),
    Column("last_error", Text),
    _ts("created_at"),
    _ts("updated_at"),
    _ts("delivered_at", nullable=True),
    Index("ix_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_deliveries_stream", "url", "conference_id", "sequence"),
    Index("ix_deliveries_account_id_id", "account_id", "id"),
)
