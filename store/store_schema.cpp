// The store's schema as forward-only migrations. Migration N brings `PRAGMA user_version` from
// N-1 to N inside one transaction; a database newer than this build is refused, never touched.
// Add a migration by appending to k_migrations; never edit a released one.
#include <iterator>
#include <memory>
#include <string>

#include "store/audit_chain.h"
#include "store/store_internal.h"

namespace shortlink::store {
namespace {

// Migration 1: domains, links, the append-only audit log and the snapshot record.
//
// links.ci copies the domain's case_insensitive flag so that a partial unique index can refuse
// two codes differing only in ASCII case on those domains alone (a partial index cannot look at
// another table). links.tags is ",a,b," (sorted) so a tag test is one instr() with exact,
// case-sensitive matching. Times are Unix seconds; 0 means "none".
// CHECKs use BETWEEN/OR rather than `x IN (...)`: SQLite builds an ephemeral index for an IN
// list on every row checked, which made CHECK constraints 60% of a bulk insert's cost.
// last_link_id marks an audit row covering the link ids link_id..last_link_id: early builds wrote
// one such row per import; imports now write one row per link and never set it, but history()
// still reads such rows.
// Lengths are enforced by cli/validate.h before any write (length() per row cost 15% more).
constexpr const char* k_migration_1 = R"sql(
CREATE TABLE domains (
    id                 INTEGER PRIMARY KEY,
    host               TEXT NOT NULL UNIQUE,
    is_default         INTEGER NOT NULL DEFAULT 0 CHECK (is_default BETWEEN 0 AND 1),
    default_redirect   INTEGER NOT NULL DEFAULT 302 CHECK (default_redirect = 301 OR default_redirect = 302 OR default_redirect = 307 OR default_redirect = 308),
    root_url           TEXT NOT NULL DEFAULT '',
    case_insensitive   INTEGER NOT NULL DEFAULT 0 CHECK (case_insensitive BETWEEN 0 AND 1),
    forward_query      INTEGER NOT NULL DEFAULT 1 CHECK (forward_query BETWEEN 0 AND 1),
    cache_max_age_s    INTEGER NOT NULL DEFAULT 300 CHECK (cache_max_age_s >= 0),
    negative_max_age_s INTEGER NOT NULL DEFAULT 60 CHECK (negative_max_age_s >= 0),
    removed            INTEGER NOT NULL DEFAULT 0 CHECK (removed BETWEEN 0 AND 1),
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
CREATE UNIQUE INDEX domains_one_default ON domains (is_default) WHERE is_default = 1;
INSERT INTO domains (host, is_default, created_at, updated_at)
    VALUES ('*', 1, CAST(strftime('%s', 'now') AS INTEGER), CAST(strftime('%s', 'now') AS INTEGER));

CREATE TABLE links (
    id            INTEGER PRIMARY KEY,
    domain_id     INTEGER NOT NULL REFERENCES domains (id),
    code          TEXT NOT NULL CHECK (code <> ''),
    ci            INTEGER NOT NULL DEFAULT 0 CHECK (ci BETWEEN 0 AND 1),
    destination   TEXT NOT NULL CHECK (destination <> ''),
    redirect_type INTEGER NOT NULL DEFAULT 0 CHECK (redirect_type = 0 OR redirect_type = 301 OR redirect_type = 302 OR redirect_type = 307 OR redirect_type = 308),
    status        INTEGER NOT NULL DEFAULT 0 CHECK (status BETWEEN 0 AND 2),
    forward_query INTEGER NOT NULL DEFAULT -1 CHECK (forward_query BETWEEN -1 AND 1),
    not_before    INTEGER NOT NULL DEFAULT 0,
    expires       INTEGER NOT NULL DEFAULT 0,
    tags          TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL DEFAULT '',
    rules         TEXT NOT NULL DEFAULT '',
    version       INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (domain_id, code)
);
CREATE UNIQUE INDEX links_case_folded ON links (domain_id, lower(code)) WHERE ci = 1;

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    host    TEXT NOT NULL DEFAULT '',
    code    TEXT NOT NULL DEFAULT '',
    link_id INTEGER,
    before  TEXT,
    after   TEXT,
    last_link_id INTEGER
);
CREATE INDEX audit_by_link ON audit_log (link_id);
CREATE INDEX audit_batches ON audit_log (id) WHERE last_link_id IS NOT NULL;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused');
END;

CREATE TABLE snapshots (
    serial       INTEGER PRIMARY KEY CHECK (serial > 0),
    state        TEXT NOT NULL CHECK (state IN ('pending', 'complete')),
    created_at   INTEGER NOT NULL,
    sha256_hex   TEXT NOT NULL DEFAULT '',
    link_count   INTEGER NOT NULL DEFAULT 0,
    domain_count INTEGER NOT NULL DEFAULT 0,
    bytes        INTEGER NOT NULL DEFAULT 0,
    key_id       TEXT NOT NULL DEFAULT '',
    path         TEXT NOT NULL DEFAULT ''
);
)sql";

// Migration 2: blocks (the deny set an overlay publishes) and the kind of each published file.
//
// One row per block; an unblock deletes the row and the audit log keeps the history. host is the
// served domain's host ("*" for the default domain) for link and domain blocks, the destination
// host (lowercase A-label) for destination blocks; code is set for link blocks only, folded to
// ASCII lowercase on a case-insensitive domain because that is how the snapshot stores the code
// and how the server looks it up. Blocks name hosts rather than domain ids so that a block
// outlives the removal of its domain and the destination blocks need no row of their own.
// snapshots.kind: snapshots, patches, deny overlays and rollback snapshots take their serials from
// the one sequence of this table, so a server comparing serials never sees one go back.
// snapshots.audit_mark: the highest audit_log id a full snapshot (or the content a rollback
// republished) includes, read in the compile's read transaction; a patch holds every link an
// audit row after it touched. -1: unknown (no patch can be built on that snapshot).
constexpr const char* k_migration_2 = R"sql(
CREATE TABLE blocks (
    id         INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind = 'link' OR kind = 'domain' OR kind = 'destination'),
    host       TEXT NOT NULL CHECK (host <> ''),
    code       TEXT NOT NULL DEFAULT '' CHECK ((code <> '') = (kind = 'link')),
    reason     TEXT NOT NULL DEFAULT '',
    actor      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (kind, host, code)
);

