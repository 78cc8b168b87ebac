// The link store: connection set-up, the compiler's view, snapshots, link state names and
// reading the audit trail. Links, their audit rows and bulk import are in store_links.cpp,
// domains in store_domains.cpp, blocks in store_blocks.cpp, the schema in store_schema.cpp.
#include "store/store.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <limits>
#include <utility>

#include "formats/bytes.h"
#include "formats/clock.h"
#include "store/store_internal.h"

namespace shortlink::store {

using detail::Stmt;
using detail::StmtUse;

namespace detail {

Status sqlite_error(sqlite3* db, int rc, std::string_view what) {
    const int primary = rc & 0xff;
    std::string detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
        detail = "the database is locked: another process kept it locked for " +
                 std::to_string(k_busy_timeout_ms / 1000) + " s";
    }
    // Said once, and about the file: "links.db: cannot add link: database or disk is full".
    std::string message(what);
    if (message.find(detail) == std::string::npos) {
        message += (message.empty() ? "" : ": ") + detail;
    }
    const char* file = db != nullptr ? sqlite3_db_filename(db, "main") : nullptr;
    if (file != nullptr && *file != '\0' && message.find(file) == std::string::npos) {
        message = std::string(file) + ": " + message;
    }
    if (primary == SQLITE_CONSTRAINT) {
        return Status::conflict(message);
    }
    if (primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT) {
        return Status::corruption(message);
    }
    return Status::io_error(message);
}


// What the first bytes of every SQLite database file are (its file format, "The Database Header").
constexpr std::string_view k_sqlite_magic("SQLite format 3\0", 16);

Result<FileHead> read_file_head(const std::string& path, std::string_view what) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return Status::io_error("cannot open " + std::string(what) + " " + path + ": " + std::strerror(errno));
    }
    char head[16];
    ssize_t n = ::read(fd, head, sizeof head);
    const int read_errno = errno;
    ::close(fd);
    if (n < 0) {
        return Status::io_error("cannot read " + std::string(what) + " " + path + ": " + std::strerror(read_errno));
    }
    if (n == 0) {
        return FileHead::empty;
    }
    return std::string_view(head, static_cast<std::size_t>(n)) == k_sqlite_magic ? FileHead::sqlite : FileHead::other;
}

}  // namespace detail

namespace {

Status not_a_database(const std::string& path, std::string_view why) {
    return Status::invalid_argument("not a shortlink database: " + path + " (" + std::string(why) + ")");
}

// Refuses what cannot be a database before SQLite opens it: an empty file (SQLite would take it
// for a new database and write one into it) or one without SQLite's header.
Status check_file_header(const std::string& path) {
    auto head = detail::read_file_head(path, "database");
    if (!head) {
        return head.status();
    }
    if (*head == detail::FileHead::empty) {
        return not_a_database(path, "an empty file; `shortlink init` creates a database");
    }
    if (*head == detail::FileHead::other) {
        return not_a_database(path, "not an SQLite database");
    }
    return Status::ok();
}

// Why SQLite could not open or read `path` (rc, the connection's message), naming the usual cause:
// a WAL database needs PATH-wal and PATH-shm created beside it, so a directory this process cannot
// write (a read-only file system, its permissions) fails even a read.
Status cannot_open(sqlite3* db, int rc, const std::string& path) {
    std::string message = "cannot open database " + path + ": " + sqlite3_errmsg(db);
    const int primary = rc & 0xff;
    if (primary == SQLITE_CANTOPEN || primary == SQLITE_READONLY) {
        const std::size_t slash = path.rfind('/');
        const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
        if (::access(dir.c_str(), W_OK) != 0) {
            message += " (cannot write in " + dir + ": " + std::strerror(errno) + "; SQLite keeps " + path +
                       "-wal and " + path + "-shm there)";
        }
    }
    return Status::io_error(message);
}

// Refuses an SQLite database that shortlink did not make, or that a newer shortlink made, by
// reading its header and catalogue only: nothing is written to a file that is not ours. A database
// says it is shortlink's by its application_id (migration 3 on) or, made before that, by a schema
// version 1 or 2 with shortlink's tables.
Status check_is_shortlink(sqlite3* db, const std::string& path) {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT (SELECT application_id FROM pragma_application_id), "
                                "(SELECT user_version FROM pragma_user_version), "
                                "(SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                "name IN ('domains', 'links', 'audit_log', 'snapshots'))",
                                -1, &raw, nullptr);
    std::unique_ptr<sqlite3_stmt, detail::StmtFinalizer> stmt(raw);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt.get());
    }
    if ((rc & 0xff) == SQLITE_NOTADB) {
        return not_a_database(path, "not an SQLite database");
    }
    if (rc != SQLITE_ROW) {
        return cannot_open(db, rc, path);
    }
    const auto application_id = static_cast<std::int32_t>(sqlite3_column_int64(stmt.get(), 0));
    const int version = sqlite3_column_int(stmt.get(), 1);
    const bool has_tables = sqlite3_column_int(stmt.get(), 2) == 4;
    if (application_id != k_application_id && application_id != 0) {
        char id[16];
        std::snprintf(id, sizeof id, "0x%08x", static_cast<unsigned>(application_id));
        return not_a_database(path, std::string("the SQLite database of another program, application_id ") + id);
    }
    if (application_id == 0 && (!has_tables || version < 1)) {
        return not_a_database(path, "an SQLite database without the shortlink schema");
    }
    if (version > current_schema_version()) {
        return Status::invalid_argument("cannot use database " + path + ": " + newer_schema(version).message());
    }
    return Status::ok();
}

