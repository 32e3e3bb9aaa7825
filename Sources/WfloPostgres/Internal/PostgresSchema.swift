/// The PostgreSQL journal's schema: numbered migrations, applied in order on first use, each
/// recorded in `wflo_migrations`. Shipped migrations are never edited: a change is a new one.
///
/// The encoding is the SQLite journal's: money as exact decimal TEXT (``Money/description``),
/// summed with ``Money`` in Swift, never by the database; JSON as text written by
/// `JSONValue.encoded()`; dates as DOUBLE PRECISION seconds since 1970 (what the store passes in
/// `at:`; times the database decides use `clock_timestamp()`). Each run row carries its ledger
/// (`settled_usd`, `reserved_usd`) and the sequence of its last event (`last_event`): every
/// write to a run locks its row first, so a run's events are numbered 1, 2, 3… with no gap.
/// `ord` columns keep insertion order (SQLite's rowid) for ties in listings.
enum PostgresSchema {
    struct Migration {
        let version: Int
        let name: String
        let sql: String
    }

    static let migrations: [Migration] = [
        Migration(version: 1, name: "v1_journal", sql: """
            CREATE TABLE runs (
                id TEXT PRIMARY KEY,
                ord BIGINT GENERATED ALWAYS AS IDENTITY,
                workflow_name TEXT NOT NULL,
                workflow_path TEXT NOT NULL,
                workflow_source TEXT NOT NULL,
                inputs TEXT NOT NULL,
                budget_usd TEXT,
                settled_usd TEXT NOT NULL DEFAULT '0',
                reserved_usd TEXT NOT NULL DEFAULT '0',
                stop_reason TEXT,
                status TEXT NOT NULL,
                outputs TEXT,
                error TEXT,
                created_at DOUBLE PRECISION NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL,
                last_event BIGINT NOT NULL DEFAULT 0,
                owner TEXT,
                owner_token TEXT,
                heartbeat_at DOUBLE PRECISION,
                cancel_requested_at DOUBLE PRECISION,
                cancel_by TEXT,
                cancel_reason TEXT
            );
            CREATE INDEX runs_created ON runs (created_at, ord);
            CREATE TABLE steps (
                run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
                step_id TEXT NOT NULL,
                type TEXT NOT NULL,
                status TEXT NOT NULL,
                output TEXT,
                error TEXT,
                model TEXT,
                started_at DOUBLE PRECISION,
                finished_at DOUBLE PRECISION,
                PRIMARY KEY (run_id, step_id)
            );
            CREATE TABLE attempts (
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
                step_id TEXT NOT NULL,
                number INTEGER NOT NULL,
                status TEXT NOT NULL,
                model TEXT,
                reserved_usd TEXT NOT NULL,
                cost_usd TEXT,
                usage TEXT,
                error TEXT,
                started_at DOUBLE PRECISION NOT NULL,
                finished_at DOUBLE PRECISION,
                cache_hit BOOLEAN NOT NULL DEFAULT false,
                saved_usd TEXT,
                fees_usd TEXT,
                flags TEXT
            );
            CREATE INDEX attempts_run ON attempts (run_id, step_id COLLATE "C");
            CREATE TABLE events (
                run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
                sequence BIGINT NOT NULL,
                step_id TEXT,
                kind TEXT NOT NULL,
                data TEXT NOT NULL,
                at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (run_id, sequence)
            );
            CREATE TABLE approvals (
                id TEXT PRIMARY KEY,
                ord BIGINT GENERATED ALWAYS AS IDENTITY,
                run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
                step_id TEXT NOT NULL,
                status TEXT NOT NULL,
                message TEXT NOT NULL,
                details TEXT NOT NULL,
                worst_case_usd TEXT,
                approvers TEXT NOT NULL,
                timeout_seconds DOUBLE PRECISION,
                on_timeout TEXT NOT NULL,
                requested_at DOUBLE PRECISION NOT NULL,
                decided_by TEXT,
                decided_at DOUBLE PRECISION,
                comment TEXT,
                UNIQUE (run_id, step_id)
            );
            CREATE INDEX approvals_status ON approvals (status, requested_at);
            CREATE TABLE llm_cache (
                key TEXT PRIMARY KEY,
                namespace TEXT NOT NULL,
                model TEXT NOT NULL,
                response TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                expires_at DOUBLE PRECISION,
                hits BIGINT NOT NULL DEFAULT 0,
                last_hit_at DOUBLE PRECISION
            );
            CREATE INDEX llm_cache_namespace ON llm_cache (namespace, created_at);
            CREATE TABLE circuits (
                host TEXT PRIMARY KEY,
                state TEXT NOT NULL,
                failures TEXT NOT NULL,
                opened_at DOUBLE PRECISION,
                open_until DOUBLE PRECISION,
                probe_started_at DOUBLE PRECISION,
                last_error TEXT,
                updated_at DOUBLE PRECISION NOT NULL
            );
            """),
        // Issue 16: queued runs (`wflo submit`), the leases workers hold on them (timed by the
        // database's clock, seconds since 1970), and the queues' global concurrency.
        Migration(version: 2, name: "v2_queue", sql: """
            ALTER TABLE runs ADD COLUMN queue TEXT;
            ALTER TABLE runs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE runs ADD COLUMN idempotency_key TEXT;
            ALTER TABLE runs ADD COLUMN lease_expires_at DOUBLE PRECISION;
            CREATE UNIQUE INDEX runs_idempotency_key ON runs (idempotency_key) WHERE idempotency_key IS NOT NULL;
            CREATE INDEX runs_claimable ON runs (queue, priority DESC, created_at, ord)
                WHERE queue IS NOT NULL AND status IN ('queued', 'running', 'waiting_approval');
            CREATE TABLE queues (
                name TEXT PRIMARY KEY,
                concurrency INTEGER
            );
            """),
        // Issue 17: run tags, budget scopes over runs, their period windows (a row per scope and
        // period start, created on first use and never reset), which windows each attempt reserved
        // in, and the alert outbox (one row per scope, period and threshold: the unique key).
        Migration(version: 3, name: "v10_budget_scopes", sql: """
            ALTER TABLE runs ADD COLUMN tags TEXT;
            CREATE TABLE budget_scopes (
                name TEXT PRIMARY KEY,
                limit_usd TEXT NOT NULL,
                period TEXT NOT NULL,
                time_zone TEXT NOT NULL,
                match TEXT NOT NULL,
                alert_at TEXT NOT NULL,
                webhook TEXT,
                created_at DOUBLE PRECISION NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL
            );
            CREATE TABLE budget_windows (
                scope TEXT NOT NULL,
                period_start DOUBLE PRECISION NOT NULL,
                resets_at DOUBLE PRECISION,
                spent_usd TEXT NOT NULL DEFAULT '0',
                reserved_usd TEXT NOT NULL DEFAULT '0',
                PRIMARY KEY (scope, period_start)
            );
            CREATE TABLE attempt_windows (
                attempt_id BIGINT NOT NULL,
                scope TEXT NOT NULL,
                period_start DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (attempt_id, scope)
            );
            CREATE TABLE budget_alerts (
                id TEXT PRIMARY KEY,
                ord BIGINT GENERATED ALWAYS AS IDENTITY,
                scope TEXT NOT NULL,
                threshold TEXT NOT NULL,
                spent_usd TEXT NOT NULL,
                limit_usd TEXT NOT NULL,
                period_start DOUBLE PRECISION NOT NULL,
                resets_at DOUBLE PRECISION,
                webhook TEXT,
                created_at DOUBLE PRECISION NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                delivered_at DOUBLE PRECISION,
                last_error TEXT,
                next_attempt_at DOUBLE PRECISION,
                lease_owner TEXT,
                lease_expires_at DOUBLE PRECISION,
                UNIQUE (scope, period_start, threshold)
            );
            CREATE INDEX budget_alerts_undelivered ON budget_alerts (created_at, ord) WHERE delivered_at IS NULL;
            """),
        // Issue 18: API tokens (`wflo tokens`, `wflo server`), kept as SHA-256 hashes only, and the
        // run list's order for its pages (newest first, then id).
        Migration(version: 4, name: "v11_server", sql: """
            CREATE TABLE api_tokens (
                name TEXT PRIMARY KEY,
                role TEXT NOT NULL,
                hash TEXT NOT NULL UNIQUE,
                created_at DOUBLE PRECISION NOT NULL,
                revoked_at DOUBLE PRECISION
            );
            CREATE INDEX runs_page ON runs (created_at DESC, id COLLATE "C" DESC);
            """),
        // Issue 21: deployed workflows (every version kept; the newest is active unless undeployed),
        // and what started a run: `trigger` (JSON) with its schedule key and tick for the loop's
        // catch-up. A tick's run is unique through `runs.idempotency_key` (v9_queue).
        Migration(version: 5, name: "v12_triggers", sql: """
            CREATE TABLE deployments (
                name TEXT NOT NULL,
                version INTEGER NOT NULL,
                path TEXT NOT NULL,
                source TEXT NOT NULL,
                deployed_at DOUBLE PRECISION NOT NULL,
                undeployed_at DOUBLE PRECISION,
                PRIMARY KEY (name, version)
            );
            ALTER TABLE runs ADD COLUMN "trigger" TEXT;
            ALTER TABLE runs ADD COLUMN trigger_key TEXT;
            ALTER TABLE runs ADD COLUMN trigger_at DOUBLE PRECISION;
            CREATE INDEX runs_trigger ON runs (trigger_key, trigger_at) WHERE trigger_key IS NOT NULL;
            CREATE INDEX runs_workflow_created ON runs (workflow_name, created_at);
            CREATE TABLE webhook_rejections (
                hook TEXT PRIMARY KEY,
                count BIGINT NOT NULL,
                last_at DOUBLE PRECISION NOT NULL
            );
            """),
        // Issue 18: new approval requests announced to webhooks through a durable outbox (one row per
        // request and webhook: the unique key), the journal's own hooks and its settings.
        Migration(version: 6, name: "v15_approval_notifications", sql: """
            CREATE TABLE notify_hooks (
                url TEXT PRIMARY KEY,
                created_at DOUBLE PRECISION NOT NULL
            );
            CREATE TABLE journal_settings (
                name TEXT PRIMARY KEY,
                value TEXT NOT NULL
            );
            CREATE TABLE approval_notifications (
                id TEXT PRIMARY KEY,
                ord BIGINT GENERATED ALWAYS AS IDENTITY,
                approval_id TEXT NOT NULL,
                run_id TEXT NOT NULL,
                webhook TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                delivered_at DOUBLE PRECISION,
                last_error TEXT,
                next_attempt_at DOUBLE PRECISION,
                lease_owner TEXT,
                lease_expires_at DOUBLE PRECISION,
                UNIQUE (approval_id, webhook)
            );
            CREATE INDEX approval_notifications_undelivered ON approval_notifications (created_at, ord) WHERE delivered_at IS NULL;
            """),
        // Issue 21: a workflow's `concurrency:` as each run holds it (the key evaluated when the run was
        // created, its limit and on_conflict) and whether it holds a slot (``ConcurrencyRule``).
        Migration(version: 7, name: "v16_concurrency", sql: """
            ALTER TABLE runs ADD COLUMN concurrency_key TEXT;
            ALTER TABLE runs ADD COLUMN concurrency_limit INTEGER;
            ALTER TABLE runs ADD COLUMN concurrency_on_conflict TEXT;
            ALTER TABLE runs ADD COLUMN concurrency_slot BOOLEAN NOT NULL DEFAULT false;
            CREATE INDEX runs_concurrency ON runs (workflow_name, concurrency_key)
                WHERE concurrency_key IS NOT NULL AND status IN ('queued', 'running', 'waiting_approval');
            """),
        // Issue 18: dashboard sessions outlive the server process (the session id's hash only).
        Migration(version: 8, name: "v17_sessions", sql: """
            CREATE TABLE dashboard_sessions (
                id_hash TEXT PRIMARY KEY,
                token_hash TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                expires_at DOUBLE PRECISION NOT NULL
            );
            CREATE INDEX dashboard_sessions_token ON dashboard_sessions (token_hash);
            CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);
            """),
        // Issue 16: a run's ready leaf steps as tasks any worker may claim (``StepTaskStore``),
        // leased by the database's clock; `owner` stays on a done task (who ran the step).
        Migration(version: 9, name: "v18_step_tasks", sql: """
            CREATE TABLE step_tasks (
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
                step_id TEXT NOT NULL,
                payload TEXT NOT NULL,
                status TEXT NOT NULL,
                owner TEXT,
                owner_token TEXT,
                lease_expires_at DOUBLE PRECISION,
                claims INTEGER NOT NULL DEFAULT 0,
                outcome TEXT,
                created_at DOUBLE PRECISION NOT NULL,
                finished_at DOUBLE PRECISION,
                UNIQUE (run_id, step_id)
            );
            CREATE INDEX step_tasks_open ON step_tasks (id) WHERE status IN ('queued', 'claimed');
            """),
    ]

    /// The newest schema this binary knows.
    static var latestVersion: Int { migrations.last?.version ?? 0 }
}
