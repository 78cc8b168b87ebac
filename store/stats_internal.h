// Internals of the stats database shared by store/stats_*.cpp: the connection with its cached
// statements, the link and referrer dictionaries, and reading raw chunks. Not part of the API.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "formats/clicks.h"
#include "store/stats_aggregate.h"
#include "store/stats_db.h"
#include "store/store_internal.h"

namespace shortlink::stats {

// The raw chunk encoding this build writes: the events of click segment format version 1,
// back to back, in one or more zstd frames (the segment's blocks' own).
inline constexpr std::int64_t k_chunk_encoding = 1;

struct StatsDb::Impl {
    std::unique_ptr<sqlite3, store::detail::DbCloser> db;
    std::unordered_map<std::string, std::unique_ptr<store::detail::Stmt>> statements;
    std::string path;
    // Dictionaries by their text, filled as they are met. Keys of `links`: the domain's length
    // as one byte, the domain, the code.
    detail::StringIds links;
    detail::StringIds referrers;
    std::string chunk_buffer;  // a decompressed raw chunk
    std::int64_t next_temporary_link = detail::k_temporary_link;
    std::string key_buffer;
    // Links of the current transaction not in the database yet: the key of pending id
    // k_pending_link + i is pending_keys[i]; settled_ids[i] its links.id once settled.
    std::vector<std::string> pending_keys;
    std::vector<std::int64_t> settled_ids;

    Result<store::detail::Stmt*> prepare(const std::string& sql);
    Status exec(const char* sql);
    void rollback();  // after a failure inside a transaction; forgets the dictionaries' new ids

    Result<std::int64_t> meta(std::string_view key);
    Status set_meta(std::string_view key, std::int64_t value);

    // The id of (domain, code) or of a referrer host, inserted when `create` (inside a write
    // transaction), else a temporary id that names it in this connection only (links) or 0.
    // A new link's id is a pending one (k_pending_link on) until settle_links().
    Result<std::int64_t> link_id(std::string_view domain, std::string_view code, bool create);
    // Adds the pending links to the database in key order (an insert into sorted indexes costs a
    // fraction of one at a random place) and records their ids; settled_link() then maps a pending
    // id to its links.id. Inside the write transaction that met them.
    Status settle_links();
    std::int64_t settled_link(std::int64_t id) const {
        return id >= detail::k_pending_link ? settled_ids[static_cast<std::size_t>(id - detail::k_pending_link)] : id;
    }
    // Forgets the pending links and their settled ids: at the start of each write transaction.
    void clear_pending_links();
    Result<std::int64_t> referrer_id(std::string_view host, bool create);
    Result<std::int64_t> dictionary_id(const char* insert_sql, const char* select_sql, std::string_view a,
                                       std::string_view b, bool create);

    // Calls `each` for every event of every raw chunk overlapping [since_ms, until_ms) whose own
    // time is in it; events are views into the decompressed chunk.
    Status scan_raw(std::int64_t since_ms, std::int64_t until_ms,
                    const std::function<Status(const formats::clicks::Event&)>& each);

    // The aggregator's view of an event; `create` as for link_id().
    Status agg_event(const formats::clicks::Event& e, std::int64_t bucket_ms, bool create, detail::AggEvent& out);
};

// Floor division of a time by a bucket length (negative times round down too).
inline std::int64_t bucket_of(std::int64_t time_ms, std::int64_t bucket_ms) {
    std::int64_t q = time_ms / bucket_ms;
    return (time_ms % bucket_ms != 0 && time_ms < 0) ? q - 1 : q;
}

// Migrates an open connection to the current schema (stats_db.cpp).
Status migrate_stats(sqlite3* db);

}  // namespace shortlink::stats
