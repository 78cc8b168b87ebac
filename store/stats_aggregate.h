// The one aggregator behind every number `shortlink stats` prints: it builds the daily rollups from
// raw events and answers queries that read raw events (hours, partial days, days whose rollup is
// pending), so a rollup and the raw events of its day give the same answer by construction.
// Also the encoding of a rollup's per-dimension counts (docs/stats.md, "Rollup dims").
//
// Events are grouped by (time bucket, link, outcome, person/bot). Per group it counts clicks and
// distinct visitors, in total and per value of each tracked dimension: a visitor counts once per
// group, and once per value it was seen with. add() only finds the group and appends a 32-byte
// record; the counting happens when the rows are read, over the records sorted by (group,
// visitor), so each visitor's events are together and each group's counters stay in cache
// (counting in hash tables as events arrived cost a cache miss per dimension per event).
//
// Thread-safety: an Aggregator belongs to one thread. Internal to the stats library.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "formats/status.h"
#include "store/stats_db.h"

namespace shortlink::stats::detail {

// A link id of the aggregator: links.id, or a temporary id from k_temporary_link on for a link
// the database does not know yet (a query reading raw events of a pending day).
inline constexpr std::int64_t k_temporary_link = std::int64_t{1} << 53;
// A link met while ingesting and not yet in the database: ids from k_pending_link on stand for
// it until StatsDb::Impl::settle_links() adds the transaction's new links in one sorted pass.
inline constexpr std::int64_t k_pending_link = std::int64_t{1} << 54;

// An event's value of each dimension.
struct DimValues {
    std::uint64_t referrer = 0;  // referrers.id, 0 none
    std::uint16_t country = 0;   // two ASCII letters as c0 << 8 | c1, 0 unknown
    std::uint8_t device = 0;
    std::uint8_t os = 0;
    std::uint8_t browser = 0;
    std::uint8_t bot = 0;
    std::uint8_t qr = 0;  // 0 or 1

    std::uint64_t of(Dimension d) const {
        switch (d) {
        case Dimension::country: return country;
        case Dimension::device: return device;
        case Dimension::os: return os;
        case Dimension::browser: return browser;
        case Dimension::referrer: return referrer;
        case Dimension::bot: return bot;
        case Dimension::qr: return qr;
        }
        return 0;
    }
};

struct AggEvent {
    std::int64_t bucket = 0;   // the day (or hour) index: time_ms / k_day_ms, rounded down
    std::int64_t link = 0;     // 0 .. 2^55
    std::uint64_t visitor = 0;
    std::uint8_t outcome = 0;
    std::uint8_t is_bot = 0;
    DimValues values;
};

struct DimCell {
    std::uint64_t value = 0;
    std::uint64_t clicks = 0;
    std::uint64_t visitors = 0;
    bool operator==(const DimCell&) const = default;
};
using DimCells = std::array<std::vector<DimCell>, k_dimension_count>;

struct AggRow {
    std::int64_t bucket = 0;
    std::int64_t link = 0;
    std::uint8_t outcome = 0;
    std::uint8_t is_bot = 0;
    std::uint64_t clicks = 0;
    std::uint64_t visitors = 0;
    DimCells dims;  // ascending by value; empty for dimensions not tracked
};

class Aggregator {
public:
    // `dimensions`: bit d set counts values of Dimension d (0: totals only).
    explicit Aggregator(std::uint32_t dimensions);
    ~Aggregator();
    Aggregator(const Aggregator&) = delete;
    Aggregator& operator=(const Aggregator&) = delete;

    void add(const AggEvent& event);
    // Every group, ordered by (bucket, link, outcome, is_bot), in one row reused for each; a
    // failed Status from `each` stops the walk and is returned.
    Status for_each_row(const std::function<Status(AggRow&)>& each) const;
    std::vector<AggRow> rows() const;  // the same, collected
    std::size_t groups() const;
    std::uint64_t events() const { return m_events; }
    // Room for about `events` events, so adding them does not reallocate.
    void reserve(std::uint64_t events);
    // Forgets every group and keeps the memory for the next aggregate.
    void clear();

    static constexpr std::uint32_t k_all_dimensions = (1u << k_dimension_count) - 1;

private:
    struct Tables;
    std::uint32_t m_dimensions;
    std::uint64_t m_events = 0;
    Tables* m_tables;
};

// Ids of the strings met while reading events (links, referrer hosts), so each event costs one
// hash and one probe. Strings live in one arena.
class StringIds {
public:
    StringIds();
    const std::int64_t* find(std::string_view key) const;
    void set(std::string_view key, std::int64_t id);  // adds or replaces
    void clear();
    // The string of `id`; "" when no string has it (a linear walk: for naming a few rows).
    std::string_view name_of(std::int64_t id) const;

private:
    struct Slot {
        std::uint64_t hash = 0;
        std::uint32_t offset = 0;
        std::uint32_t length = 0;
        std::int64_t id = 0;
        bool used = false;
    };
    std::size_t probe(std::string_view key, std::uint64_t hash) const;
    std::vector<Slot> m_slots;
    std::size_t m_size = 0;
    std::string m_arena;
};

// daily_values' dimension of the totals over every link (a single value, 0), after the real
// dimensions.
inline constexpr std::uint8_t k_totals_dim = k_dimension_count;

// The dims column of a rollup: for each dimension in Dimension order, a varint count of cells and
// that many (value, clicks, visitors) varint triples, values ascending.
void encode_dims(const DimCells& dims, std::string& out);  // replaces `out`
// Refuses (corruption) anything encode_dims() would not write.
Status decode_dims(std::string_view blob, DimCells& dims);
// Adds `more` into `into`, cell by cell (clicks and visitors add): a rollup of late events.
void add_dims(DimCells& into, const DimCells& more);

// Country code <-> the packed value of AggEvent::values.
std::uint64_t pack_country(char c0, char c1);
std::string country_text(std::uint64_t packed);  // "" for 0

}  // namespace shortlink::stats::detail
