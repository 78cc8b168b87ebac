// Backups of the link store: the online copy `shortlink backup` compresses, the checks a restored
// copy passes before it is used, and the swap of a restored copy into a live database.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <chrono>
#include <string>

#include "store/store.h"
#include "store/store_internal.h"

namespace shortlink::store {

namespace {

// How long a copy waits between attempts when the source or target is locked by another process.
constexpr int k_copy_retry_ms = 50;

using DbPtr = std::unique_ptr<sqlite3, detail::DbCloser>;

// Copies every page of `from` into `to` in one step, so the copy is one read transaction on the
// source and one write transaction on the target. Waits for locks up to the store's busy timeout.
Status copy_database(sqlite3* from, sqlite3* to, const std::string& to_path) {
    sqlite3_backup* backup = sqlite3_backup_init(to, "main", from, "main");
    if (backup == nullptr) {
        return detail::sqlite_error(to, sqlite3_errcode(to), "cannot copy the database into " + to_path);
    }
    // The target's busy handler waits inside a step; the source's lock is retried here. Either
    // way the copy gives up once the busy timeout has passed since it began.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(detail::k_busy_timeout_ms);
    int rc = SQLITE_OK;
    while (true) {
        rc = sqlite3_backup_step(backup, -1);
        const int primary = rc & 0xff;
        if ((primary != SQLITE_BUSY && primary != SQLITE_LOCKED) || std::chrono::steady_clock::now() >= deadline) {
            break;
        }
        sqlite3_sleep(k_copy_retry_ms);
    }
    const int finished = sqlite3_backup_finish(backup);
    if (rc != SQLITE_DONE) {
        if ((rc & 0xff) == SQLITE_READONLY) {
            return Status::io_error("cannot copy the database into " + to_path +
                                    ": the target is read-only, or a WAL database with another page size");
        }
        return detail::sqlite_error(nullptr, rc, "cannot copy the database into " + to_path);
    }
    if (finished != SQLITE_OK) {
        return detail::sqlite_error(to, finished, "cannot copy the database into " + to_path);
    }
    return Status::ok();
}

Result<DbPtr> open_raw(const std::string& path, int flags, std::string_view what) {
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
    DbPtr db(raw);
    if (rc != SQLITE_OK) {
        return detail::sqlite_error(raw, rc, "cannot open " + std::string(what) + " " + path);
    }
    sqlite3_busy_timeout(raw, detail::k_busy_timeout_ms);
    sqlite3_extended_result_codes(raw, 1);
    return db;
}

}  // namespace

Status Store::backup_to(const std::string& path) {
    auto copy = open_raw(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, "backup copy");
    if (!copy) {
        return copy.status();
    }
    // A scratch file the caller fsyncs or throws away: no journal of its own is needed.
    const int rc = sqlite3_exec(copy->get(), "PRAGMA journal_mode = OFF", nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) {
        return detail::sqlite_error(copy->get(), rc, "cannot set up backup copy " + path);
    }
    return copy_database(m_impl->db.get(), copy->get(), path);
}

Status Store::check_integrity() {
    const auto first_problem = [&](const char* pragma, const char* what) -> Status {
        sqlite3_stmt* raw = nullptr;
        int rc = sqlite3_prepare_v2(m_impl->db.get(), pragma, -1, &raw, nullptr);
        std::unique_ptr<sqlite3_stmt, detail::StmtFinalizer> stmt(raw);
        if (rc != SQLITE_OK) {
            return detail::sqlite_error(m_impl->db.get(), rc, what);
        }
        std::string first;
        int problems = 0;
        while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
            std::string row;
            for (int col = 0; col < sqlite3_column_count(stmt.get()); ++col) {
                const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), col));
                row += (col == 0 ? "" : " ") + std::string(text == nullptr ? "NULL" : text);
            }
            if (row == "ok") {
                continue;
            }
            if (problems++ == 0) {
                first = row;
            }
        }
        if (rc != SQLITE_DONE) {
            // Without the file: whoever asked names it (restore says which backup held it).
            return detail::sqlite_error(nullptr, rc, std::string(what) + ": " + sqlite3_errmsg(m_impl->db.get()));
        }
        if (problems > 0) {
            return Status::corruption(std::string(what) + ": " + first +
                                      (problems > 1 ? " (and " + std::to_string(problems - 1) + " more)" : ""));
        }
        return Status::ok();
    };
    if (Status st = first_problem("PRAGMA integrity_check", "integrity check"); !st) {
        return st;
    }
    return first_problem("PRAGMA foreign_key_check", "foreign key check");
}

Status Store::record_restore(std::string_view backup_path, std::string_view sha256_hex,
                             std::int64_t backup_created_at) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("backup");
    w.String(backup_path.data(), static_cast<rapidjson::SizeType>(backup_path.size()));
    w.Key("sha256");
    w.String(sha256_hex.data(), static_cast<rapidjson::SizeType>(sha256_hex.size()));
    w.Key("created_at");
    w.Int64(backup_created_at);
    w.EndObject();
    return m_impl->audit_event("restore-backup", buf.GetString());
}

Status Store::replace_contents(const std::string& target, const std::string& source) {
    auto to = open_raw(target, SQLITE_OPEN_READWRITE, "database");
    if (!to) {
        return to.status();
    }
    // Reading the catalogue proves the target is an SQLite database the copy can lock and write.
    const int rc = sqlite3_exec(to->get(), "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) {
        return detail::sqlite_error(to->get(), rc, "cannot read database " + target);
    }
    // Read-write, so that closing it, the last connection, removes the -wal and -shm it made.
    auto from = open_raw(source, SQLITE_OPEN_READWRITE, "restored copy");
    if (!from) {
        return from.status();
    }
    return copy_database(from->get(), to->get(), target);
}

}  // namespace shortlink::store
