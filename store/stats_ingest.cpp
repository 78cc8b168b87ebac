// stats ingest: segments into raw chunks, pending days into rollups, old raw chunks pruned.
// See stats_db.h for the design; docs/stats.md for the tables.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

#include "formats/clock.h"
#include "store/stats_internal.h"

namespace shortlink::stats {

using formats::clicks::BlockResult;
using formats::clicks::SegmentReader;
using store::detail::Stmt;
using store::detail::StmtUse;

namespace {

// A raw chunk holds up to this many bytes of compressed events (about 30,000 events) before it is
// stored: big enough that a row's overhead vanishes against it, small enough that a query for one
// hour decompresses little beyond it.
constexpr std::size_t k_chunk_bytes = 768u << 10;
constexpr std::int64_t k_progress_interval_ms = 200;


Status sql_failed(sqlite3* db, int rc, std::string_view what) { return store::detail::sqlite_error(db, rc, what); }

// The segment files of `dir`, sorted by name (the time they were opened, then their id).
Result<std::vector<std::string>> list_segments(const std::string& dir) {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
        const int err = errno;
        if (err == ENOENT) {
            return Status::not_found("click directory " + dir + " does not exist");
        }
        if (err == ENOTDIR) {
            return Status::invalid_argument(dir + " is not a directory");
        }
        return Status::io_error("cannot list " + dir + ": " + std::strerror(err));
    }
    std::vector<std::string> names;
    errno = 0;
    while (const dirent* entry = ::readdir(d)) {
        const std::string_view name(entry->d_name);
        if (formats::clicks::is_segment_name(name)) {
            names.emplace_back(name);
        }
    }
    const int err = errno;
    ::closedir(d);
    if (err != 0) {
        return Status::io_error("cannot list " + dir + ": " + std::strerror(err));
    }
    std::sort(names.begin(), names.end());
    return names;
}

std::uint64_t file_size(const std::string& path) {
    struct stat st{};
    return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

// Builds the raw chunks of one segment's transaction: the segment's blocks' zstd frames, copied
// as they are (the reader proved them; recompressing cost a tenth of an ingest), appended until
// the chunk is full.
class ChunkWriter {
public:
    explicit ChunkWriter(StatsDb::Impl& db) : m_db(db) {}

    void begin(std::int64_t segment) {
        m_segment = segment;
        reset();
    }

    // One block: its frame as the segment holds it.
    Status add(std::string_view frame, std::uint32_t count, std::int64_t first_ms, std::int64_t last_ms) {
        m_frames.append(frame);
        m_count += count;
        m_first = std::min(m_first, first_ms);
        m_last = std::max(m_last, last_ms);
        return m_frames.size() >= k_chunk_bytes ? flush() : Status::ok();
    }

    Status flush() {
        if (m_count == 0) {
            return Status::ok();
        }
        auto stmt = m_db.prepare("INSERT INTO raw_chunks (segment, first_ms, last_ms, events, encoding, data) "
                                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
        if (!stmt) {
            return stmt.status();
        }
        StmtUse s(**stmt);
        s->bind(1, m_segment).bind(2, m_first).bind(3, m_last).bind(4, static_cast<std::int64_t>(m_count));
        s->bind(5, k_chunk_encoding);
        sqlite3_bind_blob(s->raw(), 6, m_frames.data(), static_cast<int>(m_frames.size()), SQLITE_STATIC);
        const int rc = s->step();
        if (rc != SQLITE_DONE) {
            return sql_failed(m_db.db.get(), rc, "cannot store raw events");
        }
        reset();
        return Status::ok();
    }

private:
    void reset() {
        m_frames.clear();
        m_count = 0;
        m_first = INT64_MAX;
        m_last = INT64_MIN;
    }

    StatsDb::Impl& m_db;
    std::int64_t m_segment = 0;
    std::string m_frames;
    std::uint64_t m_count = 0;
    std::int64_t m_first = INT64_MAX;
    std::int64_t m_last = INT64_MIN;
};

// One rollup row, replacing what the key held.
constexpr const char* k_write_daily =
    "INSERT OR REPLACE INTO daily (day, link, outcome, is_bot, clicks, visitors, dims) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

struct SegmentRow {
    std::int64_t rowid = 0;  // 0: not seen before
    std::uint64_t bytes_read = 0;
    std::uint32_t blocks = 0;
    std::uint64_t events = 0;
    bool complete = false;
    std::string damage;
};

}  // namespace

// The steps of one ingest run; one per StatsDb::ingest() call.
class IngestRun {
public:
    IngestRun(StatsDb::Impl& db, const IngestOptions& options, IngestReport& report)
        : m_db(db), m_options(options), m_report(report), m_chunks(db), m_late(detail::Aggregator::k_all_dimensions),
          m_day(detail::Aggregator::k_all_dimensions),
          m_start_ms(clock::monotonic_ms()) {}

    Status segment(const std::string& dir, const std::string& name);
    Status roll_up_pending();
    Status prune(std::int64_t cutoff_ms);
    void progress(bool force);

    std::size_t segments_done = 0;

private:
    Result<SegmentRow> load_row(const std::string& segment_id);
    Status save_row(const SegmentRow& row, const SegmentReader& reader, const std::string& name);
    Status roll_up_day(std::int64_t day);
    Status replace_day(std::int64_t day, const detail::Aggregator& agg);
    Result<std::int64_t> day_events(std::int64_t day);
    Status write_rollup(Stmt& daily, const detail::AggRow& row);
    void add_values(const detail::AggRow& row);
    Status write_values();
    Status add_late_rows();

    StatsDb::Impl& m_db;
    const IngestOptions& m_options;
    IngestReport& m_report;
    ChunkWriter m_chunks;
    detail::Aggregator m_late;  // events of days whose raw events were pruned, per transaction
    detail::Aggregator m_day;   // the day being rolled up
    std::string m_block;
    std::string m_dims;
    // Totals per (day, dimension, outcome, is_bot, value) over every link, for daily_values.
    struct ValueKey {
        std::int64_t day;
        std::uint8_t dim;
        std::uint8_t outcome;
        std::uint8_t is_bot;
        std::uint64_t value;
        auto operator<=>(const ValueKey&) const = default;
    };
    struct ValueTotal {
        std::uint64_t clicks = 0;
        std::uint64_t visitors = 0;
    };
    std::map<ValueKey, ValueTotal> m_values;
    std::int64_t m_start_ms;
    std::int64_t m_last_progress_ms = 0;
    bool m_rolling_up = false;
};

void IngestRun::progress(bool force) {
    if (!m_options.progress) {
        return;
    }
    const std::int64_t now = clock::monotonic_ms();
    if (!force && now - m_last_progress_ms < k_progress_interval_ms) {
        return;
    }
    m_last_progress_ms = now;
    IngestProgress p;
    p.segments_done = segments_done;
    p.segments_total = m_report.segments;
    p.events = m_report.events;
    p.bytes = m_report.bytes;
    p.elapsed_ms = now - m_start_ms;
    p.rolling_up = m_rolling_up;
    m_options.progress(p);
}

Result<SegmentRow> IngestRun::load_row(const std::string& segment_id) {
    auto stmt = m_db.prepare(
        "SELECT id, bytes_read, blocks, events, complete, coalesce(damage, '') FROM segments WHERE segment_id = ?1");
    if (!stmt) {
        return stmt.status();
    }
    StmtUse s(**stmt);
    s->bind(1, segment_id);
    SegmentRow row;
    const int rc = s->step();
    if (rc == SQLITE_ROW) {
        row.rowid = s->i64(0);
        row.bytes_read = static_cast<std::uint64_t>(s->i64(1));
        row.blocks = static_cast<std::uint32_t>(s->i64(2));
        row.events = static_cast<std::uint64_t>(s->i64(3));
        row.complete = s->i64(4) != 0;
        row.damage = std::string(s->text(5));
    } else if (rc != SQLITE_DONE) {
        return sql_failed(m_db.db.get(), rc, "cannot read segment progress");
    }
    return row;
}

Status IngestRun::save_row(const SegmentRow& row, const SegmentReader& reader, const std::string& name) {
    auto stmt = m_db.prepare(
        "UPDATE segments SET name = ?2, bytes_read = ?3, blocks = ?4, events = ?5, complete = ?6, "
        "damage = nullif(?7, ''), read_at_ms = ?8 WHERE id = ?1");
    if (!stmt) {
        return stmt.status();
    }
    StmtUse s(**stmt);
    s->bind(1, row.rowid).bind(2, name).bind(3, static_cast<std::int64_t>(reader.offset()));
    s->bind(4, static_cast<std::int64_t>(reader.blocks_seen())).bind(5, static_cast<std::int64_t>(reader.events_seen()));
    s->bind(6, std::int64_t{row.complete ? 1 : 0}).bind(7, row.damage).bind(8, clock::unix_millis());
    const int rc = s->step();
    return rc == SQLITE_DONE ? Status::ok() : sql_failed(m_db.db.get(), rc, "cannot record segment progress");
}

Status IngestRun::segment(const std::string& dir, const std::string& name) {
    std::string path = dir + "/" + name;
    const bool part = name.ends_with(formats::clicks::k_part_suffix);
    auto opened = SegmentReader::open(path);
    if (!opened && part && ::access(path.c_str(), F_OK) != 0) {
        // Sealed (renamed) between the listing and the open: read it under its new name.
        path.resize(path.size() - (formats::clicks::k_part_suffix.size() - formats::clicks::k_sealed_suffix.size()));
        opened = SegmentReader::open(path);
    }
    if (!opened) {
        const Status& st = opened.status();
        if (part && st.code() == Status::Code::corruption && file_size(path) < formats::clicks::k_header_size) {
            ++m_report.segments_waiting;  // its writer has not written the header yet
            return Status::ok();
        }
        m_report.problems.push_back(SegmentProblem{path, st.message(), st.code() != Status::Code::io_error});
        return Status::ok();
    }
    SegmentReader& reader = **opened;
    const std::string segment_id = reader.header().id.hex();
    if (Status st = m_db.exec("BEGIN IMMEDIATE"); !st) {
        return st;
    }
    m_db.clear_pending_links();
    const auto fail = [&](Status st) {
        m_db.rollback();
        m_late.clear();
        return st;
    };
    auto raw_since = m_db.meta("raw_since_ms");
    if (!raw_since) {
        return fail(raw_since.status());
    }
    const std::int64_t first_raw_day = bucket_of(*raw_since + k_day_ms - 1, k_day_ms);
    auto loaded = load_row(segment_id);
    if (!loaded) {
        return fail(loaded.status());
    }
    SegmentRow row = std::move(*loaded);
    if (row.complete) {
        ++m_report.segments_complete;
        m_db.rollback();
        return Status::ok();
    }
    if (row.rowid == 0) {
        auto insert = m_db.prepare("INSERT INTO segments (segment_id, name, opened_ms, bytes_read, blocks, events, "
                                   "read_at_ms) VALUES (?1, ?2, ?3, ?4, 0, 0, ?5)");
        if (!insert) {
            return fail(insert.status());
        }
        StmtUse s(**insert);
        s->bind(1, segment_id).bind(2, name).bind(3, reader.header().opened_ms);
        s->bind(4, static_cast<std::int64_t>(formats::clicks::k_header_size)).bind(5, clock::unix_millis());
        const int rc = s->step();
        if (rc != SQLITE_DONE) {
            return fail(sql_failed(m_db.db.get(), rc, "cannot record a segment"));
        }
        row.rowid = sqlite3_last_insert_rowid(m_db.db.get());
        row.bytes_read = formats::clicks::k_header_size;
    }
    reader.seek(row.bytes_read, row.blocks, row.events);
    const std::string old_damage = row.damage;
    row.damage.clear();
    m_chunks.begin(row.rowid);
    std::map<std::int64_t, std::uint64_t> days;  // raw-complete days and their new events
    std::uint64_t added = 0;

    while (true) {
        std::uint32_t count = 0;
        const std::uint64_t block_offset = reader.offset();
        const BlockResult result = reader.next(m_block, count);
        if (result == BlockResult::end) {
            row.complete = true;
            break;
        }
        if (result == BlockResult::incomplete) {
            ++m_report.segments_waiting;
            break;
        }
        if (result == BlockResult::damaged) {
            row.damage = reader.error();
            m_report.problems.push_back(SegmentProblem{path, reader.error(), true});
            break;
        }
        std::int64_t first = INT64_MAX;
        std::int64_t last = INT64_MIN;
        formats::clicks::EventCursor cursor(m_block);
        formats::clicks::Event e;
        std::uint64_t* day_count = nullptr;
        std::int64_t day_count_index = INT64_MIN;
        detail::AggEvent agg;
        while (cursor.next(e)) {
            first = std::min(first, e.time_ms);
            last = std::max(last, e.time_ms);
            const std::int64_t day = bucket_of(e.time_ms, k_day_ms);
            if (day >= first_raw_day) {
                if (day != day_count_index) {
                    day_count = &days[day];
                    day_count_index = day;
                }
                ++*day_count;
            } else {
                if (Status st = m_db.agg_event(e, k_day_ms, true, agg); !st) {
                    return fail(st);
                }
                m_late.add(agg);
                ++m_report.late_events;
            }
        }
        // The block's frame as the segment holds it (SPEC.md: a block's payload is one zstd frame).
        if (Status st = m_chunks.add(reader.payload(), count, first, last); !st) {
            return fail(st);
        }
        added += count;
        m_report.events += count;
        m_report.bytes += reader.offset() - block_offset;
        progress(false);
    }
    if (added == 0 && !row.complete && row.damage == old_damage) {
        m_db.rollback();  // nothing new: leave the row as it was
        return Status::ok();
    }
    if (Status st = m_chunks.flush(); !st) {
        return fail(st);
    }
    if (Status st = add_late_rows(); !st) {
        return fail(st);
    }
    auto mark = m_db.prepare("INSERT OR IGNORE INTO pending_days (day) VALUES (?1)");
    auto count = m_db.prepare("INSERT INTO day_events (day, events) VALUES (?1, ?2) "
                              "ON CONFLICT (day) DO UPDATE SET events = events + excluded.events");
    if (!mark || !count) {
        return fail(!mark ? mark.status() : count.status());
    }
    for (const auto& [day, events] : days) {
        for (Stmt* stmt : {*mark, *count}) {
            StmtUse s(*stmt);
            s->bind(1, day);
            if (stmt == *count) {
                s->bind(2, static_cast<std::int64_t>(events));
            }
            const int rc = s->step();
            if (rc != SQLITE_DONE) {
                return fail(sql_failed(m_db.db.get(), rc, "cannot mark a day for its rollup"));
            }
        }
    }
    if (Status st = save_row(row, reader, name); !st) {
        return fail(st);
    }
    if (Status st = m_db.exec("COMMIT"); !st) {
        return fail(st);
    }
    if (added > 0) {
        ++m_report.segments_read;
    }
    if (row.complete) {
        ++m_report.segments_complete;
    }
    return Status::ok();
}

Result<std::int64_t> IngestRun::day_events(std::int64_t day) {
    auto stmt = m_db.prepare("SELECT events FROM day_events WHERE day = ?1");
    if (!stmt) {
        return stmt.status();
    }
    StmtUse s(**stmt);
    s->bind(1, day);
    const int rc = s->step();
    if (rc == SQLITE_ROW) {
        return s->i64(0);
    }
    if (rc != SQLITE_DONE) {
        return sql_failed(m_db.db.get(), rc, "cannot read day_events");
    }
    return std::int64_t{0};
}

Status IngestRun::write_rollup(Stmt& daily, const detail::AggRow& row) {
    detail::encode_dims(row.dims, m_dims);
    StmtUse w(daily);
    w->bind(1, row.bucket).bind(2, m_db.settled_link(row.link)).bind(3, std::int64_t{row.outcome}).bind(4, std::int64_t{row.is_bot});
    w->bind(5, static_cast<std::int64_t>(row.clicks)).bind(6, static_cast<std::int64_t>(row.visitors));
    sqlite3_bind_blob(w->raw(), 7, m_dims.data(), static_cast<int>(m_dims.size()), SQLITE_STATIC);
    const int rc = w->step();
    return rc == SQLITE_DONE ? Status::ok() : sql_failed(m_db.db.get(), rc, "cannot write a rollup");
}

// Late events (their day's raw events are pruned): their rows are added to the day's rollups, in
// the transaction of their segment. Visitors are distinct within the segment's new events only.
Status IngestRun::add_late_rows() {
    if (m_late.events() == 0) {
        return Status::ok();
    }
    if (Status st = m_db.settle_links(); !st) {
        return st;
    }
    auto read = m_db.prepare("SELECT clicks, visitors, dims FROM daily WHERE day = ?1 AND link = ?2 AND outcome = ?3 "
                             "AND is_bot = ?4");
    auto write = m_db.prepare(k_write_daily);
    if (!read || !write) {
        return !read ? read.status() : write.status();
    }
    detail::DimCells old;
    m_values.clear();
    Status st = m_late.for_each_row([&](detail::AggRow& row) {
        add_values(row);  // the late events' own counts, before the row takes the stored ones
        {
            StmtUse s(**read);
            s->bind(1, row.bucket).bind(2, m_db.settled_link(row.link)).bind(3, std::int64_t{row.outcome});
            s->bind(4, std::int64_t{row.is_bot});
            const int rc = s->step();
            if (rc == SQLITE_ROW) {
                row.clicks += static_cast<std::uint64_t>(s->i64(0));
                row.visitors += static_cast<std::uint64_t>(s->i64(1));
                const auto* blob = static_cast<const char*>(sqlite3_column_blob(s->raw(), 2));
                const auto size = static_cast<std::size_t>(sqlite3_column_bytes(s->raw(), 2));
                if (Status d = detail::decode_dims(std::string_view(blob == nullptr ? "" : blob, size), old); !d) {
                    return Status::corruption("stats database " + m_db.path + ": " + d.message());
                }
                detail::add_dims(row.dims, old);
            } else if (rc != SQLITE_DONE) {
                return sql_failed(m_db.db.get(), rc, "cannot read a rollup");
            }
        }
        return write_rollup(**write, row);
    });
    m_late.clear();
    return st ? write_values() : st;
}

// Replaces `day`'s rollups by the aggregate of its raw events, read back from the raw chunks (one
// aggregator reused day after day: its memory stays allocated and warm, which costs less than
// keeping every day's aggregate while the segments are read). Runs inside a write transaction.
Status IngestRun::roll_up_day(std::int64_t day) {
    detail::Aggregator& agg = m_day;
    agg.clear();
    m_db.clear_pending_links();
    auto events = day_events(day);
    if (!events) {
        return events.status();
    }
    agg.reserve(static_cast<std::uint64_t>(*events));
    detail::AggEvent event;
    Status st = m_db.scan_raw(day * k_day_ms, (day + 1) * k_day_ms, [&](const formats::clicks::Event& e) {
        if (Status s = m_db.agg_event(e, k_day_ms, true, event); !s) {
            return s;
        }
        agg.add(event);
        return Status::ok();
    });
    if (!st) {
        return st;
    }
    if (Status settled = m_db.settle_links(); !settled) {
        return settled;
    }
    return replace_day(day, agg);
}

Status IngestRun::replace_day(std::int64_t day, const detail::Aggregator& agg) {
    for (const char* sql : {"DELETE FROM daily WHERE day = ?1", "DELETE FROM daily_values WHERE day = ?1",
                            "DELETE FROM pending_days WHERE day = ?1"}) {
        auto stmt = m_db.prepare(sql);
        if (!stmt) {
            return stmt.status();
        }
        StmtUse s(**stmt);
        s->bind(1, day);
        const int rc = s->step();
        if (rc != SQLITE_DONE) {
            return sql_failed(m_db.db.get(), rc, "cannot replace a day's rollups");
        }
    }
    auto write = m_db.prepare(k_write_daily);
    if (!write) {
        return write.status();
    }
    m_values.clear();
    Status st = agg.for_each_row([&](detail::AggRow& row) {
        add_values(row);
        return write_rollup(**write, row);
    });
    return st ? write_values() : st;
}

// Sums a rollup row's cells into the day's totals per dimension value over every link, and its
// clicks and visitors into the day's totals (pseudo-dimension k_totals_dim, value 0).
void IngestRun::add_values(const detail::AggRow& row) {
    ValueTotal& all = m_values[ValueKey{row.bucket, detail::k_totals_dim, row.outcome, row.is_bot, 0}];
    all.clicks += row.clicks;
    all.visitors += row.visitors;
    for (std::size_t d = 0; d < k_dimension_count; ++d) {
        for (const detail::DimCell& c : row.dims[d]) {
            ValueTotal& t = m_values[ValueKey{row.bucket, static_cast<std::uint8_t>(d), row.outcome, row.is_bot, c.value}];
            t.clicks += c.clicks;
            t.visitors += c.visitors;
        }
    }
}

// Adds the totals m_values holds to daily_values (a replaced day's rows were deleted first).
Status IngestRun::write_values() {
    auto stmt = m_db.prepare(
        "INSERT INTO daily_values (dim, day, outcome, is_bot, value, clicks, visitors) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
        "ON CONFLICT DO UPDATE SET clicks = clicks + excluded.clicks, visitors = visitors + excluded.visitors");
    if (!stmt) {
        return stmt.status();
    }
    for (const auto& [key, total] : m_values) {
        StmtUse s(**stmt);
        s->bind(1, std::int64_t{key.dim}).bind(2, key.day).bind(3, std::int64_t{key.outcome});
        s->bind(4, std::int64_t{key.is_bot}).bind(5, static_cast<std::int64_t>(key.value));
        s->bind(6, static_cast<std::int64_t>(total.clicks)).bind(7, static_cast<std::int64_t>(total.visitors));
        const int rc = s->step();
        if (rc != SQLITE_DONE) {
            return sql_failed(m_db.db.get(), rc, "cannot write a rollup");
        }
    }
    m_values.clear();
    return Status::ok();
}

Status IngestRun::roll_up_pending() {
    m_rolling_up = true;
    std::vector<std::int64_t> days;
    {
        auto stmt = m_db.prepare("SELECT day FROM pending_days ORDER BY day");
        if (!stmt) {
            return stmt.status();
        }
        StmtUse s(**stmt);
        int rc = SQLITE_ROW;
        while ((rc = s->step()) == SQLITE_ROW) {
            days.push_back(s->i64(0));
        }
        if (rc != SQLITE_DONE) {
            return sql_failed(m_db.db.get(), rc, "cannot read pending days");
        }
    }
    for (std::int64_t day : days) {
        if (Status st = m_db.exec("BEGIN IMMEDIATE"); !st) {
            return st;
        }
        // Another ingest may have rolled it up since the list was read.
        bool still_pending = false;
        {
            auto stmt = m_db.prepare("SELECT 1 FROM pending_days WHERE day = ?1");
            if (!stmt) {
                m_db.rollback();
                return stmt.status();
            }
            StmtUse s(**stmt);
            s->bind(1, day);
            still_pending = s->step() == SQLITE_ROW;
        }
        Status st = still_pending ? roll_up_day(day) : Status::ok();
        if (st) {
            st = m_db.exec("COMMIT");
        }
        if (!st) {
            m_db.rollback();
            return st;
        }
        if (still_pending) {
            ++m_report.days_rolled_up;
        }
        progress(false);
    }
    return Status::ok();
}

Status IngestRun::prune(std::int64_t cutoff_ms) {
    if (Status st = m_db.exec("BEGIN IMMEDIATE"); !st) {
        return st;
    }
    Status st = [&]() -> Status {
        auto raw_since = m_db.meta("raw_since_ms");
        if (!raw_since) {
            return raw_since.status();
        }
        m_report.raw_since_ms = *raw_since;
        if (cutoff_ms <= *raw_since) {
            return Status::ok();
        }
        // A day still pending below the cutoff (another ingest's, committed after this one rolled
        // up) is rolled up from its complete raw events before they go.
        std::vector<std::int64_t> pending;
        {
            auto stmt = m_db.prepare("SELECT day FROM pending_days WHERE day <= ?1 ORDER BY day");
            if (!stmt) {
                return stmt.status();
            }
            StmtUse s(**stmt);
            s->bind(1, bucket_of(cutoff_ms, k_day_ms));
            while (s->step() == SQLITE_ROW) {
                pending.push_back(s->i64(0));
            }
        }
        for (std::int64_t day : pending) {
            if (Status r = roll_up_day(day); !r) {
                return r;
            }
            ++m_report.days_rolled_up;
        }
        {
            auto stmt = m_db.prepare("SELECT coalesce(sum(events), 0) FROM raw_chunks WHERE last_ms < ?1");
            if (!stmt) {
                return stmt.status();
            }
            StmtUse s(**stmt);
            s->bind(1, cutoff_ms);
            if (s->step() == SQLITE_ROW) {
                m_report.pruned_events = static_cast<std::uint64_t>(s->i64(0));
            }
        }
        auto del = m_db.prepare("DELETE FROM raw_chunks WHERE last_ms < ?1");
        if (!del) {
            return del.status();
        }
        StmtUse s(**del);
        s->bind(1, cutoff_ms);
        const int rc = s->step();
        if (rc != SQLITE_DONE) {
            return sql_failed(m_db.db.get(), rc, "cannot prune raw events");
        }
        m_report.raw_since_ms = cutoff_ms;
        return m_db.set_meta("raw_since_ms", cutoff_ms);
    }();
    if (st) {
        st = m_db.exec("COMMIT");
    }
    if (!st) {
        m_db.rollback();
    }
    return st;
}

Result<IngestReport> StatsDb::ingest(const std::string& dir, const IngestOptions& options) {
    if (options.retain_ms <= 0) {
        return Status::invalid_argument("the retention must be positive");
    }
    auto names = list_segments(dir);
    if (!names) {
        return names.status();
    }
    IngestReport report;
    report.segments = names->size();
    // A checkpoint copies the log into the database and syncs both: every 4 MiB of log (SQLite's
    // default) made a 10M-event ingest wait on a hundred and fifty syncs. For the length of the
    // ingest the log grows to 64 MiB between checkpoints; the last one runs when it ends.
    if (Status st = m_impl->exec("PRAGMA wal_autocheckpoint = 16384"); !st) {
        return st;
    }
    struct RestoreCheckpoints {
        StatsDb::Impl& db;
        ~RestoreCheckpoints() {
            (void)db.exec("PRAGMA wal_autocheckpoint = 1000");
            (void)db.exec("PRAGMA wal_checkpoint(PASSIVE)");
        }
    } restore{*m_impl};
    IngestRun run(*m_impl, options, report);
    for (const std::string& name : *names) {
        if (Status st = run.segment(dir, name); !st) {
            return st;
        }
        ++run.segments_done;
        run.progress(false);
    }
    if (Status st = run.roll_up_pending(); !st) {
        return st;
    }
    const std::int64_t now = options.now_ms != 0 ? options.now_ms : clock::unix_millis();
    if (Status st = run.prune(now - options.retain_ms); !st) {
        return st;
    }
    run.progress(true);
    return report;
}

}  // namespace shortlink::stats
