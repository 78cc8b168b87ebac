// The analytics database: click events that `shortlink serve --clicks DIR` wrote to segment files
// (formats/clicks.h), loaded offline by `shortlink stats ingest` into an SQLite file of their own,
// never the links database (DESIGN.md, "The redirect plane"). docs/stats.md describes the file.
//
// Two layers. Raw events are kept for a retention period as chunks: the events of one or more
// segment blocks, in the segment's own event encoding, zstd-compressed, one row per chunk with
// its time span (a row per event measured 55 bytes against 24, and inserting it cost more CPU than
// all the rest of an ingest). Daily rollups are kept for ever: per UTC day, link (domain, code), outcome and person/bot
// class, the clicks and distinct visitors, in total and per value of every dimension (country,
// device, operating system, browser, referrer host, bot verdict, QR). A rollup is computed from
// the raw events of its whole day by the same aggregator that answers raw queries, so a
// day-granularity query gives the same answer from either.
//
// Ingest is idempotent and resumable: a segment is keyed by its id, and its progress (the byte
// offset, blocks and events read) commits in the transaction that stores its events, so a `.part`
// read partially continues where it stopped once it has grown or been sealed. The days a
// transaction touched are marked pending in it; their rollups are recomputed after the segments
// (and by the next ingest after a crash), and until then queries read those days from raw events.
//
// Unique visitors: the server's visitor key changes every UTC day, so a visitor is counted once per
// day, link, outcome and person/bot class (and, grouped by a dimension, per value); a query over
// several days, links, outcomes or both classes adds those counts.
//
// Thread-safety: a StatsDb is one SQLite connection; use it from one thread at a time. Other
// processes may read while one ingests (WAL). Ownership: the StatsDb owns its connection.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "formats/clicks.h"
#include "formats/status.h"

