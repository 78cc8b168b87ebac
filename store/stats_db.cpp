// The stats database: opening it, its schema, the dictionaries and reading raw chunks. Ingest is
// in stats_ingest.cpp, queries and export in stats_query.cpp. See stats_db.h.
#include "store/stats_db.h"

#include <fcntl.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iterator>

#include "store/stats_internal.h"

namespace shortlink::stats {

using store::detail::Stmt;
using store::detail::StmtUse;

namespace {

// Migration 1. docs/stats.md explains every table. Times are Unix milliseconds, days are
// time_ms / 86400000 (UTC). Keys that queries range over come first in each primary key; the
// rollups are WITHOUT ROWID so a row is one B-tree entry. daily_by_link covers the columns a
// query sums (not the dims), so one link's rows or every link's grouped by link stream from the
// index alone. daily_values holds the dims' cells and the totals summed over the links, which is
// what a ranking of countries, devices, ... or a series over every link reads.
constexpr const char* k_migration_1 = R"sql(
PRAGMA application_id = 1397510996;
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE segments (
    id         INTEGER PRIMARY KEY,
    segment_id TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    opened_ms  INTEGER NOT NULL,
    bytes_read INTEGER NOT NULL,
    blocks     INTEGER NOT NULL,
    events     INTEGER NOT NULL,
    complete   INTEGER NOT NULL DEFAULT 0 CHECK (complete BETWEEN 0 AND 1),
    damage     TEXT,
    read_at_ms INTEGER NOT NULL
);
CREATE TABLE links (
    id     INTEGER PRIMARY KEY,
    domain TEXT NOT NULL,
    code   TEXT NOT NULL,
    UNIQUE (domain, code)
);
CREATE INDEX links_by_code ON links (code);
CREATE TABLE referrers (
    id   INTEGER PRIMARY KEY,
    host TEXT NOT NULL UNIQUE
);
CREATE TABLE raw_chunks (
    id       INTEGER PRIMARY KEY,
    segment  INTEGER NOT NULL,
    first_ms INTEGER NOT NULL,
    last_ms  INTEGER NOT NULL,
    events   INTEGER NOT NULL,
    encoding INTEGER NOT NULL,
    data     BLOB NOT NULL
);
CREATE INDEX raw_chunks_by_time ON raw_chunks (first_ms, last_ms);
CREATE TABLE daily (
    day      INTEGER NOT NULL,
    link     INTEGER NOT NULL,
    outcome  INTEGER NOT NULL,
    is_bot   INTEGER NOT NULL,
    clicks   INTEGER NOT NULL,
    visitors INTEGER NOT NULL,
    dims     BLOB NOT NULL,
    PRIMARY KEY (day, link, outcome, is_bot)
) WITHOUT ROWID;
CREATE INDEX daily_by_link ON daily (link, day, outcome, is_bot, clicks, visitors);
CREATE TABLE daily_values (
    dim      INTEGER NOT NULL,
    day      INTEGER NOT NULL,
    outcome  INTEGER NOT NULL,
    is_bot   INTEGER NOT NULL,
    value    INTEGER NOT NULL,
    clicks   INTEGER NOT NULL,
    visitors INTEGER NOT NULL,
    PRIMARY KEY (dim, day, outcome, is_bot, value)
) WITHOUT ROWID;
CREATE TABLE pending_days (
    day INTEGER PRIMARY KEY
);
CREATE TABLE day_events (
    day    INTEGER PRIMARY KEY,
    events INTEGER NOT NULL
);
)sql";
static_assert(k_application_id == 1397510996, "migration 1 writes k_application_id");

constexpr const char* k_migrations[] = {k_migration_1};
constexpr int k_schema_version = static_cast<int>(std::size(k_migrations));

// Another process's ingest may hold the write lock for one segment's transaction (seconds).
constexpr int k_busy_timeout_ms = 60000;
// Page cache of one connection: rollups of a busy day and the B-tree pages they touch stay in it.
constexpr const char* k_cache_size = "PRAGMA cache_size = -65536";  // KiB, i.e. 64 MiB

Status not_stats(const std::string& path, std::string_view why) {
    return Status::invalid_argument("not a shortlink stats database: " + path + " (" + std::string(why) + ")");
}

Status exec_sql(sqlite3* db, const char* sql, std::string_view what) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
        std::string message = std::string(what) + ": " + (err != nullptr ? err : sqlite3_errstr(rc));
        sqlite3_free(err);
        return store::detail::sqlite_error(nullptr, rc, message);
    }
    return Status::ok();
}