// Opens `path` (an existing shortlink database, or with `fresh` the empty file init just made) and
// brings its schema up to date.
Result<std::unique_ptr<Store::Impl>> connect(const std::string& path, bool fresh) {
    // Memory statistics take a global mutex on every allocation; nothing here reads them.
    // Must precede sqlite3_initialize(); later calls fail harmlessly with SQLITE_MISUSE.
    static const int k_config_once = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    (void)k_config_once;
    if (!fresh) {
        if (Status st = check_file_header(path); !st) {
            return st;
        }
    }
    sqlite3* raw = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
    auto impl = std::make_unique<Store::Impl>();
    impl->db.reset(raw);
    if (rc != SQLITE_OK) {
        return cannot_open(raw, rc, path);
    }
    sqlite3_busy_timeout(raw, detail::k_busy_timeout_ms);
    sqlite3_extended_result_codes(raw, 1);
    if (!fresh) {
        if (Status st = check_is_shortlink(raw, path); !st) {
            return st;
        }
    }
    // WAL: readers never block the writer. synchronous=FULL: every commit fsyncs the WAL, so a
    // change that `shortlink` reported as done survives a power loss (NORMAL could lose the last
    // commits). One WAL fsync costs well under a millisecond on the disks measured here
    // (bench/store/README.md), small beside process start-up. The last connection to close
    // checkpoints the WAL into the database and removes it (SQLite's default), so between
    // commands the database is the one file and a plain copy of it is complete.
    for (const char* pragma : {"PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL",
                               "PRAGMA foreign_keys = ON"}) {
        rc = sqlite3_exec(raw, pragma, nullptr, nullptr, nullptr);
        if (rc != SQLITE_OK) {
            return cannot_open(raw, rc, path);
        }
    }
    Status st = migrate(raw);
    if (!st) {
        return st;
    }
    return impl;
}

}  // namespace

namespace detail {

DomainRecord read_domain(Stmt& s) {
    DomainRecord d;
    d.id = s.i64(0);
    d.host = std::string(s.text(1));
    d.is_default = s.i64(2) != 0;
    d.default_redirect = static_cast<std::uint16_t>(s.i64(3));
    d.root_url = std::string(s.text(4));
    d.case_insensitive = s.i64(5) != 0;
    d.forward_query = s.i64(6) != 0;
    d.cache_max_age_s = static_cast<std::uint32_t>(s.i64(7));
    d.negative_max_age_s = static_cast<std::uint32_t>(s.i64(8));
    d.https_redirect = s.i64(9) != 0;
    d.hsts_max_age_s = static_cast<std::uint32_t>(s.i64(10));
    d.hsts_include_subdomains = s.i64(11) != 0;
    d.not_found_url = std::string(s.text(12));
    d.expired_url = std::string(s.text(13));
    d.not_found_text = std::string(s.text(14));
    d.gone_text = std::string(s.text(15));
    d.permanent_max_age_s = static_cast<std::uint32_t>(s.i64(16));
    d.stale_while_revalidate_s = static_cast<std::uint32_t>(s.i64(17));
    d.stale_if_error_s = static_cast<std::uint32_t>(s.i64(18));
    d.cache_scope = std::string(s.text(19));
    d.miss_budget = static_cast<std::uint32_t>(s.i64(20));
    d.country_header = std::string(s.text(21));
    return d;
}

}  // namespace detail

// ---- Impl ---------------------------------------------------------------------------------------

Result<Stmt*> Store::Impl::prepare(const std::string& sql) {
    auto it = statements.find(sql);
    if (it != statements.end()) {
        return it->second.get();
    }
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v3(db.get(), sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(raw);
        return detail::sqlite_error(db.get(), rc, "cannot prepare statement");
    }
    auto stmt = std::make_unique<Stmt>(db.get(), raw);
    Stmt* p = stmt.get();
    statements.emplace(sql, std::move(stmt));
    return p;
}