ALTER TABLE snapshots ADD COLUMN kind TEXT NOT NULL DEFAULT 'snapshot'
    CHECK (kind = 'snapshot' OR kind = 'patch' OR kind = 'overlay' OR kind = 'rollback');
ALTER TABLE snapshots ADD COLUMN audit_mark INTEGER NOT NULL DEFAULT -1;
)sql";

// Migration 3: the audit log becomes tamper-evident and the file says it is a shortlink database.
//
// audit_log.hash: SHA-256 over the previous row's hash and every column of the row
// (store/audit_chain.h has the encoding), so `shortlink history --verify` catches a row edited,
// removed or slipped in by a writer who dropped the triggers. Rows written before this migration
// get their hashes computed by it, in id order (the UPDATE trigger is dropped for that and
// created again). The writer gives every row an explicit id, last id + 1, inside the write
// transaction of the change it records, so two writers can never fork the chain.
// audit_log_no_overwrite: a REPLACE (INSERT OR REPLACE, REPLACE INTO) of an existing id deletes the
// old row without firing the DELETE trigger unless recursive_triggers is on; a BEFORE INSERT
// trigger runs before any conflict resolution, so it refuses that, and an UPSERT's insert, for
// every writer and setting.
// application_id: "SLNK" in the database header, so a shortlink database is recognized before
// anything is written to a file (Store::open) and file(1) can name it.
constexpr const char* k_migration_3 = R"sql(
ALTER TABLE audit_log ADD COLUMN hash BLOB;
DROP TRIGGER audit_log_no_update;
)sql";

constexpr const char* k_migration_3_after = R"sql(
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused');
END;
CREATE TRIGGER audit_log_no_overwrite BEFORE INSERT ON audit_log
WHEN EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: INSERT over an existing row refused');
END;
PRAGMA application_id = 1397509707;
)sql";

static_assert(k_application_id == 1397509707, "migration 3 writes k_application_id");

// Migration 4: a domain's HTTPS policy. https_redirect: a plain-HTTP request for the domain is
// answered 308 to the same path on https://HOST. hsts_max_age_s (0: none) and
// hsts_include_subdomains: the Strict-Transport-Security header of its answers over TLS.
constexpr const char* k_migration_4 = R"sql(
ALTER TABLE domains ADD COLUMN https_redirect INTEGER NOT NULL DEFAULT 0
    CHECK (https_redirect BETWEEN 0 AND 1);
