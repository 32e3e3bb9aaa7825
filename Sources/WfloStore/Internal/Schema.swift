import GRDB

/// The journal's schema. Shipped migrations are never edited: a change is a new migration.
///
/// Money is stored as exact decimal TEXT (`Money.description`), JSON as text written by
/// `JSONValue.encoded()` (numbers keep their digits), dates as REAL seconds since 1970.
/// Each run row carries its ledger (`settled_usd`, `reserved_usd`), updated in the same
/// transaction as the attempt rows, so the budget check reads one row.
enum Schema {
    /// The newest migration this wflo ships.
    static var latest: String { migrator.migrations.last ?? "none" }

    /// Migrations the journal has that this wflo does not ship: it was written by a newer wflo.
    /// Empty for a new file (no migration table yet).
    static func unknownMigrations(_ db: Database) throws -> [String] {
        guard try db.tableExists("grdb_migrations") else { return [] }
        let known = Set(migrator.migrations)
        return try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations").filter { !known.contains($0) }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE runs (
                    id TEXT PRIMARY KEY NOT NULL,
                    workflow_name TEXT NOT NULL,
                    workflow_path TEXT NOT NULL,
                    workflow_source TEXT NOT NULL,
                    inputs TEXT NOT NULL,
                    budget_usd TEXT,
                    settled_usd TEXT NOT NULL DEFAULT '0',
                    reserved_usd TEXT NOT NULL DEFAULT '0',
                    status TEXT NOT NULL,
                    outputs TEXT,
                    error TEXT,
                    created_at REAL NOT NULL,
                    updated_at REAL NOT NULL
                );
                CREATE INDEX runs_created ON runs(created_at);
                CREATE TABLE steps (
                    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                    step_id TEXT NOT NULL,
                    type TEXT NOT NULL,
                    status TEXT NOT NULL,
                    output TEXT,
                    error TEXT,
                    model TEXT,
                    started_at REAL,
                    finished_at REAL,
                    PRIMARY KEY (run_id, step_id)
                );
                CREATE TABLE attempts (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                    step_id TEXT NOT NULL,
                    number INTEGER NOT NULL,
                    status TEXT NOT NULL,
                    model TEXT,
                    reserved_usd TEXT NOT NULL,
                    cost_usd TEXT,
                    usage TEXT,
                    error TEXT,
                    started_at REAL NOT NULL,
                    finished_at REAL
                );
                CREATE INDEX attempts_run ON attempts(run_id, step_id);
                CREATE TABLE events (
                    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
                    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                    step_id TEXT,
                    kind TEXT NOT NULL,
                    data TEXT NOT NULL,
                    at REAL NOT NULL
                );
                CREATE INDEX events_run ON events(run_id, sequence);
                """)
        }
        migrator.registerMigration("v2_approvals") { db in
            // One request per run and step: a resumed run finds its request, never files a second.
            try db.execute(sql: """
                CREATE TABLE approvals (
                    id TEXT PRIMARY KEY NOT NULL,
                    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                    step_id TEXT NOT NULL,
                    status TEXT NOT NULL,
                    message TEXT NOT NULL,
                    details TEXT NOT NULL,
                    worst_case_usd TEXT,
                    approvers TEXT NOT NULL,
                    timeout_seconds REAL,
                    on_timeout TEXT NOT NULL,
                    requested_at REAL NOT NULL,
                    decided_by TEXT,
                    decided_at REAL,
                    comment TEXT,
                    UNIQUE (run_id, step_id)
                );
                CREATE INDEX approvals_status ON approvals(status, requested_at);
                """)
        }
        migrator.registerMigration("v3_llm_cache") { db in
            // Exact-match response cache, shared by all runs; the key is a SHA-256 hex digest.
            try db.execute(sql: """
                CREATE TABLE llm_cache (
                    key TEXT PRIMARY KEY NOT NULL,
                    namespace TEXT NOT NULL,
                    model TEXT NOT NULL,
                    response TEXT NOT NULL,
                    created_at REAL NOT NULL,
                    expires_at REAL,
                    hits INTEGER NOT NULL DEFAULT 0,
                    last_hit_at REAL
                );
                CREATE INDEX llm_cache_namespace ON llm_cache(namespace, created_at);
                ALTER TABLE attempts ADD COLUMN cache_hit INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE attempts ADD COLUMN saved_usd TEXT;
                """)
        }
        migrator.registerMigration("v4_compact_journal") { db in
            // A step's commit writes one row of `steps` and one of `events`. Keyed WITHOUT ROWID
            // by (run, step) and (run, sequence), each is one B-tree: two pages per commit instead
            // of four (table + index each), and no sqlite_sequence write. A run's event sequence
            // is 1, 2, 3… (the insert takes MAX + 1 under the write lock).
            try db.execute(sql: """
                CREATE TABLE events_v4 (
                    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                    sequence INTEGER NOT NULL,
                    step_id TEXT,
                    kind TEXT NOT NULL,
                    data TEXT NOT NULL,
                    at REAL NOT NULL,
                    PRIMARY KEY (run_id, sequence)
                ) WITHOUT ROWID;
                INSERT INTO events_v4 (run_id, sequence, step_id, kind, data, at)
                    SELECT run_id, sequence, step_id, kind, data, at FROM events;
                DROP TABLE events;
                ALTER TABLE events_v4 RENAME TO events;
                CREATE TABLE steps_v4 (
                    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                    step_id TEXT NOT NULL,
                    type TEXT NOT NULL,
                    status TEXT NOT NULL,
                    output TEXT,
                    error TEXT,
                    model TEXT,
                    started_at REAL,
                    finished_at REAL,
                    PRIMARY KEY (run_id, step_id)
                ) WITHOUT ROWID;
                INSERT INTO steps_v4 SELECT run_id, step_id, type, status, output, error, model, started_at, finished_at FROM steps;
                DROP TABLE steps;
                ALTER TABLE steps_v4 RENAME TO steps;
                """)
        }
        migrator.registerMigration("v5_circuits") { db in
            // One circuit per host (`host` or `host:port`), shared by every run: see CircuitRecord.
            try db.execute(sql: """
                CREATE TABLE circuits (
                    host TEXT PRIMARY KEY NOT NULL,
                    state TEXT NOT NULL,
                    failures TEXT NOT NULL,
                    opened_at REAL,
                    open_until REAL,
                    probe_started_at REAL,
                    last_error TEXT,
                    updated_at REAL NOT NULL
                );
                """)
        }
        migrator.registerMigration("v6_run_owner") { db in
            // The process driving a run and its last heartbeat: one driver at a time.
            try db.execute(sql: """
                ALTER TABLE runs ADD COLUMN owner TEXT;
                ALTER TABLE runs ADD COLUMN heartbeat_at REAL;
                """)
        }
        migrator.registerMigration("v7_cancel") { db in
            // `wflo cancel`: the request its driver polls for, and who made it.
            try db.execute(sql: """
                ALTER TABLE runs ADD COLUMN cancel_requested_at REAL;
                ALTER TABLE runs ADD COLUMN cancel_by TEXT;
                ALTER TABLE runs ADD COLUMN cancel_reason TEXT;
                """)
        }
        migrator.registerMigration("v8_billing_flags") { db in
            // Issue 25 / 22.7: the per-request and per-search part of an attempt's cost, what its
            // settlement found (usage above the reservation, unpriced usage), and why the run stopped.
            try db.execute(sql: """
                ALTER TABLE attempts ADD COLUMN fees_usd TEXT;
                ALTER TABLE attempts ADD COLUMN flags TEXT;
                ALTER TABLE runs ADD COLUMN stop_reason TEXT;
                """)
        }
        migrator.registerMigration("v9_queue") { db in
            // Issue 16: queued runs (`wflo submit`), the leases workers hold on them (timed by
            // this database's clock, seconds since 1970), and the queues' global concurrency.
            try db.execute(sql: """
                ALTER TABLE runs ADD COLUMN queue TEXT;
                ALTER TABLE runs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE runs ADD COLUMN idempotency_key TEXT;
                ALTER TABLE runs ADD COLUMN lease_expires_at REAL;
                CREATE UNIQUE INDEX runs_idempotency_key ON runs(idempotency_key) WHERE idempotency_key IS NOT NULL;
                CREATE INDEX runs_claimable ON runs(queue, priority DESC, created_at)
                    WHERE queue IS NOT NULL AND status IN ('queued', 'running', 'waiting_approval');
                CREATE TABLE queues (
                    name TEXT PRIMARY KEY NOT NULL,
                    concurrency INTEGER
                );
                """)
        }
        migrator.registerMigration("v10_budget_scopes") { db in
            // Issue 17: run tags, budget scopes over runs, their period windows (a row per scope and
            // period start, created on first use and never reset), which windows each attempt
            // reserved in (so settlement moves exactly those), and the alert outbox (one row per
            // scope, period and threshold: the unique key).
            try db.execute(sql: """
                ALTER TABLE runs ADD COLUMN tags TEXT;
                CREATE TABLE budget_scopes (
                    name TEXT PRIMARY KEY NOT NULL,
                    limit_usd TEXT NOT NULL,
                    period TEXT NOT NULL,
                    time_zone TEXT NOT NULL,
                    match TEXT NOT NULL,
                    alert_at TEXT NOT NULL,
                    webhook TEXT,
                    created_at REAL NOT NULL,
                    updated_at REAL NOT NULL
                );
                CREATE TABLE budget_windows (
                    scope TEXT NOT NULL,
                    period_start REAL NOT NULL,
                    resets_at REAL,
                    spent_usd TEXT NOT NULL DEFAULT '0',
                    reserved_usd TEXT NOT NULL DEFAULT '0',
                    PRIMARY KEY (scope, period_start)
                ) WITHOUT ROWID;
                CREATE TABLE attempt_windows (
                    attempt_id INTEGER NOT NULL,
                    scope TEXT NOT NULL,
                    period_start REAL NOT NULL,
                    PRIMARY KEY (attempt_id, scope)
                ) WITHOUT ROWID;
                CREATE TABLE budget_alerts (
                    id TEXT PRIMARY KEY NOT NULL,
                    scope TEXT NOT NULL,
                    threshold TEXT NOT NULL,
                    spent_usd TEXT NOT NULL,
                    limit_usd TEXT NOT NULL,
                    period_start REAL NOT NULL,
                    resets_at REAL,
                    webhook TEXT,
                    created_at REAL NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    delivered_at REAL,
                    last_error TEXT,
                    next_attempt_at REAL,
                    lease_owner TEXT,
                    lease_expires_at REAL,
                    UNIQUE (scope, period_start, threshold)
                );
                CREATE INDEX budget_alerts_undelivered ON budget_alerts(created_at) WHERE delivered_at IS NULL;
                """)
        }
        migrator.registerMigration("v11_server") { db in
            // Issue 18: API tokens (`wflo tokens`, `wflo server`), kept as SHA-256 hashes only, and
            // the run list's order for its pages (newest first, then id).
            try db.execute(sql: """
                CREATE TABLE api_tokens (
                    name TEXT PRIMARY KEY NOT NULL,
                    role TEXT NOT NULL,
                    hash TEXT NOT NULL UNIQUE,
                    created_at REAL NOT NULL,
                    revoked_at REAL
                );
                CREATE INDEX runs_page ON runs(created_at DESC, id DESC);
                """)
        }
        // Issue 21: deployed workflows (every version kept; the newest is active unless undeployed),
        // and what started a run: `trigger` (JSON) with its schedule key and tick for the loop's
        // catch-up. A tick's run is unique through `runs.idempotency_key` (v9).
        migrator.registerMigration("v12_triggers") { db in
            try db.execute(sql: """
                CREATE TABLE deployments (
                    name TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    path TEXT NOT NULL,
                    source TEXT NOT NULL,
                    deployed_at REAL NOT NULL,
                    undeployed_at REAL,
                    PRIMARY KEY (name, version)
                ) WITHOUT ROWID;
                ALTER TABLE runs ADD COLUMN "trigger" TEXT;
                ALTER TABLE runs ADD COLUMN trigger_key TEXT;
                ALTER TABLE runs ADD COLUMN trigger_at REAL;
                CREATE INDEX runs_trigger ON runs(trigger_key, trigger_at) WHERE trigger_key IS NOT NULL;
                CREATE INDEX runs_workflow_created ON runs(workflow_name, created_at);
                CREATE TABLE webhook_rejections (
                    hook TEXT PRIMARY KEY NOT NULL,
                    count INTEGER NOT NULL,
                    last_at REAL NOT NULL
                ) WITHOUT ROWID;
                """)
        }
        // Issue 18: new approval requests announced to webhooks through a durable outbox; the
        // journal's own hooks and settings (the server's base URL, the key signing decision links).
        migrator.registerMigration("v15_approval_notifications") { db in
            try db.execute(sql: """
                CREATE TABLE notify_hooks (
                    url TEXT PRIMARY KEY NOT NULL,
                    created_at REAL NOT NULL
                );
                CREATE TABLE journal_settings (
                    name TEXT PRIMARY KEY NOT NULL,
                    value TEXT NOT NULL
                ) WITHOUT ROWID;
                CREATE TABLE approval_notifications (
                    id TEXT PRIMARY KEY NOT NULL,
                    approval_id TEXT NOT NULL,
                    run_id TEXT NOT NULL,
                    webhook TEXT NOT NULL,
                    created_at REAL NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    delivered_at REAL,
                    last_error TEXT,
                    next_attempt_at REAL,
                    lease_owner TEXT,
                    lease_expires_at REAL,
                    UNIQUE (approval_id, webhook)
                );
                CREATE INDEX approval_notifications_undelivered ON approval_notifications(created_at) WHERE delivered_at IS NULL;
                """)
        }
        // Issue 21: a workflow's `concurrency:` as each run holds it (the key evaluated when the run
        // was created, its limit and on_conflict) and whether it holds a slot (``ConcurrencyRule``).
        migrator.registerMigration("v16_concurrency") { db in
            try db.execute(sql: """
                ALTER TABLE runs ADD COLUMN concurrency_key TEXT;
                ALTER TABLE runs ADD COLUMN concurrency_limit INTEGER;
                ALTER TABLE runs ADD COLUMN concurrency_on_conflict TEXT;
                ALTER TABLE runs ADD COLUMN concurrency_slot INTEGER NOT NULL DEFAULT 0;
                CREATE INDEX runs_concurrency ON runs(workflow_name, concurrency_key)
                    WHERE concurrency_key IS NOT NULL AND status IN ('queued', 'running', 'waiting_approval');
                """)
        }
        // Issue 18: dashboard sessions outlive the server process: the session id's hash only,
        // the token it came from (revoking the token deletes them), when it ends.
        migrator.registerMigration("v17_sessions") { db in
            try db.execute(sql: """
                CREATE TABLE dashboard_sessions (
                    id_hash TEXT PRIMARY KEY NOT NULL,
                    token_hash TEXT NOT NULL,
                    created_at REAL NOT NULL,
                    expires_at REAL NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX dashboard_sessions_token ON dashboard_sessions(token_hash);
                CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions(expires_at);
                """)
        }
        // Issue 16: a run's ready leaf steps as tasks any worker may claim (``StepTaskStore``),
        // leased by the store's clock; `owner` stays on a done task (who ran the step).
        migrator.registerMigration("v18_step_tasks") { db in
            try db.execute(sql: """
                CREATE TABLE step_tasks (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                    step_id TEXT NOT NULL,
                    payload TEXT NOT NULL,
                    status TEXT NOT NULL,
                    owner TEXT,
                    owner_token TEXT,
                    lease_expires_at REAL,
                    claims INTEGER NOT NULL DEFAULT 0,
                    outcome TEXT,
                    created_at REAL NOT NULL,
                    finished_at REAL,
                    UNIQUE (run_id, step_id)
                );
                CREATE INDEX step_tasks_open ON step_tasks(status, id) WHERE status IN ('queued', 'claimed');
                """)
        }
        // Issue 23: a run's workflow text and inputs leave the `runs` row. SQLite rewrites a whole
        // row, overflow pages included, whenever an update changes its size, and `runs` is updated
        // by every reservation, settlement, heartbeat and status change: a 2,000-step chain's 250 KB
        // of YAML was copied twice per model call, so a paid step's cost grew with the run.
        migrator.registerMigration("v20_run_documents") { db in
            try db.execute(sql: """
                CREATE TABLE run_documents (
                    run_id TEXT PRIMARY KEY NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                    workflow_source TEXT NOT NULL,
                    inputs TEXT NOT NULL
                ) WITHOUT ROWID;
                INSERT INTO run_documents (run_id, workflow_source, inputs) SELECT id, workflow_source, inputs FROM runs;
                ALTER TABLE runs DROP COLUMN workflow_source;
                ALTER TABLE runs DROP COLUMN inputs;
                """)
        }
        // Issue 23: an attempt's id is its rowid without AUTOINCREMENT. Nothing deletes attempts
        // (no id can come back), and AUTOINCREMENT made every reservation write sqlite_sequence
        // as well: one page, so one WAL frame, of the six a paid call's reservation wrote.
        migrator.registerMigration("v21_attempts_rowid") { db in
            try db.execute(sql: """
                CREATE TABLE attempts_v21 (
                    id INTEGER PRIMARY KEY,
                    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                    step_id TEXT NOT NULL,
                    number INTEGER NOT NULL,
                    status TEXT NOT NULL,
                    model TEXT,
                    reserved_usd TEXT NOT NULL,
                    cost_usd TEXT,
                    usage TEXT,
                    error TEXT,
                    started_at REAL NOT NULL,
                    finished_at REAL,
                    cache_hit INTEGER NOT NULL DEFAULT 0,
                    saved_usd TEXT,
                    fees_usd TEXT,
                    flags TEXT
                );
                INSERT INTO attempts_v21 (id, run_id, step_id, number, status, model, reserved_usd, cost_usd, usage, error,
                                          started_at, finished_at, cache_hit, saved_usd, fees_usd, flags)
                    SELECT id, run_id, step_id, number, status, model, reserved_usd, cost_usd, usage, error,
                           started_at, finished_at, cache_hit, saved_usd, fees_usd, flags FROM attempts;
                DROP TABLE attempts;
                ALTER TABLE attempts_v21 RENAME TO attempts;
                CREATE INDEX attempts_run ON attempts(run_id, step_id);
                """)
        }
        return migrator
    }
}