Status Store::Impl::exec(const char* sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db.get(), sql, nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
        sqlite3_free(err);
        const std::string_view statement(sql);
        const char* what = statement.starts_with("BEGIN")      ? "cannot start a transaction"
                           : statement.starts_with("COMMIT")   ? "cannot commit"
                           : statement.starts_with("ROLLBACK") ? "cannot roll back"
                                                               : "cannot change the database";
        return detail::sqlite_error(db.get(), rc, what);
    }
    return Status::ok();
}

Status Store::Impl::begin_write() {
    if (in_bulk) {
        return Status::ok();
    }
    chain_known = false;  // another writer may have appended since this connection last wrote
    // IMMEDIATE takes the write lock up front: a deferred transaction that reads then writes can
    // fail with SQLITE_BUSY at once when another process writes, bypassing the busy timeout.
    return exec("BEGIN IMMEDIATE");
}

Status Store::Impl::commit_write() {
    if (in_bulk) {
        return Status::ok();
    }
    return exec("COMMIT");
}

void Store::Impl::rollback_write() {
    if (!in_bulk && sqlite3_get_autocommit(db.get()) == 0) {
        chain_known = false;
        exec_best_effort("ROLLBACK");  // the caller reports the error that made it roll back
    }
}

Result<DomainRecord> Store::Impl::domain(std::string_view host) {
    if (host.empty()) {
        host = k_default_host;
    }
    auto it = domain_cache.find(host);
    if (it != domain_cache.end()) {
        return it->second;
    }
    auto stmt = prepare(std::string("SELECT ") + detail::k_domain_columns +
                        " FROM domains WHERE host = ?1 AND removed = 0");
    if (!stmt) {
        return stmt.status();
    }
    StmtUse s(**stmt);
    s->bind(1, host);
    int rc = s->step();
    if (rc == SQLITE_ROW) {
        DomainRecord d = detail::read_domain(s.get());
        domain_cache.emplace(std::string(host), d);
        return d;
    }
    if (rc != SQLITE_DONE) {
        return detail::sqlite_error(db.get(), rc, "cannot read domain");
    }
    return Status::not_found("domain '" + std::string(host) +
                             "' does not exist (add it with `shortlink domain add " + std::string(host) + "`)");
}

Status Store::Impl::audit(std::string_view action, std::string_view host, std::string_view code,
                          std::int64_t link_id, std::string_view before_json,
                          std::string_view after_json, std::int64_t last_link_id) {
    if (!pending_audit.empty()) {
        // Queued import rows go first, so the log keeps the order in which changes were made.
        Status st = flush_import_audit();
        if (!st) {
            return st;
        }
    }
    return write_audit(clock::unix_seconds(), action, host, code, link_id, before_json, after_json, last_link_id);
}

Status Store::Impl::load_chain_head() {
    if (chain_known) {
        return Status::ok();
    }
    if (sqlite3_get_autocommit(db.get()) != 0) {
        // Read and append in one transaction, or another writer could append in between.
        return Status::invalid_argument("an audit row is written only inside a write transaction");
    }
    auto stmt = prepare("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1");
    if (!stmt) {
        return stmt.status();
    }
    StmtUse s(**stmt);
    const int rc = s->step();
    chain_id = 0;
    chain_hash = {};
    if (rc == SQLITE_ROW) {
        chain_id = s->i64(0);
        // A missing or malformed hash (a row written without shortlink) is chained onto as zeros;
        // `history --verify` names that row.
        const detail::AuditValue h = detail::audit_value(s->raw(), 1);
        if (h.type == SQLITE_BLOB && h.bytes.size() == chain_hash.size()) {
            std::memcpy(chain_hash.data(), h.bytes.data(), chain_hash.size());
        }
    } else if (rc != SQLITE_DONE) {
        return detail::sqlite_error(db.get(), rc, "cannot read the audit log");
    }
    chain_known = true;
    return Status::ok();
}

void Store::Impl::chain_next(detail::AuditValue (&values)[detail::k_audit_chain_column_count],
                             detail::AuditHash& hash) {
    chain_id += 1;
    values[0] = detail::AuditValue::of(chain_id);
    hash = chain_hasher.row_hash(chain_hash, values);
    chain_hash = hash;
}