ALTER TABLE domains ADD COLUMN hsts_max_age_s INTEGER NOT NULL DEFAULT 0
    CHECK (hsts_max_age_s BETWEEN 0 AND 4294967295);
ALTER TABLE domains ADD COLUMN hsts_include_subdomains INTEGER NOT NULL DEFAULT 0
    CHECK (hsts_include_subdomains BETWEEN 0 AND 1);
)sql";

// Migration 5: a link's title, a human-readable name that only the CLI and exports show (the
// compiler never reads it, so snapshots do not change). '' means none; the text is validated by
// validate::normalize_title() before any write.
constexpr const char* k_migration_5 = R"sql(
ALTER TABLE links ADD COLUMN title TEXT NOT NULL DEFAULT '';
)sql";

// Migration 6: lifetimes, fallbacks and cache policy.
// Domains: not_found_url (unknown codes redirect there) and expired_url (ended links without one
// of their own go there), '' for none; not_found_text and gone_text, the one-line texts of the
// 404 and 410 pages ('' for the plain "Not Found" and "Gone"); permanent_max_age_s caps the
// cache lifetime of 301 and 308 answers (a day by default, so a permanent redirect can still be
// changed); stale_while_revalidate_s and stale_if_error_s (RFC 5861, 0: not sent); cache_scope
// ('', 'public' or 'private') and miss_budget (misses a client may cause per minute, 0: the
// server's default). Links: expired_url ('' for the domain's) and reserved, a link that has no
// start time yet and answers 404 until it is given one.
constexpr const char* k_migration_6 = R"sql(
ALTER TABLE domains ADD COLUMN not_found_url TEXT NOT NULL DEFAULT '';
ALTER TABLE domains ADD COLUMN expired_url TEXT NOT NULL DEFAULT '';
ALTER TABLE domains ADD COLUMN not_found_text TEXT NOT NULL DEFAULT '';
ALTER TABLE domains ADD COLUMN gone_text TEXT NOT NULL DEFAULT '';
ALTER TABLE domains ADD COLUMN permanent_max_age_s INTEGER NOT NULL DEFAULT 86400
    CHECK (permanent_max_age_s BETWEEN 0 AND 4294967295);
ALTER TABLE domains ADD COLUMN stale_while_revalidate_s INTEGER NOT NULL DEFAULT 0
    CHECK (stale_while_revalidate_s BETWEEN 0 AND 4294967295);
ALTER TABLE domains ADD COLUMN stale_if_error_s INTEGER NOT NULL DEFAULT 0
    CHECK (stale_if_error_s BETWEEN 0 AND 4294967295);
ALTER TABLE domains ADD COLUMN cache_scope TEXT NOT NULL DEFAULT ''
    CHECK (cache_scope = '' OR cache_scope = 'public' OR cache_scope = 'private');
ALTER TABLE domains ADD COLUMN miss_budget INTEGER NOT NULL DEFAULT 0
    CHECK (miss_budget BETWEEN 0 AND 4294967295);
ALTER TABLE links ADD COLUMN expired_url TEXT NOT NULL DEFAULT '';
ALTER TABLE links ADD COLUMN reserved INTEGER NOT NULL DEFAULT 0 CHECK (reserved BETWEEN 0 AND 1);
)sql";

// Migration 7: the request header a domain trusts for its clients' country (set by the CDN or
// proxy in front of it, for example CF-IPCountry), '' for the server's --country-header. The
// name is validated by validate::country_header_name() before any write.
constexpr const char* k_migration_7 = R"sql(
ALTER TABLE domains ADD COLUMN country_header TEXT NOT NULL DEFAULT '';
)sql";