namespace shortlink::stats {

// PRAGMA application_id of a stats database: "SLST".
inline constexpr std::int32_t k_application_id = 0x534c5354;
inline constexpr std::int64_t k_hour_ms = 3'600'000;
inline constexpr std::int64_t k_day_ms = 86'400'000;
// How long raw events are kept unless --retain says otherwise.
inline constexpr std::int64_t k_default_retain_ms = 90 * k_day_ms;

// The dimensions a rollup keeps per value, in the order of its encoding (docs/stats.md).
enum class Dimension : std::uint8_t { country = 0, device, os, browser, referrer, bot, qr };
inline constexpr std::uint8_t k_dimension_count = 7;

// What a query groups by.
enum class GroupBy : std::uint8_t {
    none, link, day, hour, outcome, country, device, os, browser, referrer, bot, qr
};
// "none", "link", "day", ...; parse_group_by() takes the same names.
std::string_view group_by_name(GroupBy by);
std::optional<GroupBy> parse_group_by(std::string_view name);

enum class Bots : std::uint8_t { exclude, include, only };

// Where a query reads from. automatic: rollups for whole days that have them, raw events for
// the rest; raw and rollup force one (tests compare them).
enum class Source : std::uint8_t { automatic, raw, rollup };

// The outcomes a query counts unless told otherwise: the visitor was sent to the link's
// destination (a redirect, or a redirect after the right password).
const std::vector<std::uint8_t>& default_outcomes();

struct Query {
    std::optional<std::string> code;    // one link's code (on any domain unless `domain` is set)
    std::optional<std::string> domain;  // the domain as the server recorded it
    std::int64_t since_ms = 0;          // inclusive; 0: from the first event
    std::int64_t until_ms = 0;          // exclusive; 0: to the last event
    GroupBy by = GroupBy::none;
    std::vector<std::uint8_t> outcomes = default_outcomes();  // empty: every outcome
    Bots bots = Bots::exclude;
    std::uint64_t top = 0;              // rows of a ranking; 0: all
    bool rank_by_visitors = false;      // rank by visitors instead of clicks
    Source source = Source::automatic;
};

struct Row {
    std::string key;        // the group's value as printed: "example.com/spring", "2026-12-01", "DE"
    std::string domain;     // GroupBy::link only
    std::string code;       // GroupBy::link only
    std::int64_t start_ms = 0;  // GroupBy::day and hour: the bucket's start
    std::uint64_t clicks = 0;
    std::uint64_t visitors = 0;
};

struct QueryResult {
    std::uint64_t clicks = 0;
    std::uint64_t visitors = 0;
    // Rankings (link and the dimensions) in descending order, truncated to `top`; day and hour
    // series in time order with empty buckets between the first and the last filled in.
    std::vector<Row> rows;
    std::uint64_t groups = 0;     // rows before truncation
    std::int64_t since_ms = 0;    // the range actually covered (the query's, or the data's)
    std::int64_t until_ms = 0;
    std::uint32_t days_from_rollups = 0;
    std::uint32_t days_from_raw = 0;
};

struct IngestProgress {
    std::size_t segments_done = 0;
    std::size_t segments_total = 0;
    std::uint64_t events = 0;      // events read so far in this run
    std::uint64_t bytes = 0;       // segment bytes read so far
    std::int64_t elapsed_ms = 0;
    bool rolling_up = false;       // the segments are read; days are being rolled up
};

struct IngestOptions {
    std::int64_t retain_ms = k_default_retain_ms;
    std::int64_t now_ms = 0;  // 0: the clock (tests pass a fixed time)
    // Called between blocks and between days, at most every 200 ms; never from another thread.
    std::function<void(const IngestProgress&)> progress;
};

// A segment that could not be read to its end. `message` names the file and, for damage, the
// byte offset and what is wrong there (formats::clicks::SegmentReader's wording).
struct SegmentProblem {
    std::string path;
    std::string message;
    bool damaged = true;  // false: the system refused (permissions, I/O), the bytes may be fine
};

struct IngestReport {
    std::size_t segments = 0;           // segment files in the directory
    std::size_t segments_read = 0;      // of which this run read new events from
    std::size_t segments_complete = 0;  // read to their end record, in this run or before
    std::size_t segments_waiting = 0;   // .part files a writer has not finished
    std::uint64_t events = 0;           // events added by this run
    std::uint64_t bytes = 0;            // segment bytes read by this run
    std::uint64_t late_events = 0;      // of which were older than the raw window
    std::size_t days_rolled_up = 0;
    std::uint64_t pruned_events = 0;
    std::int64_t raw_since_ms = 0;
    std::vector<SegmentProblem> problems;
};

struct ExportFilter {
    std::int64_t since_ms = 0;  // inclusive; 0: the start of the raw window
    std::int64_t until_ms = 0;  // exclusive; 0: none
};

class StatsDb {
public:
    // Opens an existing stats database (not_found when there is none) or, with `create`, makes an
    // empty one. Refuses a file that is not an SQLite database, another program's, shortlink's
    // links database, or one from a newer shortlink, before writing a byte to it.
    static Result<StatsDb> open(const std::string& path, bool create);

    StatsDb(StatsDb&&) noexcept;
    StatsDb& operator=(StatsDb&&) noexcept;
    ~StatsDb();

    // Reads every segment in `dir` (see the file comment). A damaged or unreadable segment is
    // recorded in the report and the others are read; the Status fails only when the directory
    // cannot be listed or the database cannot be written.
    Result<IngestReport> ingest(const std::string& dir, const IngestOptions& options);

    Result<QueryResult> query(const Query& query);

    // Every raw event in the window, chunk by chunk (the order they were recorded in, per
    // segment); the event's views are valid during the callback only. The callback's failure
    // stops the walk and is returned.
    Status export_events(const ExportFilter& filter, const std::function<Status(const formats::clicks::Event&)>& each);

    struct Impl;

private:
    explicit StatsDb(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

// The default stats database for a links database path: stats.db beside it.
std::string default_path(std::string_view links_db_path);

// An event's anonymised network as CIDR text ("203.0.113.0/24", "2001:db8:1::/48"); "" for none.
std::string network_text(const formats::clicks::Event& event);

// "90d", "36h": a retention of at least one hour. Also used for --retain.
Result<std::int64_t> parse_retention(std::string_view text);

}  // namespace shortlink::stats