Status Store::Impl::write_audit(std::int64_t at, std::string_view action, std::string_view host,
                                std::string_view code, std::int64_t link_id, std::string_view before_json,
                                std::string_view after_json, std::int64_t last_link_id) {
    if (Status st = load_chain_head(); !st) {
        return st;
    }
    if (audit_stmt == nullptr) {
        auto stmt = prepare("INSERT INTO audit_log (id, at, actor, action, host, code, link_id, before, after, "
                            "last_link_id, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
        if (!stmt) {
            return stmt.status();
        }
        audit_stmt = *stmt;
    }
    using detail::AuditValue;
    AuditValue values[] = {AuditValue::null(),
                           AuditValue::of(at),
                           AuditValue::of(actor),
                           AuditValue::of(action),
                           AuditValue::of(host),
                           AuditValue::of(code),
                           AuditValue::id_or_null(link_id),
                           AuditValue::text_or_null(before_json),
                           AuditValue::text_or_null(after_json),
                           AuditValue::id_or_null(last_link_id)};
    detail::AuditHash hash;
    chain_next(values, hash);
    // Every text is bound without a copy: the statement is stepped and reset before returning.
    StmtUse s(*audit_stmt);
    for (int col = 0; col < detail::k_audit_chain_column_count; ++col) {
        s->bind_static(col + 1, values[col]);
    }
    s->bind_static(detail::k_audit_chain_column_count + 1, hash);
    int rc = s->step();
    if (rc != SQLITE_DONE) {
        chain_known = false;
        return detail::sqlite_error(db.get(), rc, "cannot write the audit log");
    }
    return Status::ok();
}

// ---- Store --------------------------------------------------------------------------------------

Store::Store(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;
Store::~Store() {
    if (m_impl) {
        m_impl->statements.clear();  // finalize statements before the connection closes
    }
}

int Store::schema_version() { return current_schema_version(); }

void Store::set_actor(std::string actor) { m_impl->actor = std::move(actor); }

Result<Store> Store::open(const std::string& path) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) {
        if (errno == ENOENT) {
            return Status::not_found("database " + path + " does not exist (create it with `shortlink init`)");
        }
        return Status::io_error("cannot stat " + path + ": " + std::strerror(errno));
    }
    if (!S_ISREG(info.st_mode)) {
        return Status::invalid_argument(path + " is not a regular file");
    }
    auto impl = connect(path, false);
    if (!impl) {
        return impl.status();
    }
    return Store(std::move(impl).value());
}

Result<Store> Store::create(const std::string& path, const std::string& actor) {
    // O_EXCL: refuse to clobber anything at that path, even an empty file, atomically.
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        if (errno == EEXIST) {
            return Status::conflict(path + " already exists; refusing to overwrite it");
        }
        return Status::io_error("cannot create " + path + ": " + std::strerror(errno));
    }
    ::close(fd);
    auto impl = connect(path, true);
    if (!impl) {
        ::unlink(path.c_str());
        return impl.status();
    }
    Store store(std::move(impl).value());
    store.set_actor(actor);
    Status st = store.m_impl->begin_write();
    if (st) {
        st = store.m_impl->audit("init", k_default_host, "", 0, "", "");
    }
    if (st) {
        st = store.m_impl->commit_write();
    }
    if (!st) {
        store.m_impl->rollback_write();
        return st;
    }
    return store;
}

namespace {

// The highest audit_log id: what a compile in the same read transaction includes.
Result<std::int64_t> read_audit_mark(Store::Impl& impl) {
    auto stmt = impl.prepare("SELECT COALESCE(MAX(id), 0) FROM audit_log");
    if (!stmt) {
        return stmt.status();
    }
    StmtUse s(**stmt);
    const int rc = s->step();
    if (rc != SQLITE_ROW) {
        return detail::sqlite_error(impl.db.get(), rc, "cannot read the audit log");
    }
    return s->i64(0);
}

constexpr const char* k_compile_link_columns =
    "l.domain_id, l.code, l.destination, l.status, l.redirect_type, l.forward_query, l.not_before, "
    "l.expires, l.rules, l.expired_url, l.reserved, l.password_hash";

CompileLinkRow read_compile_link(detail::Stmt& s) {
    CompileLinkRow row;
    row.domain_id = s.i64(0);
    row.code = s.text(1);
    row.destination = s.text(2);
    row.status = static_cast<LinkState>(s.i64(3));
    row.redirect_type = static_cast<std::uint16_t>(s.i64(4));
    row.forward_query = static_cast<int>(s.i64(5));
    row.not_before = s.i64(6);
    row.expires = s.i64(7);
    row.rules = s.text(8);
    row.expired_url = s.text(9);
    row.reserved = s.i64(10) != 0;
    row.password_hash = s.text(11);
    return row;
}

}  // namespace

