// stats queries and export. A query splits its time range into whole days with a rollup, read
// from the daily tables, and the rest (partial days at either end, days whose rollup is pending,
// hours), read from raw events through the same aggregator that builds rollups; the two are
// added up per group. See stats_db.h.
#include <arpa/inet.h>

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>

#include "store/stats_internal.h"
#include "store/timefmt.h"

namespace shortlink::stats {

using store::detail::Stmt;
using store::detail::StmtUse;
namespace clicks = formats::clicks;

namespace {

// Series longer than this are not filled with empty buckets (a range of centuries by day).
constexpr std::int64_t k_max_filled_buckets = 1'000'000;

struct Cell {
    std::uint64_t clicks = 0;
    std::uint64_t visitors = 0;
};

std::optional<Dimension> dimension_of(GroupBy by) {
    switch (by) {
    case GroupBy::country: return Dimension::country;
    case GroupBy::device: return Dimension::device;
    case GroupBy::os: return Dimension::os;
    case GroupBy::browser: return Dimension::browser;
    case GroupBy::referrer: return Dimension::referrer;
    case GroupBy::bot: return Dimension::bot;
    case GroupBy::qr: return Dimension::qr;
    default: return std::nullopt;
    }
}

std::string day_text(std::int64_t day) { return timefmt::format_time(day * 86400).substr(0, 10); }

std::string hour_text(std::int64_t hour) { return timefmt::format_time(hour * 3600); }

std::string time_text(std::int64_t ms) { return timefmt::format_time(ms / 1000); }

// Runs a query: collects cells per group key from rollups and raw events.
class QueryRun {
public:
    QueryRun(StatsDb::Impl& db, const Query& q) : m_db(db), m_q(q), m_dim(dimension_of(q.by)) {}

    Result<QueryResult> run();

private:
    bool selected(std::uint8_t outcome, std::uint8_t is_bot) const {
        if (!m_q.outcomes.empty() &&
            std::find(m_q.outcomes.begin(), m_q.outcomes.end(), outcome) == m_q.outcomes.end()) {
            return false;
        }
        return m_q.bots == Bots::include || (is_bot != 0) == (m_q.bots == Bots::only);
    }
    std::uint64_t key_of(std::int64_t bucket, std::int64_t link, std::uint8_t outcome) const {
        switch (m_q.by) {
        case GroupBy::link: return static_cast<std::uint64_t>(link);
        case GroupBy::day:
        case GroupBy::hour: return static_cast<std::uint64_t>(bucket);
        case GroupBy::outcome: return outcome;
        default: return 0;
        }
    }
    Status load_context();
    std::string conditions() const;
    Status read_rollups(std::int64_t day0, std::int64_t day1);
    Status read_raw(std::int64_t since_ms, std::int64_t until_ms, std::int64_t bucket_ms);
    Result<std::vector<Row>> make_rows(std::int64_t since_ms, std::int64_t until_ms);
    Result<std::pair<std::string, std::string>> link_name(std::int64_t id);
    Result<std::string> referrer_name(std::int64_t id);

