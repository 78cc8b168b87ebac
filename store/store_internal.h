// Internals of the link store shared by store/store*.cpp: a small RAII layer over the SQLite C API
// and the Store's private state. Not part of the store's API.
//
// Ownership: Db owns the sqlite3 connection; Stmt owns one prepared statement and must not
// outlive its Db (Store::Impl declares the statement cache after the connection for that reason).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "store/audit_chain.h"
#include "store/store.h"

namespace shortlink::store::detail {

struct DbCloser {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
    void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};

// How long a writer waits for another process's transaction before giving up. Long enough for
// an import of 1M links in another terminal to finish, short enough to notice a stuck process.
inline constexpr int k_busy_timeout_ms = 30000;

// A Status for a failed SQLite call, with the connection's message.
Status sqlite_error(sqlite3* db, int rc, std::string_view what);

// What the first bytes of a file say before SQLite opens it: SQLite would take an empty file for a
// new database and write one into it, so a file is refused unless it starts with SQLite's header.
// io_error ("cannot open `what` PATH: ...") when it cannot be read.
enum class FileHead { sqlite, empty, other };
Result<FileHead> read_file_head(const std::string& path, std::string_view what);

// The store's one clock: Unix seconds, for created/updated times and audit rows.

// A prepared statement; reset() before reuse, bind by 1-based index.
class Stmt {
public:
    Stmt() = default;
    Stmt(sqlite3* db, sqlite3_stmt* stmt) : m_db(db), m_stmt(stmt) {}

    Stmt& bind(int i, std::int64_t v) {
        sqlite3_bind_int64(m_stmt.get(), i, v);
        return *this;
    }
    Stmt& bind(int i, std::string_view v) {
        sqlite3_bind_text(m_stmt.get(), i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
        return *this;
    }
    // The caller keeps `v` alive and unchanged until the statement is stepped (no copy).
    Stmt& bind_static(int i, std::string_view v) {
        sqlite3_bind_text(m_stmt.get(), i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
        return *this;
    }
    // An audit column by its storage class; text and blobs bound without a copy, as above.
    Stmt& bind_static(int i, const AuditValue& v) {
        switch (v.type) {
        case SQLITE_INTEGER: return bind(i, v.integer);
        case SQLITE_FLOAT: sqlite3_bind_double(m_stmt.get(), i, v.real); return *this;
        case SQLITE_TEXT: return bind_static(i, v.bytes);
        case SQLITE_BLOB:
            sqlite3_bind_blob(m_stmt.get(), i, v.bytes.data(), static_cast<int>(v.bytes.size()), SQLITE_STATIC);
            return *this;
        default: return bind_null(i);
        }
    }
    Stmt& bind_static(int i, const AuditHash& hash) {
        sqlite3_bind_blob(m_stmt.get(), i, hash.data(), static_cast<int>(hash.size()), SQLITE_STATIC);
        return *this;
    }
    Stmt& bind_null(int i) {
        sqlite3_bind_null(m_stmt.get(), i);
        return *this;
    }
    // SQLITE_ROW, SQLITE_DONE or an error code.
    int step() { return sqlite3_step(m_stmt.get()); }
    void reset() {
        sqlite3_reset(m_stmt.get());
        sqlite3_clear_bindings(m_stmt.get());
    }
    std::int64_t i64(int col) const { return sqlite3_column_int64(m_stmt.get(), col); }
    std::string_view text(int col) const {
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(m_stmt.get(), col));
        int n = sqlite3_column_bytes(m_stmt.get(), col);
        return p == nullptr ? std::string_view() : std::string_view(p, static_cast<std::size_t>(n));
    }
    bool is_null(int col) const { return sqlite3_column_type(m_stmt.get(), col) == SQLITE_NULL; }
    sqlite3* db() const { return m_db; }
    sqlite3_stmt* raw() const { return m_stmt.get(); }

private:
    sqlite3* m_db = nullptr;
    std::unique_ptr<sqlite3_stmt, StmtFinalizer> m_stmt;
};

// Resets a cached statement when it leaves scope, so early returns cannot leave a read open.
class StmtUse {
public:
    explicit StmtUse(Stmt& stmt) : m_stmt(stmt) {}
    ~StmtUse() { m_stmt.reset(); }
    StmtUse(const StmtUse&) = delete;
    StmtUse& operator=(const StmtUse&) = delete;
    Stmt* operator->() { return &m_stmt; }
    Stmt& get() { return m_stmt; }

private:
    Stmt& m_stmt;
};

// The columns of a domain row in the order read_domain() reads them.
inline constexpr const char* k_domain_columns =
    "id, host, is_default, default_redirect, root_url, case_insensitive, forward_query, "
    "cache_max_age_s, negative_max_age_s, https_redirect, hsts_max_age_s, hsts_include_subdomains, "
    "not_found_url, expired_url, not_found_text, gone_text, permanent_max_age_s, stale_while_revalidate_s, "
    "stale_if_error_s, cache_scope, miss_budget, country_header";
// A DomainRecord from a row of k_domain_columns.
DomainRecord read_domain(Stmt& s);

}  // namespace shortlink::store::detail

namespace shortlink::store {

struct Store::Impl {
    std::unique_ptr<sqlite3, detail::DbCloser> db;
    // Prepared once per SQL text and reused; keyed by the text itself.
    std::unordered_map<std::string, std::unique_ptr<detail::Stmt>> statements;
    std::string actor = "unknown";
    bool in_bulk = false;
    bool bulk_create_domains = false;     // put_link() adds a missing domain (defaults)
    std::int64_t bulk_domains_created = 0;
    // The two statements every imported link runs, looked up once rather than by SQL text per
    // row (hashing the text was measurable at 1M rows). Owned by `statements`.
    detail::Stmt* insert_link_stmt = nullptr;
    detail::Stmt* audit_stmt = nullptr;
    // "import" audit rows queued by put_link() and written k_audit_batch at a time by one
    // multi-row INSERT (store_links.cpp); their texts live in pending_text.
    struct PendingAudit {
        std::int64_t at = 0;
        std::int64_t link_id = 0;
        std::size_t host = 0, host_len = 0, code = 0, code_len = 0, after = 0, after_len = 0;  // in pending_text
    };
    std::vector<PendingAudit> pending_audit;
    std::string pending_text;
    detail::Stmt* audit_batch_stmt = nullptr;
    // The end of the audit log's hash chain: the last row's id and hash, read under the write lock
    // by the first audit row of a write transaction and advanced by every row written after it.
    // Starting a write transaction (begin_write, begin_bulk) or ending one forgets it, so it never
    // outlives the lock it was read under and two writers cannot fork the chain.
    bool chain_known = false;
    std::int64_t chain_id = 0;
    detail::AuditHash chain_hash{};
    detail::AuditChainHasher chain_hasher;
    detail::Stmt* insert_links_stmt = nullptr;  // k_link_batch rows (store_links.cpp)
    bool bulk_rowids_sequential = false;  // put_links() may insert a batch per statement
    // Domains by host, filled lazily; cleared whenever a domain changes.
    std::map<std::string, DomainRecord, std::less<>> domain_cache;