Status Store::read_for_compile(const std::function<void(const DomainRecord&)>& on_domain,
                               const std::function<void(const CompileLinkRow&)>& on_link,
                               std::int64_t* audit_mark) {
    Status st = m_impl->exec("BEGIN");  // one read snapshot for domains and links
    if (!st) {
        return st;
    }
    auto finish = [&](Status result) {
        Status ended = m_impl->exec("COMMIT");  // ends the read snapshot
        return result.is_ok() ? ended : result;
    };
    if (audit_mark != nullptr) {
        auto mark = read_audit_mark(*m_impl);
        if (!mark) {
            return finish(mark.status());
        }
        *audit_mark = *mark;
    }
    {
        auto stmt = m_impl->prepare(std::string("SELECT ") + detail::k_domain_columns +
                                    " FROM domains WHERE removed = 0 ORDER BY id");
        if (!stmt) {
            return finish(stmt.status());
        }
        StmtUse s(**stmt);
        int rc;
        while ((rc = s->step()) == SQLITE_ROW) {
            on_domain(detail::read_domain(s.get()));
        }
        if (rc != SQLITE_DONE) {
            return finish(detail::sqlite_error(m_impl->db.get(), rc, "cannot read domains"));
        }
    }
    // Table order, not key order: ORDER BY (domain_id, code) either walked the unique index with
    // one random page read per row (2/3 of a 1M-link compile's CPU) or, kept off the index, sorted
    // every row in SQLite's sorter (11% of a 10M-link compile plus temporary files). The compiler
    // does not need an order, so SQLite just scans the table (CROSS JOIN keeps links the outer loop).
    auto stmt = m_impl->prepare(std::string("SELECT ") + k_compile_link_columns +
                                " FROM links l CROSS JOIN domains d ON d.id = l.domain_id "
                                "WHERE d.removed = 0");
    if (!stmt) {
        return finish(stmt.status());
    }
    StmtUse s(**stmt);
    int rc;
    while ((rc = s->step()) == SQLITE_ROW) {
        on_link(read_compile_link(s.get()));
    }
    if (rc != SQLITE_DONE) {
        return finish(detail::sqlite_error(m_impl->db.get(), rc, "cannot read links"));
    }
    return finish(Status::ok());
}

Status Store::read_changes(std::int64_t since,
                           const std::function<bool(const DomainRecord&)>& on_domain,
                           const std::function<void(const CompileLinkRow&)>& on_link,
                           std::int64_t& audit_mark) {
    Status st = m_impl->exec("BEGIN");  // one read snapshot, as read_for_compile
    if (!st) {
        return st;
    }
    auto finish = [&](Status result) {
        Status ended = m_impl->exec("COMMIT");  // ends the read snapshot
        return result.is_ok() ? ended : result;
    };
    auto mark = read_audit_mark(*m_impl);
    if (!mark) {
        return finish(mark.status());
    }
    audit_mark = *mark;
    std::vector<std::int64_t> complete;  // domains whose every link is read
    {
        auto stmt = m_impl->prepare(std::string("SELECT ") + detail::k_domain_columns +
                                    " FROM domains WHERE removed = 0 ORDER BY id");
        if (!stmt) {
            return finish(stmt.status());
        }
        StmtUse s(**stmt);
        int rc;
        while ((rc = s->step()) == SQLITE_ROW) {
            const DomainRecord d = detail::read_domain(s.get());
            if (on_domain(d)) {
                complete.push_back(d.id);
            }
        }
        if (rc != SQLITE_DONE) {
            return finish(detail::sqlite_error(m_impl->db.get(), rc, "cannot read domains"));
        }
    }
    // `skip_complete`: leave out rows of the complete domains, which were read whole already.
    const auto read_links = [&](const std::string& sql, std::int64_t bound, bool skip_complete) -> Status {
        auto stmt = m_impl->prepare(sql);
        if (!stmt) {
            return stmt.status();
        }
        StmtUse s(**stmt);
        s->bind(1, bound);
        int rc;
        while ((rc = s->step()) == SQLITE_ROW) {
            const CompileLinkRow row = read_compile_link(s.get());
            if (!skip_complete ||
                std::find(complete.begin(), complete.end(), row.domain_id) == complete.end()) {
                on_link(row);
            }
        }
        return rc == SQLITE_DONE ? Status::ok()
                                 : detail::sqlite_error(m_impl->db.get(), rc, "cannot read links");
    };
    for (const std::int64_t id : complete) {
        st = read_links(std::string("SELECT ") + k_compile_link_columns +
                            " FROM links l WHERE l.domain_id = ?1",
                        id, false);
        if (!st) {
            return finish(st);
        }
    }
    // Every link an audit row after `since` names: by its id, or in the id range of an early
    // import's batch row. Links keep their ids for ever (deletes are soft), so the current row
    // is the link's current state.
    st = read_links(std::string("SELECT ") + k_compile_link_columns +
                        " FROM links l JOIN domains d ON d.id = l.domain_id AND d.removed = 0 "
                        "WHERE l.id IN (SELECT link_id FROM audit_log WHERE id > ?1 AND link_id IS NOT NULL "
                        "UNION SELECT l2.id FROM links l2 JOIN audit_log a ON a.id > ?1 "
                        "AND a.last_link_id IS NOT NULL AND l2.id BETWEEN a.link_id AND a.last_link_id)",
                    since, true);
    return finish(st);
}