    StatsDb::Impl& m_db;
    const Query& m_q;
    std::optional<Dimension> m_dim;
    std::int64_t m_raw_since = 0;
    std::set<std::int64_t> m_pending;
    bool m_filtered = false;  // a code or domain selects links
    std::int64_t m_days_with_data = 0;  // from the first day with events to the last
    std::unordered_map<std::uint64_t, Cell> m_cells;
    Cell m_total;
    QueryResult m_result;
};

Status QueryRun::load_context() {
    auto raw_since = m_db.meta("raw_since_ms");
    if (!raw_since) {
        return raw_since.status();
    }
    m_raw_since = *raw_since;
    auto pending = m_db.prepare("SELECT day FROM pending_days");
    if (!pending) {
        return pending.status();
    }
    {
        StmtUse s(**pending);
        while (s->step() == SQLITE_ROW) {
            m_pending.insert(s->i64(0));
        }
    }
    m_filtered = m_q.code.has_value() || m_q.domain.has_value();
    return Status::ok();
}

// The SQL conditions of the query's outcomes and person/bot class, and, reading automatically, of
// the pending days (their raw events are read instead). Outcomes are small integers of ours.
std::string QueryRun::conditions() const {
    std::string sql;
    if (!m_q.outcomes.empty()) {
        sql += " AND outcome IN (";
        for (std::size_t i = 0; i < m_q.outcomes.size(); ++i) {
            sql += (i == 0 ? "" : ", ") + std::to_string(m_q.outcomes[i]);
        }
        sql += ")";
    }
    if (m_q.bots != Bots::include) {
        sql += m_q.bots == Bots::only ? " AND is_bot = 1" : " AND is_bot = 0";
    }
    if (m_q.source == Source::automatic) {
        sql += " AND day NOT IN (SELECT day FROM pending_days)";
    }
    return sql;
}

// Whole days [day0, day1) that are not pending, from the rollup tables: totals and groups summed
// by SQLite from daily (streamed in key order from its primary key or daily_by_link), values of a
// dimension from daily_values over every link, or from each selected link's dims cells.
Status QueryRun::read_rollups(std::int64_t day0, std::int64_t day1) {
    if (day0 >= day1) {
        return Status::ok();
    }
    constexpr const char* k_links =
        " AND link IN (SELECT id FROM links WHERE (?3 IS NULL OR code = ?3) AND (?4 IS NULL OR domain = ?4))";
    const auto bind_range = [&](Stmt& s) {
        s.bind(1, day0).bind(2, day1);
        if (m_filtered) {
            m_q.code ? s.bind(3, *m_q.code) : s.bind_null(3);
            m_q.domain ? s.bind(4, *m_q.domain) : s.bind_null(4);
        }
    };
    const char* key = m_q.by == GroupBy::link ? "link" : m_q.by == GroupBy::day ? "day" : m_q.by == GroupBy::outcome ? "outcome" : "0";
    // Grouped by link over most of the days, the covering index streams the rows in link order;
    // SQLite would otherwise sort every row of the range first.
    const bool by_link_index = m_q.by == GroupBy::link && !m_filtered && (day1 - day0) * 4 >= m_days_with_data;
    // Over every link and not by link, the day's totals in daily_values are the sum, a few rows a
    // day instead of a row per link.
    const bool day_totals = !m_filtered && m_q.by != GroupBy::link;
    auto totals = m_db.prepare(
        day_totals ? std::string("SELECT ") + key + ", sum(clicks), sum(visitors) FROM daily_values WHERE dim = " +
                         std::to_string(detail::k_totals_dim) + " AND day >= ?1 AND day < ?2" + conditions() +
                         " GROUP BY 1"
                   : std::string("SELECT ") + key + ", sum(clicks), sum(visitors) FROM daily " +
                         (by_link_index ? "INDEXED BY daily_by_link " : "") + "WHERE day >= ?1 AND day < ?2" +
                         (m_filtered ? k_links : "") + conditions() + " GROUP BY 1");
    if (!totals) {
        return totals.status();
    }
    {
        StmtUse s(**totals);
        bind_range(s.get());
        int rc = SQLITE_ROW;
        while ((rc = s->step()) == SQLITE_ROW) {
            const Cell c{static_cast<std::uint64_t>(s->i64(1)), static_cast<std::uint64_t>(s->i64(2))};
            m_total.clicks += c.clicks;
            m_total.visitors += c.visitors;
            if (!m_dim) {
                Cell& into = m_cells[static_cast<std::uint64_t>(s->i64(0))];
                into.clicks += c.clicks;
                into.visitors += c.visitors;
            }
        }
        if (rc != SQLITE_DONE) {
            return store::detail::sqlite_error(m_db.db.get(), rc, "cannot read rollups");
        }
    }
    if (m_dim && !m_filtered) {
        auto values = m_db.prepare("SELECT value, sum(clicks), sum(visitors) FROM daily_values "
                                   "WHERE dim = ?3 AND day >= ?1 AND day < ?2" + conditions() + " GROUP BY value");
        if (!values) {
            return values.status();
        }
        StmtUse s(**values);
        s->bind(1, day0).bind(2, day1).bind(3, static_cast<std::int64_t>(*m_dim));
        int rc = SQLITE_ROW;
        while ((rc = s->step()) == SQLITE_ROW) {
            Cell& into = m_cells[static_cast<std::uint64_t>(s->i64(0))];
            into.clicks += static_cast<std::uint64_t>(s->i64(1));
            into.visitors += static_cast<std::uint64_t>(s->i64(2));
        }
        if (rc != SQLITE_DONE) {
            return store::detail::sqlite_error(m_db.db.get(), rc, "cannot read rollups");
        }
    } else if (m_dim) {
        auto cells = m_db.prepare(std::string("SELECT day, dims FROM daily WHERE day >= ?1 AND day < ?2") +
                                  k_links + conditions());
        if (!cells) {
            return cells.status();
        }
        StmtUse s(**cells);
        bind_range(s.get());
        detail::DimCells dims;
        int rc = SQLITE_ROW;
        while ((rc = s->step()) == SQLITE_ROW) {
            const auto* blob = static_cast<const char*>(sqlite3_column_blob(s->raw(), 1));
            const auto size = static_cast<std::size_t>(sqlite3_column_bytes(s->raw(), 1));
            if (Status st = detail::decode_dims(std::string_view(blob == nullptr ? "" : blob, size), dims); !st) {
                return Status::corruption("stats database " + m_db.path + ": day " + day_text(s->i64(0)) + ": " +
                                          st.message());
            }
            for (const detail::DimCell& c : dims[static_cast<std::size_t>(*m_dim)]) {
                Cell& into = m_cells[c.value];
                into.clicks += c.clicks;
                into.visitors += c.visitors;
            }
        }
        if (rc != SQLITE_DONE) {
            return store::detail::sqlite_error(m_db.db.get(), rc, "cannot read rollups");
        }
    }
    std::int64_t days = day1 - day0;
    if (m_q.source == Source::automatic) {
        days -= std::count_if(m_pending.begin(), m_pending.end(), [&](std::int64_t d) { return d >= day0 && d < day1; });
    }
    m_result.days_from_rollups += static_cast<std::uint32_t>(std::min<std::int64_t>(days, 1'000'000));
    return Status::ok();
}

Status QueryRun::read_raw(std::int64_t since_ms, std::int64_t until_ms, std::int64_t bucket_ms) {
    if (since_ms >= until_ms) {
        return Status::ok();
    }
    const std::int64_t days = (until_ms - since_ms + k_day_ms - 1) / k_day_ms;
    m_result.days_from_raw += static_cast<std::uint32_t>(std::min<std::int64_t>(days, 1'000'000));
    detail::Aggregator agg(m_dim ? 1u << static_cast<unsigned>(*m_dim) : 0u);
    detail::AggEvent event;
    Status st = m_db.scan_raw(since_ms, until_ms, [&](const clicks::Event& e) {
        if ((m_q.code && e.code != *m_q.code) || (m_q.domain && e.domain != *m_q.domain) ||
            !selected(e.outcome, e.bot != 0 ? 1 : 0)) {
            return Status::ok();
        }
        if (Status s = m_db.agg_event(e, bucket_ms, false, event); !s) {
            return s;
        }
        agg.add(event);
        return Status::ok();
    });
    if (!st) {
        return st;
    }
    return agg.for_each_row([&](detail::AggRow& row) {
        m_total.clicks += row.clicks;
        m_total.visitors += row.visitors;
        if (m_dim) {
            for (const detail::DimCell& c : row.dims[static_cast<std::size_t>(*m_dim)]) {
                Cell& into = m_cells[c.value];
                into.clicks += c.clicks;
                into.visitors += c.visitors;
            }
        } else {
            Cell& into = m_cells[key_of(row.bucket, row.link, row.outcome)];
            into.clicks += row.clicks;
            into.visitors += row.visitors;
        }
        return Status::ok();
    });
}

Result<std::pair<std::string, std::string>> QueryRun::link_name(std::int64_t id) {
    if (id >= detail::k_temporary_link) {
        const std::string_view key = m_db.links.name_of(id);
        if (key.size() < 2) {
            return Status::not_found("link " + std::to_string(id));
        }
        const std::size_t n = static_cast<unsigned char>(key[0]) | static_cast<std::size_t>(static_cast<unsigned char>(key[1])) << 8;
        return std::make_pair(std::string(key.substr(2, n)), std::string(key.substr(2 + n)));
    }
    auto stmt = m_db.prepare("SELECT domain, code FROM links WHERE id = ?1");
    if (!stmt) {
        return stmt.status();
    }
    StmtUse s(**stmt);
    s->bind(1, id);
    if (s->step() != SQLITE_ROW) {
        return Status::corruption("stats database " + m_db.path + ": rollups name link " + std::to_string(id) +
                                  ", which is not in its links table");
    }
    return std::make_pair(std::string(s->text(0)), std::string(s->text(1)));
}

Result<std::string> QueryRun::referrer_name(std::int64_t id) {
    if (id == 0) {
        return std::string();
    }
    if (id >= detail::k_temporary_link) {
        return std::string(m_db.referrers.name_of(id));
    }
    auto stmt = m_db.prepare("SELECT host FROM referrers WHERE id = ?1");
    if (!stmt) {
        return stmt.status();
    }
    StmtUse s(**stmt);
    s->bind(1, id);
    if (s->step() != SQLITE_ROW) {
        return Status::corruption("stats database " + m_db.path + ": rollups name referrer " + std::to_string(id) +
                                  ", which is not in its referrers table");
    }
    return std::string(s->text(0));
}

Result<std::vector<Row>> QueryRun::make_rows(std::int64_t since_ms, std::int64_t until_ms) {
    std::vector<Row> rows;
    if (m_q.by == GroupBy::none) {
        return rows;
    }
    if (m_q.by == GroupBy::day || m_q.by == GroupBy::hour) {
        const std::int64_t len = m_q.by == GroupBy::day ? k_day_ms : k_hour_ms;
        std::int64_t first = std::numeric_limits<std::int64_t>::max();
        std::int64_t last = std::numeric_limits<std::int64_t>::min();
        for (const auto& [key, cell] : m_cells) {
            first = std::min(first, static_cast<std::int64_t>(key));
            last = std::max(last, static_cast<std::int64_t>(key));
        }
        if (m_q.since_ms != 0) {
            first = bucket_of(since_ms, len);
        }
        if (m_q.until_ms != 0) {
            last = bucket_of(until_ms - 1, len);
        }
        const bool fill = first <= last && last - first < k_max_filled_buckets;
        std::vector<std::int64_t> buckets;
        if (fill) {
            for (std::int64_t b = first; b <= last; ++b) {
                buckets.push_back(b);
            }
        } else {
            for (const auto& [key, cell] : m_cells) {
                buckets.push_back(static_cast<std::int64_t>(key));
            }
            std::sort(buckets.begin(), buckets.end());
        }
        for (std::int64_t b : buckets) {
            Row r;
            r.start_ms = b * len;
            r.key = m_q.by == GroupBy::day ? day_text(b) : hour_text(b);
            auto it = m_cells.find(static_cast<std::uint64_t>(b));
            if (it != m_cells.end()) {
                r.clicks = it->second.clicks;
                r.visitors = it->second.visitors;
            }
            rows.push_back(std::move(r));
        }
        m_result.groups = rows.size();
        return rows;
    }
    // Rankings: sort by the figure, then name the rows that are shown.
    std::vector<std::pair<std::uint64_t, Cell>> cells(m_cells.begin(), m_cells.end());
    const auto figure = [&](const Cell& c) { return m_q.rank_by_visitors ? c.visitors : c.clicks; };
    if (m_q.by != GroupBy::link) {
        // Values that print alike (unknown enum values from a newer writer) are one row.
        std::map<std::string, Cell> merged;
        for (const auto& [value, cell] : cells) {
            std::string key;
            switch (m_q.by) {
            case GroupBy::outcome: key = std::string(clicks::outcome_name(static_cast<std::uint8_t>(value))); break;
            case GroupBy::country: key = detail::country_text(value); break;
            case GroupBy::device: key = std::string(clicks::device_name(static_cast<std::uint8_t>(value))); break;
            case GroupBy::os: key = std::string(clicks::os_name(static_cast<std::uint8_t>(value))); break;
            case GroupBy::browser: key = std::string(clicks::browser_name(static_cast<std::uint8_t>(value))); break;
            case GroupBy::bot: key = std::string(clicks::bot_name(static_cast<std::uint8_t>(value))); break;
            case GroupBy::qr: key = value != 0 ? "qr" : "other"; break;
            case GroupBy::referrer: {
                auto name = referrer_name(static_cast<std::int64_t>(value));
                if (!name) {
                    return name.status();
                }
                key = std::move(*name);
                break;
            }
            default: break;
            }
            Cell& into = merged[key];
            into.clicks += cell.clicks;
            into.visitors += cell.visitors;
        }
        for (const auto& [key, cell] : merged) {
            Row r;
            r.key = key;
            r.clicks = cell.clicks;
            r.visitors = cell.visitors;
            rows.push_back(std::move(r));
        }
        std::stable_sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) {
            return (m_q.rank_by_visitors ? a.visitors : a.clicks) > (m_q.rank_by_visitors ? b.visitors : b.clicks);
        });
        m_result.groups = rows.size();
        if (m_q.top != 0 && rows.size() > m_q.top) {
            rows.resize(m_q.top);
        }
        return rows;
    }
    std::sort(cells.begin(), cells.end(), [&](const auto& a, const auto& b) {
        if (figure(a.second) != figure(b.second)) {
            return figure(a.second) > figure(b.second);
        }
        return a.first < b.first;
    });
    m_result.groups = cells.size();
    if (m_q.top != 0 && cells.size() > m_q.top) {
        cells.resize(m_q.top);
    }
    for (const auto& [id, cell] : cells) {
        auto name = link_name(static_cast<std::int64_t>(id));
        if (!name) {
            return name.status();
        }
        Row r;
        r.domain = std::move(name->first);
        r.code = std::move(name->second);
        r.key = r.domain + "/" + r.code;
        r.clicks = cell.clicks;
        r.visitors = cell.visitors;
        rows.push_back(std::move(r));
    }
    (void)since_ms;
    (void)until_ms;
    return rows;
}