Result<std::int64_t> single_int(sqlite3* db, const char* sql) {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(db, sql, -1, &raw, nullptr);
    std::unique_ptr<sqlite3_stmt, store::detail::StmtFinalizer> stmt(raw);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt.get());
    }
    if (rc != SQLITE_ROW) {
        return store::detail::sqlite_error(db, rc, sql);
    }
    return static_cast<std::int64_t>(sqlite3_column_int64(stmt.get(), 0));
}

// Refuses what cannot be a stats database before SQLite opens it for writing.
Status check_file(const std::string& path) {
    auto head = store::detail::read_file_head(path, "stats database");
    if (!head) {
        return head.status();
    }
    if (*head == store::detail::FileHead::empty) {
        return not_stats(path, "an empty file");
    }
    if (*head == store::detail::FileHead::other) {
        return not_stats(path, "not an SQLite database");
    }
    return Status::ok();
}

Status check_identity(sqlite3* db, const std::string& path) {
    auto id = single_int(db, "PRAGMA application_id");
    if (!id) {
        if ((sqlite3_errcode(db) & 0xff) == SQLITE_NOTADB) {
            return not_stats(path, "not an SQLite database");
        }
        return Status::io_error("cannot read stats database " + path + ": " + id.status().message());
    }
    const auto application_id = static_cast<std::int32_t>(*id);
    if (application_id == store::k_application_id) {
        return not_stats(path, "it is a shortlink links database; stats keeps its own file, see --stats-db");
    }
    if (application_id != k_application_id) {
        if (application_id == 0) {
            return not_stats(path, "an SQLite database without the stats schema");
        }
        char text[16];
        std::snprintf(text, sizeof text, "0x%08x", static_cast<unsigned>(application_id));
        return not_stats(path, std::string("the SQLite database of another program, application_id ") + text);
    }
    auto version = single_int(db, "PRAGMA user_version");
    if (!version) {
        return version.status();
    }
    if (*version > k_schema_version) {
        return Status::invalid_argument("cannot use stats database " + path + ": made by a newer shortlink (schema " +
                                        std::to_string(*version) + ", this build knows " +
                                        std::to_string(k_schema_version) + "; upgrade shortlink)");
    }
    return Status::ok();
}

// The decompressed size of consecutive zstd frames that each declare theirs; ZSTD_CONTENTSIZE_ERROR
// for anything else (the sum of ZSTD_getFrameContentSize over ZSTD_findFrameCompressedSize steps).
unsigned long long frames_content_size(const void* data, std::size_t size) {
    const auto* p = static_cast<const char*>(data);
    unsigned long long total = 0;
    while (size > 0) {
        const std::size_t frame = ZSTD_findFrameCompressedSize(p, size);
        const unsigned long long content = ZSTD_getFrameContentSize(p, size);
        if (ZSTD_isError(frame) != 0U || content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN ||
            total + content < total) {
            return ZSTD_CONTENTSIZE_ERROR;
        }
        total += content;
        p += frame;
        size -= frame;
    }
    return total;
}

}  // namespace