Result<std::uint64_t> Store::reserve_serial(std::string_view kind, std::uint64_t at_least) {
    if (kind != "snapshot" && kind != "patch" && kind != "overlay" && kind != "rollback") {
        return Status::invalid_argument("unknown kind of published file '" + std::string(kind) +
                                        "' (snapshot, patch, overlay or rollback)");
    }
    if (at_least > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return Status::invalid_argument("serial " + std::to_string(at_least) + " is beyond what the store can record");
    }
    Status st = m_impl->begin_write();
    if (!st) {
        return st;
    }
    // MAX(?2, ...) in the INSERT itself: the highest serial is read under the write lock taken
    // by begin_write(), so no other writer can reserve the same one in between.
    auto stmt = m_impl->prepare("INSERT INTO snapshots (serial, state, created_at, kind) "
                                "SELECT MAX(?2, COALESCE(MAX(serial), 0) + 1), 'pending', ?1, ?3 FROM snapshots "
                                "RETURNING serial");
    if (!stmt) {
        m_impl->rollback_write();
        return stmt.status();
    }
    std::uint64_t serial = 0;
    {
        StmtUse s(**stmt);
        s->bind(1, clock::unix_seconds()).bind(2, static_cast<std::int64_t>(at_least)).bind(3, kind);
        int rc = s->step();
        if (rc != SQLITE_ROW) {
            Status err = detail::sqlite_error(m_impl->db.get(), rc, "cannot reserve a serial");
            s.get().reset();
            m_impl->rollback_write();
            return err;
        }
        serial = static_cast<std::uint64_t>(s->i64(0));
        s->step();  // run to completion so the INSERT ... RETURNING finishes
    }
    st = m_impl->commit_write();
    if (!st) {
        m_impl->rollback_write();
        return st;
    }
    return serial;
}

Result<std::uint64_t> Store::highest_serial() {
    auto stmt = m_impl->prepare("SELECT COALESCE(MAX(serial), 0) FROM snapshots");
    if (!stmt) {
        return stmt.status();
    }
    StmtUse s(**stmt);
    int rc = s->step();
    if (rc != SQLITE_ROW) {
        return detail::sqlite_error(m_impl->db.get(), rc, "cannot read the highest serial");
    }
    return static_cast<std::uint64_t>(s->i64(0));
}

Status Store::complete_snapshot(const SnapshotRecord& r) {
    auto stmt = m_impl->prepare("UPDATE snapshots SET state = 'complete', created_at = ?2, sha256_hex = ?3, "
                                "link_count = ?4, domain_count = ?5, bytes = ?6, key_id = ?7, path = ?8, "
                                "audit_mark = ?9 WHERE serial = ?1");
    if (!stmt) {
        return stmt.status();
    }
    StmtUse s(**stmt);
    s->bind(1, static_cast<std::int64_t>(r.serial)).bind(2, r.created_at).bind(3, r.digest_hex);
    s->bind(4, static_cast<std::int64_t>(r.link_count)).bind(5, static_cast<std::int64_t>(r.domain_count));
    s->bind(6, static_cast<std::int64_t>(r.bytes)).bind(7, r.key_id).bind(8, r.path);
    s->bind(9, r.audit_mark);
    int rc = s->step();
    if (rc != SQLITE_DONE) {
        return detail::sqlite_error(m_impl->db.get(), rc, "cannot record the snapshot");
    }
    if (sqlite3_changes(m_impl->db.get()) == 0) {
        return Status::not_found("snapshot serial " + std::to_string(r.serial) + " was never reserved");
    }
    return Status::ok();
}

Status Store::release_serial(std::uint64_t serial) {
    auto stmt = m_impl->prepare("DELETE FROM snapshots WHERE serial = ?1 AND state = 'pending'");
    if (!stmt) {
        return stmt.status();
    }
    StmtUse s(**stmt);
    s->bind(1, static_cast<std::int64_t>(serial));
    const int rc = s->step();
    if (rc != SQLITE_DONE) {
        return detail::sqlite_error(m_impl->db.get(), rc, "cannot release serial " + std::to_string(serial));
    }
    return Status::ok();
}

