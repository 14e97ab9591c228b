"""The PostgreSQL database's schema, every store's tables in it (voices, lexicon, jobs), as numbered
migrations (migrations.py); applied by postgres.py's migrate_postgres."""

from __future__ import annotations

from megatts3_server.storage.migrations import Migration
from megatts3_server.tenancy import DEFAULT_TENANT

# Append only: a released migration is never changed.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "voices and their files",
        (
            # COLLATE "C": ids and timestamps order byte by byte, as in the SQLite store.
            """
            CREATE TABLE voices (
                id TEXT COLLATE "C" PRIMARY KEY,
                name TEXT NOT NULL,
                description TEXT NOT NULL DEFAULT '',
                type TEXT NOT NULL,
                engine TEXT NOT NULL,
                created_at TEXT COLLATE "C" NOT NULL,
                duration DOUBLE PRECISION NOT NULL,
                sample_rate INTEGER NOT NULL,
                source_format TEXT NOT NULL,
                content_sha256 TEXT NOT NULL,
                has_latent BOOLEAN NOT NULL,
                meta JSONB NOT NULL,
                summary TEXT NOT NULL DEFAULT '',
                status TEXT NOT NULL DEFAULT 'ready',
                progress DOUBLE PRECISION NOT NULL DEFAULT 100,
                similarity DOUBLE PRECISION,
                error TEXT NOT NULL DEFAULT '',
                attempts INTEGER NOT NULL DEFAULT 0
            )
            """,
            "CREATE INDEX voices_by_content ON voices (content_sha256, engine, created_at)",
            "CREATE INDEX voices_by_status ON voices (status)",
            """
            CREATE TABLE voice_blobs (
                voice_id TEXT COLLATE "C" NOT NULL REFERENCES voices (id) ON DELETE CASCADE,
                name TEXT COLLATE "C" NOT NULL,
                data BYTEA NOT NULL,
                PRIMARY KEY (voice_id, name)
            )
            """,
        ),
    ),
    Migration(
        2,
        "enrollment job leases",
        ("ALTER TABLE voices ADD COLUMN lease_owner TEXT, ADD COLUMN lease_expires TIMESTAMPTZ",),
    ),
    Migration(
        3,
        "long-form jobs, their segments and the segments' audio (jobs/postgres_store.py)",
        (
            """
            CREATE TABLE jobs (
                id TEXT COLLATE "C" PRIMARY KEY,
                title TEXT NOT NULL,
                format TEXT NOT NULL,
                status TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                started_at DOUBLE PRECISION,
                finished_at DOUBLE PRECISION,
                error TEXT,
                lease_owner TEXT,
                lease_expires TIMESTAMPTZ
            )
            """,
            "CREATE INDEX jobs_by_status ON jobs (status, created_at)",
            """
            CREATE TABLE job_segments (
                job_id TEXT COLLATE "C" NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
                idx INTEGER NOT NULL,
                voice_id TEXT NOT NULL,
                speaker TEXT NOT NULL,
                text TEXT NOT NULL,
                pause_ms INTEGER NOT NULL,
                parameters JSONB NOT NULL,
                status TEXT NOT NULL DEFAULT 'pending',
                segment_key TEXT COLLATE "C",
                duration DOUBLE PRECISION,
                reused BOOLEAN NOT NULL DEFAULT false,
                error TEXT,
                PRIMARY KEY (job_id, idx)
            )
            """,
            "CREATE INDEX job_segments_by_key ON job_segments (segment_key)",
            """
            CREATE TABLE job_segment_audio (
                key TEXT COLLATE "C" PRIMARY KEY,
                sample_rate INTEGER NOT NULL,
                duration DOUBLE PRECISION NOT NULL,
                sentences JSONB NOT NULL,
                pcm16 BYTEA NOT NULL,
                created_at DOUBLE PRECISION NOT NULL
            )
            """,
        ),
    ),
    Migration(
        4,
        "the global lexicon: word -> reading",
        (
            """
            CREATE TABLE lexicon (
                word TEXT COLLATE "C" PRIMARY KEY,
                reading TEXT NOT NULL,
                updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )
            """,
        ),
    ),
    Migration(
        5,
        "tenants: each voice, job and lexicon entry has its owner (what was stored before: the default tenant)",
        (
            f"ALTER TABLE voices ADD COLUMN tenant TEXT NOT NULL DEFAULT '{DEFAULT_TENANT}'",
            f"ALTER TABLE jobs ADD COLUMN tenant TEXT NOT NULL DEFAULT '{DEFAULT_TENANT}',"
            " ADD COLUMN by_admin BOOLEAN NOT NULL DEFAULT false",
            f"ALTER TABLE lexicon ADD COLUMN tenant TEXT COLLATE \"C\" NOT NULL DEFAULT '{DEFAULT_TENANT}'",
            "ALTER TABLE lexicon DROP CONSTRAINT lexicon_pkey, ADD PRIMARY KEY (tenant, word)",
        ),
    ),
)
SCHEMA_VERSIONS = [migration.version for migration in MIGRATIONS]