Status migrate_stats(sqlite3* db) {
    auto version = single_int(db, "PRAGMA user_version");
    if (!version) {
        return version.status();
    }
    for (int v = static_cast<int>(*version); v < k_schema_version; ++v) {
        Status st = exec_sql(db, "BEGIN IMMEDIATE", "migrate");
        if (!st) {
            return st;
        }
        // Read again under the write lock: another process may have migrated meanwhile.
        auto now = single_int(db, "PRAGMA user_version");
        if (now && *now > v) {
            (void)exec_sql(db, "ROLLBACK", "migrate");
            continue;
        }
        st = exec_sql(db, k_migrations[v], "stats schema migration");
        if (st) {
            const std::string set = "PRAGMA user_version = " + std::to_string(v + 1);
            st = exec_sql(db, set.c_str(), "set user_version");
        }
        if (st) {
            st = exec_sql(db, "COMMIT", "migrate");
        }
        if (!st) {
            (void)exec_sql(db, "ROLLBACK", "migrate");
            return st;
        }
    }
    return Status::ok();
}

Result<StatsDb> StatsDb::open(const std::string& path, bool create) {
    // Memory statistics take a global mutex on every allocation; nothing here reads them.
    static const int k_config_once = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    (void)k_config_once;
    const bool exists = ::access(path.c_str(), F_OK) == 0;
    if (!exists && !create) {
        return Status::not_found("no stats database at " + path +
                                 " (`shortlink stats ingest DIR` makes one; --stats-db names another)");
    }
    if (exists) {
        if (Status st = check_file(path); !st) {
            return st;
        }
    }
    sqlite3* raw = nullptr;
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (exists ? 0 : SQLITE_OPEN_CREATE);
    int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
    auto impl = std::make_unique<Impl>();
    impl->db.reset(raw);
    impl->path = path;
    if (rc != SQLITE_OK) {
        return Status::io_error("cannot open stats database " + path + ": " +
                                (raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
    }
    sqlite3_busy_timeout(raw, k_busy_timeout_ms);
    sqlite3_extended_result_codes(raw, 1);
    if (exists) {
        if (Status st = check_identity(raw, path); !st) {
            return st;
        }
    }
    // A new database gets 64 KiB pages: raw chunks are blobs of up to 768 KiB, and with SQLite's
    // 4 KiB pages an ingest made a write call per page, several hundred thousand of them for 10M
    // events. It only takes effect before the first table (an existing file keeps its size).
    if (!exists) {
        if (Status st = exec_sql(raw, "PRAGMA page_size = 65536", path); !st) {
            return Status::io_error("cannot create stats database " + path + ": " + st.message());
        }
    }
    // WAL: queries read while an ingest writes. synchronous=NORMAL: a power loss may undo the last
    // commits, and then their segments' progress with them, so the next ingest reads them again;
    // nothing is counted twice or lost, and a commit costs no fsync.
    for (const char* pragma : {"PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL", k_cache_size}) {
        if (Status st = exec_sql(raw, pragma, path); !st) {
            return Status::io_error("cannot open stats database " + path + ": " + st.message());
        }
    }
    if (Status st = migrate_stats(raw); !st) {
        return st;
    }
    return StatsDb(std::move(impl));
}

StatsDb::StatsDb(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
StatsDb::StatsDb(StatsDb&&) noexcept = default;
StatsDb& StatsDb::operator=(StatsDb&&) noexcept = default;
StatsDb::~StatsDb() = default;

// ---- Impl ---------------------------------------------------------------------------------------

Result<Stmt*> StatsDb::Impl::prepare(const std::string& sql) {
    auto it = statements.find(sql);
    if (it != statements.end()) {
        return it->second.get();
    }
    sqlite3_stmt* raw = nullptr;
    const int rc = sqlite3_prepare_v3(db.get(), sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(raw);
        return store::detail::sqlite_error(db.get(), rc, "cannot prepare statement");
    }
    auto stmt = std::make_unique<Stmt>(db.get(), raw);
    Stmt* p = stmt.get();
    statements.emplace(sql, std::move(stmt));
    return p;
}

Status StatsDb::Impl::exec(const char* sql) { return exec_sql(db.get(), sql, sql); }

void StatsDb::Impl::rollback() {
    if (sqlite3_get_autocommit(db.get()) == 0) {
        (void)exec("ROLLBACK");  // the caller reports the error that made it roll back
    }
    // Ids added in the transaction are gone with it.
    links.clear();
    referrers.clear();
    clear_pending_links();
}

Result<std::int64_t> StatsDb::Impl::meta(std::string_view key) {
    auto stmt = prepare("SELECT value FROM meta WHERE key = ?1");
    if (!stmt) {
        return stmt.status();
    }
    StmtUse s(**stmt);
    s->bind(1, key);
    const int rc = s->step();
    if (rc == SQLITE_ROW) {
        return s->i64(0);
    }
    if (rc != SQLITE_DONE) {
        return store::detail::sqlite_error(db.get(), rc, "cannot read stats meta");
    }
    return std::int64_t{0};
}

Status StatsDb::Impl::set_meta(std::string_view key, std::int64_t value) {
    auto stmt = prepare("INSERT INTO meta (key, value) VALUES (?1, ?2) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    if (!stmt) {
        return stmt.status();
    }
    StmtUse s(**stmt);
    s->bind(1, key).bind(2, value);
    const int rc = s->step();
    return rc == SQLITE_DONE ? Status::ok() : store::detail::sqlite_error(db.get(), rc, "cannot write stats meta");
}

// The id of a dictionary row, added when `create`: INSERT first (the common case while ingesting
// new segments is a string not seen before), SELECT when it was there. 0 when absent and not
// created.
Result<std::int64_t> StatsDb::Impl::dictionary_id(const char* insert_sql, const char* select_sql,
                                                  std::string_view a, std::string_view b, bool create) {
    for (const char* sql : {create ? insert_sql : select_sql, select_sql}) {
        auto stmt = prepare(sql);
        if (!stmt) {
            return stmt.status();
        }
        StmtUse s(**stmt);
        s->bind_static(1, a);
        if (sqlite3_bind_parameter_count(s->raw()) == 2) {
            s->bind_static(2, b);
        }
        const int rc = s->step();
        if (rc == SQLITE_ROW) {
            return s->i64(0);
        }
        if (rc != SQLITE_DONE) {
            return store::detail::sqlite_error(db.get(), rc, "cannot read or add a link or referrer");
        }
        if (!create) {
            break;
        }
        create = false;
    }
    return std::int64_t{0};
}

// A link's id; new links are added by settle_links().
constexpr const char* k_find_link = "SELECT id FROM links WHERE domain = ?1 AND code = ?2";

Result<std::int64_t> StatsDb::Impl::link_id(std::string_view domain, std::string_view code, bool create) {
    key_buffer.clear();
    key_buffer.push_back(static_cast<char>(domain.size() & 0xff));
    key_buffer.push_back(static_cast<char>(domain.size() >> 8 & 0xff));
    key_buffer.append(domain);
    key_buffer.append(code);
    const std::int64_t* known = links.find(key_buffer);
    if (known != nullptr && (*known < detail::k_temporary_link || *known >= detail::k_pending_link || !create)) {
        return *known;
    }
    if (create) {
        const std::int64_t pending = detail::k_pending_link + static_cast<std::int64_t>(pending_keys.size());
        pending_keys.push_back(key_buffer);
        links.set(key_buffer, pending);
        return pending;
    }
    auto id = dictionary_id(k_find_link, k_find_link, domain, code, false);
    if (!id) {
        return id;
    }
    const std::int64_t value = *id != 0 ? *id : next_temporary_link++;
    links.set(key_buffer, value);
    return value;
}

Status StatsDb::Impl::settle_links() {
    if (settled_ids.size() == pending_keys.size()) {
        return Status::ok();
    }
    std::vector<std::uint32_t> order(pending_keys.size() - settled_ids.size());
    for (std::size_t i = 0; i < order.size(); ++i) {
        order[i] = static_cast<std::uint32_t>(settled_ids.size() + i);
    }
    std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) { return pending_keys[a] < pending_keys[b]; });
    settled_ids.resize(pending_keys.size());
    auto insert = prepare("INSERT OR IGNORE INTO links (domain, code) VALUES (?1, ?2)");
    if (!insert) {
        return insert.status();
    }
    for (const std::uint32_t i : order) {
        const std::string& key = pending_keys[i];
        const std::size_t domain_size = static_cast<unsigned char>(key[0]) | static_cast<std::size_t>(static_cast<unsigned char>(key[1])) << 8;
        const std::string_view domain = std::string_view(key).substr(2, domain_size);
        const std::string_view code = std::string_view(key).substr(2 + domain_size);
        std::int64_t id = 0;
        {
            // A plain insert: RETURNING and an upsert clause cost several times the insert itself.
            StmtUse s(**insert);
            s->bind_static(1, domain).bind_static(2, code);
            const int rc = s->step();
            if (rc != SQLITE_DONE) {
                return store::detail::sqlite_error(db.get(), rc, "cannot add a link");
            }
            if (sqlite3_changes(db.get()) == 1) {
                id = sqlite3_last_insert_rowid(db.get());
            }
        }
        if (id == 0) {  // another ingest added it since this one's dictionary was filled
            auto known = dictionary_id(k_find_link, k_find_link, domain, code, false);
            if (!known) {
                return known.status();
            }
            id = *known;
        }
        if (id == 0) {
            return Status::corruption("stats database " + path + ": link " + std::string(code) + " on " +
                                      std::string(domain) + " was neither added nor found");
        }
        settled_ids[i] = id;
        links.set(key, id);
    }
    return Status::ok();
}

void StatsDb::Impl::clear_pending_links() {
    if (settled_ids.size() != pending_keys.size()) {
        links.clear();  // it holds pending ids that will never be settled
    }
    pending_keys.clear();
    settled_ids.clear();
}

Result<std::int64_t> StatsDb::Impl::referrer_id(std::string_view host, bool create) {
    if (host.empty()) {
        return std::int64_t{0};
    }
    if (const std::int64_t* known = referrers.find(host); known != nullptr &&
                                                           (*known < detail::k_temporary_link || !create)) {
        return *known;
    }
    auto id = dictionary_id("INSERT INTO referrers (host) VALUES (?1) ON CONFLICT DO NOTHING RETURNING id",
                            "SELECT id FROM referrers WHERE host = ?1", host, {}, create);
    if (!id) {
        return id;
    }
    const std::int64_t value = *id != 0 ? *id : next_temporary_link++;
    referrers.set(host, value);
    return value;
}

Status StatsDb::Impl::agg_event(const formats::clicks::Event& e, std::int64_t bucket_ms, bool create,
                                detail::AggEvent& out) {
    out.bucket = bucket_of(e.time_ms, bucket_ms);
    auto link = link_id(e.domain, e.code, create);
    if (!link) {
        return link.status();
    }
    auto referrer = referrer_id(e.referrer, create);
    if (!referrer) {
        return referrer.status();
    }
    out.link = *link;
    out.visitor = e.visitor;
    out.outcome = e.outcome;
    out.is_bot = e.bot != 0 ? 1 : 0;
    detail::DimValues& v = out.values;
    v.country = e.country[0] == 0 ? 0 : static_cast<std::uint16_t>(detail::pack_country(e.country[0], e.country[1]));
    v.device = e.device;
    v.os = e.os;
    v.browser = e.browser;
    v.referrer = static_cast<std::uint64_t>(*referrer);
    v.bot = e.bot;
    v.qr = (e.flags & formats::clicks::k_event_qr) != 0 ? 1 : 0;
    return Status::ok();
}

Status StatsDb::Impl::scan_raw(std::int64_t since_ms, std::int64_t until_ms,
                               const std::function<Status(const formats::clicks::Event&)>& each) {
    auto stmt = prepare("SELECT id, encoding, events, data FROM raw_chunks "
                        "WHERE first_ms < ?2 AND last_ms >= ?1 ORDER BY first_ms, id");
    if (!stmt) {
        return stmt.status();
    }
    StmtUse s(**stmt);
    s->bind(1, since_ms).bind(2, until_ms);
    std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> dctx(ZSTD_createDCtx(), &ZSTD_freeDCtx);
    if (!dctx) {
        return Status::io_error("zstd: out of memory");
    }
    std::string& events = chunk_buffer;
    int rc = SQLITE_ROW;
    while ((rc = s->step()) == SQLITE_ROW) {
        const std::int64_t id = s->i64(0);
        const auto bad = [&](const std::string& what) {
            return Status::corruption("stats database " + path + ": raw chunk " + std::to_string(id) + ": " + what);
        };
        if (s->i64(1) != k_chunk_encoding) {
            return bad("unknown encoding " + std::to_string(s->i64(1)));
        }
        const auto count = static_cast<std::uint64_t>(s->i64(2));
        const void* data = sqlite3_column_blob(s->raw(), 3);
        const auto size = static_cast<std::size_t>(sqlite3_column_bytes(s->raw(), 3));
        // One or more frames, each declaring its size (the segment's blocks, copied).
        const unsigned long long content = frames_content_size(data, size);
        if (content == ZSTD_CONTENTSIZE_ERROR || content > count * formats::clicks::k_max_event_size) {
            return bad("not zstd frames of its " + std::to_string(count) + " events");
        }
        events.resize(content);
        const std::size_t got = ZSTD_decompressDCtx(dctx.get(), events.data(), events.size(), data, size);
        if (ZSTD_isError(got) != 0U || got != content) {
            return bad("zstd: " + std::string(ZSTD_isError(got) != 0U ? ZSTD_getErrorName(got) : "short frames"));
        }
        formats::clicks::EventCursor cursor(events);
        formats::clicks::Event e;
        while (cursor.next(e)) {
            if (e.time_ms >= since_ms && e.time_ms < until_ms) {
                if (Status st = each(e); !st) {
                    return st;
                }
            }
        }
        if (!cursor.error().empty() || cursor.parsed() != count) {
            return bad(cursor.error().empty() ? "holds " + std::to_string(cursor.parsed()) + " events, not " +
                                                    std::to_string(count)
                                              : cursor.error());
        }
    }
    if (rc != SQLITE_DONE) {
        return store::detail::sqlite_error(db.get(), rc, "cannot read raw events");
    }
    return Status::ok();
}

// ---- names and small parsers --------------------------------------------------------------------

namespace {
constexpr std::string_view k_group_names[] = {"none",   "link", "day",     "hour",     "outcome", "country",
                                              "device", "os",   "browser", "referrer", "bot",     "qr"};
}  // namespace

std::string_view group_by_name(GroupBy by) { return k_group_names[static_cast<std::size_t>(by)]; }

std::optional<GroupBy> parse_group_by(std::string_view name) {
    for (std::size_t i = 0; i < std::size(k_group_names); ++i) {
        if (k_group_names[i] == name) {
            return static_cast<GroupBy>(i);
        }
    }
    return std::nullopt;
}

const std::vector<std::uint8_t>& default_outcomes() {
    static const std::vector<std::uint8_t> k_outcomes = {
        static_cast<std::uint8_t>(formats::clicks::Outcome::redirect),
        static_cast<std::uint8_t>(formats::clicks::Outcome::password_ok),
    };
    return k_outcomes;
}

std::string default_path(std::string_view links_db_path) {
    const std::size_t slash = links_db_path.rfind('/');
    if (slash == std::string_view::npos) {
        return "stats.db";
    }
    return std::string(links_db_path.substr(0, slash + 1)) + "stats.db";
}

Result<std::int64_t> parse_retention(std::string_view text) {
    const auto bad = [&](const char* why) {
        return Status::invalid_argument("retention '" + std::string(text) + "' " + why +
                                        " (expected a number of hours or days, like 36h or 90d)");
    };
    std::int64_t value = 0;
    std::size_t i = 0;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
        if (value > 1'000'000) {
            return bad("is too long");
        }
        value = value * 10 + (text[i] - '0');
    }
    if (i == 0 || i + 1 != text.size()) {
        return bad("is not valid");
    }
    const std::int64_t unit = text[i] == 'h' ? k_hour_ms : text[i] == 'd' ? k_day_ms : 0;
    if (unit == 0) {
        return bad("has an unknown unit (use h or d)");
    }
    if (value == 0) {
        return bad("is zero");
    }
    return value * unit;
}

}  // namespace shortlink::stats