Status Store::Impl::audit_event(std::string_view action, std::string_view after_json) {
    if (Status st = begin_write(); !st) {
        return st;
    }
    if (Status st = audit(action, "", "", 0, "", after_json); !st) {
        rollback_write();
        return st;
    }
    return commit_write();
}

Status Store::record_rollback(std::uint64_t content_of, std::uint64_t serial, std::string_view path) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("content_of");
    w.Uint64(content_of);
    w.Key("serial");
    w.Uint64(serial);
    w.Key("path");
    w.String(path.data(), static_cast<rapidjson::SizeType>(path.size()));
    w.EndObject();
    return m_impl->audit_event("rollback", buf.GetString());
}

namespace {

constexpr const char* k_snapshot_columns =
    "serial, created_at, sha256_hex, link_count, domain_count, bytes, key_id, path, kind, audit_mark";

SnapshotRecord read_snapshot_record(detail::Stmt& s) {
    SnapshotRecord r;
    r.serial = static_cast<std::uint64_t>(s.i64(0));
    r.created_at = s.i64(1);
    r.digest_hex = std::string(s.text(2));
    r.link_count = static_cast<std::uint64_t>(s.i64(3));
    r.domain_count = static_cast<std::uint32_t>(s.i64(4));
    r.bytes = static_cast<std::uint64_t>(s.i64(5));
    r.key_id = std::string(s.text(6));
    r.path = std::string(s.text(7));
    r.kind = std::string(s.text(8));
    r.audit_mark = s.i64(9);
    return r;
}

}  // namespace

Result<SnapshotRecord> Store::find_snapshot(std::uint64_t serial) {
    auto stmt = m_impl->prepare(std::string("SELECT ") + k_snapshot_columns +
                                " FROM snapshots WHERE serial = ?1 AND state = 'complete'");
    if (!stmt) {
        return stmt.status();
    }
    StmtUse s(**stmt);
    s->bind(1, static_cast<std::int64_t>(serial));
    const int rc = s->step();
    if (rc == SQLITE_ROW) {
        return read_snapshot_record(s.get());
    }
    if (rc != SQLITE_DONE) {
        return detail::sqlite_error(m_impl->db.get(), rc, "cannot read the published files");
    }
    return Status::not_found("serial " + std::to_string(serial) + " was not published from this database");
}

Result<std::vector<SnapshotRecord>> Store::list_snapshots() {
    auto stmt = m_impl->prepare(std::string("SELECT ") + k_snapshot_columns +
                                " FROM snapshots WHERE state = 'complete' ORDER BY serial");
    if (!stmt) {
        return stmt.status();
    }
    StmtUse s(**stmt);
    std::vector<SnapshotRecord> out;
    int rc;
    while ((rc = s->step()) == SQLITE_ROW) {
        out.push_back(read_snapshot_record(s.get()));
    }
    if (rc != SQLITE_DONE) {
        return detail::sqlite_error(m_impl->db.get(), rc, "cannot list snapshots");
    }
    return out;
}

Status Store::history(std::string_view host, std::string_view code, std::int64_t limit,
                      const std::function<bool(const AuditRecord&)>& on_record) {
    std::int64_t link_id = 0;
    if (!code.empty()) {
        auto link = get_link(host, code);
        if (!link) {
            return link.status();
        }
        link_id = link->id;
    }
    auto stmt = m_impl->prepare(
        "SELECT id, at, actor, action, host, code, COALESCE(before, ''), COALESCE(after, '') FROM audit_log "
        "WHERE ?1 = 0 AND (?2 = '' OR host = ?2) "
        "UNION ALL SELECT id, at, actor, action, host, code, COALESCE(before, ''), COALESCE(after, '') "
        "FROM audit_log WHERE ?1 != 0 AND link_id = ?1 AND last_link_id IS NULL "
        "UNION ALL SELECT id, at, actor, action, ?2, ?4, COALESCE(before, ''), COALESCE(after, '') "
        "FROM audit_log WHERE ?1 != 0 AND last_link_id IS NOT NULL AND link_id <= ?1 AND last_link_id >= ?1 "
        "ORDER BY id DESC LIMIT ?3");
    if (!stmt) {
        return stmt.status();
    }
    StmtUse s(**stmt);
    std::string shown_host = code.empty() ? std::string(host) : (host.empty() ? std::string(k_default_host) : std::string(host));
    s->bind(1, link_id).bind(2, shown_host).bind(3, limit > 0 ? limit : -1).bind(4, code);
    int rc;
    while ((rc = s->step()) == SQLITE_ROW) {
        AuditRecord r;
        r.id = s->i64(0);
        r.at = s->i64(1);
        r.actor = std::string(s->text(2));
        r.action = std::string(s->text(3));
        r.host = std::string(s->text(4));
        r.code = std::string(s->text(5));
        r.before_json = std::string(s->text(6));
        r.after_json = std::string(s->text(7));
        if (!on_record(r)) {
            return Status::ok();
        }
    }
    if (rc != SQLITE_DONE) {
        return detail::sqlite_error(m_impl->db.get(), rc, "cannot read the audit log");
    }
    return Status::ok();
}