    Result<detail::Stmt*> prepare(const std::string& sql);
    Status exec(const char* sql);
    // For statements whose failure changes nothing the caller reports: a ROLLBACK after an
    // error (SQLite also rolls back when the connection closes), a cache-size hint, an
    // opportunistic checkpoint.
    void exec_best_effort(const char* sql) { (void)exec(sql); }
    Status begin_write();             // BEGIN IMMEDIATE unless inside a bulk transaction
    Status commit_write();
    void rollback_write();

    Result<DomainRecord> domain(std::string_view host);
    // Inside a bulk transaction: the domain of `host` from the cache (valid until the cache is
    // next cleared), created with defaults when the bulk allows it (store_links.cpp).
    Result<const DomainRecord*> bulk_domain(Store& store, std::string_view host);
    // Appends one audit row (after any queued import rows); an empty before/after is NULL.
    Status audit(std::string_view action, std::string_view host, std::string_view code,
                 std::int64_t link_id, std::string_view before_json,
                 std::string_view after_json, std::int64_t last_link_id = 0);
    // An audit row of its own transaction, for an event that changes no link or domain (a
    // rollback, a restore): `after_json` describes it.
    Status audit_event(std::string_view action, std::string_view after_json);
    Status write_audit(std::int64_t at, std::string_view action, std::string_view host, std::string_view code,
                       std::int64_t link_id, std::string_view before_json, std::string_view after_json,
                       std::int64_t last_link_id);
    // Queues the "import" row of a link put_link() inserted; writes the queue when it is full.
    Status queue_import_audit(std::int64_t at, std::string_view host, std::string_view code,
                              std::int64_t link_id, std::string_view after_json);
    Status flush_import_audit();  // writes every queued row, in order
    // Reads the end of the chain unless chain_known; refuses outside a write transaction.
    Status load_chain_head();
    // The id (into values[0]) and hash of the next audit row, whose other columns are `values`
    // from index 1 on; advances the chain head. The caller writes the row in the same
    // transaction or, on failure, sets chain_known = false.
    void chain_next(detail::AuditValue (&values)[detail::k_audit_chain_column_count], detail::AuditHash& hash);
};

// Schema and migrations (store_schema.cpp).
// PRAGMA application_id of a shortlink database: "SLNK" (0x534c4e4b), set by migration 3.
inline constexpr std::int32_t k_application_id = 0x534c4e4b;
int current_schema_version();
// The refusal of a database whose schema version is above current_schema_version().
Status newer_schema(int version);
// Brings the database to schema version `target` (tests build older databases with a lower one);
// a database already past `target` is left alone, one newer than this build refused.
Status migrate(sqlite3* db, int target = current_schema_version());

// JSON of a link for the audit log (store_links.cpp): Unix-second times, every field.
std::string link_audit_json(const Link& link);

// Keeps the codes of `domain`'s link blocks spelt as the server looks them up after its case
// rule was set (store_blocks.cpp): folded to ASCII lowercase on a case-insensitive domain, the
// link's own spelling on a case-sensitive one. Runs inside the caller's write transaction.
Status refold_link_blocks(Store::Impl& impl, const DomainRecord& domain);

}  // namespace shortlink::store