// Fills audit_log.hash of every existing row, in id order (migration 3).
Status chain_existing_audit_rows(sqlite3* db) {
    sqlite3_stmt* raw = nullptr;
    const std::string select = std::string("SELECT ") + detail::k_audit_chain_columns + " FROM audit_log ORDER BY id";
    if (sqlite3_prepare_v2(db, select.c_str(), -1, &raw, nullptr) != SQLITE_OK) {
        return detail::sqlite_error(db, SQLITE_ERROR, "cannot read the audit log");
    }
    std::unique_ptr<sqlite3_stmt, detail::StmtFinalizer> rows(raw);
    if (sqlite3_prepare_v2(db, "UPDATE audit_log SET hash = ?2 WHERE id = ?1", -1, &raw, nullptr) != SQLITE_OK) {
        return detail::sqlite_error(db, SQLITE_ERROR, "cannot chain the audit log");
    }
    std::unique_ptr<sqlite3_stmt, detail::StmtFinalizer> update(raw);
    detail::AuditChainHasher hasher;
    detail::AuditHash previous{};
    int rc;
    while ((rc = sqlite3_step(rows.get())) == SQLITE_ROW) {
        detail::AuditValue values[detail::k_audit_chain_column_count];
        for (int col = 0; col < detail::k_audit_chain_column_count; ++col) {
            values[col] = detail::audit_value(rows.get(), col);
        }
        previous = hasher.row_hash(previous, values);
        sqlite3_bind_int64(update.get(), 1, sqlite3_column_int64(rows.get(), 0));
        sqlite3_bind_blob(update.get(), 2, previous.data(), static_cast<int>(previous.size()), SQLITE_STATIC);
        const int urc = sqlite3_step(update.get());
        sqlite3_reset(update.get());
        if (urc != SQLITE_DONE) {
            return detail::sqlite_error(db, urc, "cannot chain the audit log");
        }
    }
    return rc == SQLITE_DONE ? Status::ok() : detail::sqlite_error(db, rc, "cannot read the audit log");
}

// One schema step: `sql`, then (when set) `fill` on the rows, then `sql_after`.
struct Migration {
    const char* sql;
    Status (*fill)(sqlite3* db) = nullptr;
    const char* sql_after = nullptr;
};

const Migration k_migrations[] = {
    {k_migration_1},
    {k_migration_2},
    {k_migration_3, chain_existing_audit_rows, k_migration_3_after},
    {k_migration_4},
    {k_migration_5},
    {k_migration_6},
    {k_migration_7},
};
constexpr int k_schema_version = static_cast<int>(std::size(k_migrations));

int read_user_version(sqlite3* db) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &raw, nullptr) != SQLITE_OK) {
        return -1;
    }
    int version = -1;
    if (sqlite3_step(raw) == SQLITE_ROW) {
        version = sqlite3_column_int(raw, 0);
    }
    sqlite3_finalize(raw);
    return version;
}

Status exec(sqlite3* db, const std::string& sql, std::string_view what);

// After a failed step of a migration: the error that made it roll back is what is reported.
void roll_back(sqlite3* db) { (void)exec(db, "ROLLBACK", "rollback"); }

Status exec(sqlite3* db, const std::string& sql, std::string_view what) {
    char* err = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
        std::string message = std::string(what) + ": " + (err != nullptr ? err : sqlite3_errstr(rc));
        sqlite3_free(err);
        return Status::io_error(message);
    }
    return Status::ok();
}

Status run_migration(sqlite3* db, const Migration& m, int number) {
    const std::string what = "migration " + std::to_string(number) + " failed";
    Status st = exec(db, m.sql, what);
    if (st && m.fill != nullptr) {
        st = m.fill(db);
    }
    if (st && m.sql_after != nullptr) {
        st = exec(db, m.sql_after, what);
    }
    if (st) {
        st = exec(db, "PRAGMA user_version = " + std::to_string(number), "set user_version");
    }
    return st;
}

}  // namespace

int current_schema_version() { return k_schema_version; }

Status migrate(sqlite3* db, int target) {
    if (target < 1 || target > k_schema_version) {
        return Status::invalid_argument("no schema version " + std::to_string(target));
    }
    // Fast path for every open after the first: an up-to-date database needs no write lock.
    if (read_user_version(db) == target) {
        return Status::ok();
    }
    // BEGIN IMMEDIATE so two processes opening a fresh file cannot both run migration 1; the
    // version is read again under the lock.
    Status st = exec(db, "BEGIN IMMEDIATE", "cannot lock the database");
    if (!st) {
        return st;
    }
    int version = read_user_version(db);
    if (version < 0) {
        roll_back(db);
        return Status::corruption("cannot read the schema version: " + std::string(sqlite3_errmsg(db)));
    }
    if (version > k_schema_version) {
        roll_back(db);
        return newer_schema(version);
    }
    for (int next = version; next < target; ++next) {
        st = run_migration(db, k_migrations[next], next + 1);
        if (!st) {
            roll_back(db);
            return st;
        }
    }
    return exec(db, "COMMIT", "cannot commit the migration");
}

Status newer_schema(int version) {
    return Status::invalid_argument("made by a newer shortlink: schema " + std::to_string(version) +
                                    ", this build knows " + std::to_string(k_schema_version) +
                                    " (upgrade shortlink)");
}

}  // namespace shortlink::store