Result<QueryResult> QueryRun::run() {
    if (m_q.since_ms != 0 && m_q.until_ms != 0 && m_q.since_ms >= m_q.until_ms) {
        return Status::invalid_argument("--since " + time_text(m_q.since_ms) + " is not before --until " +
                                        time_text(m_q.until_ms));
    }
    if (Status st = load_context(); !st) {
        return st;
    }
    // The days that hold data: rollups and pending days (whose raw events are there).
    std::int64_t first_day = std::numeric_limits<std::int64_t>::max();
    std::int64_t last_day = std::numeric_limits<std::int64_t>::min();
    {
        // Two subqueries: SQLite reads a min() or max() alone from the key, both together by a scan.
        auto stmt = m_db.prepare("SELECT (SELECT min(day) FROM daily), (SELECT max(day) FROM daily)");
        if (!stmt) {
            return stmt.status();
        }
        StmtUse s(**stmt);
        if (s->step() == SQLITE_ROW && !s->is_null(0)) {
            first_day = s->i64(0);
            last_day = s->i64(1);
        }
    }
    if (!m_pending.empty()) {
        first_day = std::min(first_day, *m_pending.begin());
        last_day = std::max(last_day, *m_pending.rbegin());
    }
    const bool empty = first_day > last_day;
    m_days_with_data = empty ? 0 : last_day - first_day + 1;
    const bool raw_only = m_q.by == GroupBy::hour || m_q.source == Source::raw;
    std::int64_t since = m_q.since_ms != 0 ? m_q.since_ms : (empty ? 0 : first_day * k_day_ms);
    const std::int64_t until = m_q.until_ms != 0 ? m_q.until_ms : (empty ? 0 : (last_day + 1) * k_day_ms);
    if (raw_only && m_q.since_ms == 0 && since < m_raw_since) {
        since = (m_raw_since + k_hour_ms - 1) / k_hour_ms * k_hour_ms;
    }
    m_result.since_ms = since;
    m_result.until_ms = until;
    const std::string window = m_raw_since == 0 ? std::string("all of them")
                                                : "those since " + time_text(m_raw_since);
    if (!empty && since < until) {
        if (raw_only) {
            if (since < m_raw_since) {
                return Status::invalid_argument(
                    std::string(m_q.by == GroupBy::hour ? "--by hour" : "a raw query") + " reads raw events, and " +
                    "the database keeps " + window + " (--retain); give --since " + time_text(m_raw_since) +
                    " or later, or ask --by day");
            }
            if (Status st = read_raw(since, until, m_q.by == GroupBy::hour ? k_hour_ms : k_day_ms); !st) {
                return st;
            }
        } else {
            const std::int64_t day0 = bucket_of(since + k_day_ms - 1, k_day_ms);
            const std::int64_t day1 = std::max(day0, bucket_of(until, k_day_ms));
            // Partial days at either end come from raw events, which must still be there.
            const std::int64_t head_end = std::min(until, day0 * k_day_ms);
            const std::int64_t tail_start = std::max(since, day1 * k_day_ms);
            for (const auto& [from, to, option] :
                 {std::tuple{since, head_end, "--since"}, std::tuple{tail_start, until, "--until"}}) {
                if (from >= to) {
                    continue;
                }
                if (m_q.source == Source::rollup || from < m_raw_since) {
                    return Status::invalid_argument(
                        std::string(option) + " is not at midnight UTC, so part of a day is asked for; rollups " +
                        "count whole days and raw events are kept for " + window +
                        ". Give a date (YYYY-MM-DD) or a time in the raw window");
                }
                if (Status st = read_raw(from, to, k_day_ms); !st) {
                    return st;
                }
            }
            if (Status st = read_rollups(day0, day1); !st) {
                return st;
            }
            if (m_q.source == Source::automatic) {
                for (std::int64_t day : m_pending) {
                    if (day >= day0 && day < day1) {
                        if (Status st = read_raw(day * k_day_ms, (day + 1) * k_day_ms, k_day_ms); !st) {
                            return st;
                        }
                    }
                }
            }
        }
    }
    auto rows = make_rows(since, until);
    if (!rows) {
        return rows.status();
    }
    m_result.rows = std::move(*rows);
    m_result.clicks = m_total.clicks;
    m_result.visitors = m_total.visitors;
    return std::move(m_result);
}

}  // namespace