Result<AuditChainHead> Store::verify_audit_log() {
    Status st = m_impl->exec("BEGIN");  // one read snapshot: a writer appending meanwhile is not seen
    if (!st) {
        return st;
    }
    auto finish = [&](Result<AuditChainHead> result) -> Result<AuditChainHead> {
        Status ended = m_impl->exec("COMMIT");  // ends the read snapshot
        if (result.is_ok() && !ended) {
            return ended;
        }
        return result;
    };
    auto stmt = m_impl->prepare(std::string("SELECT ") + detail::k_audit_chain_columns +
                                ", hash FROM audit_log ORDER BY id");
    if (!stmt) {
        return finish(stmt.status());
    }
    AuditChainHead head;
    detail::AuditChainHasher hasher;
    detail::AuditHash previous{};
    {
        StmtUse s(**stmt);
        const auto row = [](std::int64_t id) { return "audit row " + std::to_string(id) + ": "; };
        int rc;
        while ((rc = s->step()) == SQLITE_ROW) {
            detail::AuditValue values[detail::k_audit_chain_column_count];
            for (int col = 0; col < detail::k_audit_chain_column_count; ++col) {
                values[col] = detail::audit_value(s->raw(), col);
            }
            const std::int64_t id = values[0].integer;
            const std::int64_t expected = head.last_id + 1;
            if (id != expected) {
                const std::string missing = id == expected + 1
                                                ? "row " + std::to_string(expected) + " is missing"
                                                : "rows " + std::to_string(expected) + " to " +
                                                      std::to_string(id - 1) + " are missing";
                return finish(Status::corruption(row(id) + (head.last_id == 0 ? "the log starts here: "
                                                                                  : "follows row " +
                                                                                        std::to_string(head.last_id) + ": ") +
                                                 missing + " (removed?)"));
            }
            const detail::AuditValue stored = detail::audit_value(s->raw(), detail::k_audit_chain_column_count);
            if (stored.type != SQLITE_BLOB || stored.bytes.size() != previous.size()) {
                return finish(Status::corruption(row(id) + "has no chain hash (written without shortlink?)"));
            }
            const detail::AuditHash computed = hasher.row_hash(previous, values);
            if (std::memcmp(computed.data(), stored.bytes.data(), computed.size()) != 0) {
                return finish(Status::corruption(
                    row(id) + "its hash does not match its contents chained to " +
                    (head.last_id == 0 ? std::string("the start of the log") : "row " + std::to_string(head.last_id)) +
                    " (the row was changed, or the one before it was replaced)"));
            }
            previous = computed;
            head.last_id = id;
            head.rows += 1;
        }
        if (rc != SQLITE_DONE) {
            return finish(detail::sqlite_error(m_impl->db.get(), rc, "cannot read the audit log"));
        }
    }
    // Rows removed from the end leave the chain intact; a snapshot compiled from rows past the
    // last one shows it. (Anything else needs an anchor kept outside the database: the head.)
    auto marks = m_impl->prepare("SELECT serial, audit_mark FROM snapshots WHERE state = 'complete' "
                                 "ORDER BY audit_mark DESC LIMIT 1");
    if (!marks) {
        return finish(marks.status());
    }
    {
        StmtUse s(**marks);
        const int rc = s->step();
        if (rc == SQLITE_ROW && s->i64(1) > head.last_id) {
            return finish(Status::corruption(
                "audit row " + std::to_string(head.last_id + 1) + ": missing: the log ends at row " +
                std::to_string(head.last_id) + " but serial " + std::to_string(s->i64(0)) +
                " was compiled from rows up to " + std::to_string(s->i64(1)) + " (rows removed from the end?)"));
        }
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            return finish(detail::sqlite_error(m_impl->db.get(), rc, "cannot read the published files"));
        }
    }
    if (head.last_id > 0) {
        head.hash_hex = formats::bytes::hex_encode(previous.data(), previous.size());
    }
    return finish(head);
}

}  // namespace shortlink::store