std::string network_text(const clicks::Event& e) {
    char text[INET6_ADDRSTRLEN];
    if (e.network_family == 4) {
        const std::uint8_t addr[4] = {e.network[0], e.network[1], e.network[2], 0};
        if (::inet_ntop(AF_INET, addr, text, sizeof text) != nullptr) {
            return std::string(text) + "/24";
        }
    } else if (e.network_family == 6) {
        std::uint8_t addr[16] = {};
        std::copy(e.network.begin(), e.network.end(), addr);
        if (::inet_ntop(AF_INET6, addr, text, sizeof text) != nullptr) {
            return std::string(text) + "/48";
        }
    }
    return {};
}

namespace {

// Reads run inside one read transaction, so every table is seen at the same moment even while an
// ingest commits.
class ReadTransaction {
public:
    explicit ReadTransaction(StatsDb::Impl& db) : m_db(db) { m_status = db.exec("BEGIN"); }
    ~ReadTransaction() {
        if (m_status) {
            m_db.rollback();
        }
    }
    ReadTransaction(const ReadTransaction&) = delete;
    ReadTransaction& operator=(const ReadTransaction&) = delete;
    const Status& status() const { return m_status; }

private:
    StatsDb::Impl& m_db;
    Status m_status;
};

}  // namespace

Result<QueryResult> StatsDb::query(const Query& q) {
    ReadTransaction tx(*m_impl);
    if (!tx.status()) {
        return tx.status();
    }
    return QueryRun(*m_impl, q).run();
}

Status StatsDb::export_events(const ExportFilter& filter, const std::function<Status(const clicks::Event&)>& each) {
    ReadTransaction tx(*m_impl);
    if (!tx.status()) {
        return tx.status();
    }
    auto raw_since = m_impl->meta("raw_since_ms");
    if (!raw_since) {
        return raw_since.status();
    }
    const std::int64_t since = std::max(filter.since_ms, *raw_since);
    const std::int64_t until = filter.until_ms != 0 ? filter.until_ms : std::numeric_limits<std::int64_t>::max();
    return m_impl->scan_raw(since, until, each);
}

}  // namespace shortlink::stats
