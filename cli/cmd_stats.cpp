// shortlink stats: click analytics from the segments `serve --clicks DIR` writes.
//   stats [CODE]     totals, series, rankings (top links, countries, ...) and orphan visits
//   stats ingest DIR load segments into the stats database (store/stats_db.h)
//   stats report     one self-contained HTML file (cli/stats_report.cpp)
//   stats export     raw events as JSON Lines or CSV for ClickHouse, DuckDB or BigQuery
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <limits>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>

#include <CLI/CLI.hpp>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/stats_report.h"
#include "formats/clicks.h"
#include "formats/clock.h"
#include "store/csv.h"
#include "store/timefmt.h"

namespace shortlink::cli {
namespace {

namespace clicks = formats::clicks;
using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// Options every form shares; --stats-db may be given before or after the subcommand.
struct StatsCommon {
    std::string stats_db;
};

struct QueryOptions {
    std::string code;
    std::string domain;
    std::string since;
    std::string until;
    std::string by;
    std::string top;
    std::string bots = "exclude";
    std::string outcome;
    bool unique = false;
    bool json = false;
    std::string format = "table";
};

struct IngestCliOptions {
    std::string dir;
    std::string retain = "90d";
    bool json = false;
};

struct ReportOptions {
    std::string out = "report.html";
    std::string domain;
    std::string since;
    std::string until;
    std::string top = "10";
};

struct ExportCliOptions {
    std::string format = "jsonl";
    std::string out;
    std::string since;
    std::string until;
};

std::string stats_path(const StatsCommon& common, const GlobalOptions& globals) {
    return common.stats_db.empty() ? stats::default_path(globals.db_path) : common.stats_db;
}

std::int64_t range_time_ms(const std::string& text, const char* option, bool end) {
    if (text.empty()) {
        return 0;
    }
    auto t = timefmt::parse_range_time(text, clock::unix_seconds(), end);
    if (!t) {
        throw Error(k_exit_usage, std::string(option) + ": " + t.status().message());
    }
    return *t * 1000;
}

std::string time_ms_text(std::int64_t ms) {
    if (ms == 0) {
        return "";
    }
    return timefmt::format_time(ms / 1000);
}

// RFC 3339 with milliseconds: 2026-12-01T08:00:00.123Z.
std::string time_ms_exact(std::int64_t ms) {
    std::int64_t s = ms / 1000;
    std::int64_t frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        s -= 1;
    }
    std::string t = timefmt::format_time(s);
    char buf[8];
    std::snprintf(buf, sizeof buf, ".%03d", static_cast<int>(frac));
    t.insert(t.size() - 1, buf);
    return t;
}

// --top N: a whole number from 1 up; anything else (0, negative, past 64 bits) is refused.
std::uint64_t top_arg(const std::string& text) {
    std::uint64_t n = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || n == 0 ||
        n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        throw Error(k_exit_usage, "--top: '" + display_text(text) + "' is not a number of rows from 1 to " +
                                      std::to_string(std::numeric_limits<std::int64_t>::max()));
    }
    return n;
}

std::vector<std::uint8_t> outcomes_arg(const std::string& text) {
    if (text.empty()) {
        return stats::default_outcomes();
    }
    if (text == "all") {
        return {};
    }
    std::vector<std::uint8_t> out;
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t comma = std::min(text.find(',', start), text.size());
        const std::string_view name(text.data() + start, comma - start);
        bool found = false;
        for (std::uint8_t v = 0; v < clicks::k_outcome_count; ++v) {
            if (clicks::outcome_name(v) == name) {
                out.push_back(v);
                found = true;
            }
        }
        if (!found) {
            std::string names;
            for (std::uint8_t v = 0; v < clicks::k_outcome_count; ++v) {
                names += std::string(v == 0 ? "" : ", ") + std::string(clicks::outcome_name(v));
            }
            throw Error(k_exit_usage, "--outcome: unknown outcome '" + display_text(name) + "' (one or more of " +
                                          names + ", comma-separated, or all)");
        }
        start = comma + 1;
    }
    return out;
}

void key_string(JsonWriter& w, const char* key, std::string_view v) {
    const std::string text = display_text(v);
    w.Key(key);
    w.String(text.c_str(), static_cast<rapidjson::SizeType>(text.size()));
}

// --- stats [CODE] --------------------------------------------------------------------------------

std::string result_json(const stats::Query& q, const stats::QueryResult& r) {
    rapidjson::StringBuffer buf;
    JsonWriter w(buf);
    w.StartObject();
    key_string(w, "since", time_ms_text(r.since_ms));
    key_string(w, "until", time_ms_text(r.until_ms));
    key_string(w, "by", stats::group_by_name(q.by));
    key_string(w, "bots", q.bots == stats::Bots::exclude ? "exclude" : q.bots == stats::Bots::include ? "include" : "only");
    w.Key("outcomes");
    w.StartArray();
    if (q.outcomes.empty()) {
        w.String("all");
    }
    for (std::uint8_t v : q.outcomes) {
        const std::string_view name = clicks::outcome_name(v);
        w.String(name.data(), static_cast<rapidjson::SizeType>(name.size()));
    }
    w.EndArray();
    if (q.code) {
        key_string(w, "code", *q.code);
    }
    if (q.domain) {
        key_string(w, "domain", *q.domain);
    }
    w.Key("clicks");
    w.Uint64(r.clicks);
    w.Key("visitors");
    w.Uint64(r.visitors);
    w.Key("groups");
    w.Uint64(r.groups);
    w.Key("rows");
    w.StartArray();
    for (const stats::Row& row : r.rows) {
        w.StartObject();
        key_string(w, "key", row.key);
        if (q.by == stats::GroupBy::link) {
            key_string(w, "domain", row.domain);
            key_string(w, "code", row.code);
        }
        if (q.by == stats::GroupBy::day || q.by == stats::GroupBy::hour) {
            key_string(w, "start", time_ms_text(row.start_ms));
        }
        w.Key("clicks");
        w.Uint64(row.clicks);
        w.Key("visitors");
        w.Uint64(row.visitors);
        w.EndObject();
    }
    w.EndArray();
    w.Key("days_from_rollups");
    w.Uint(r.days_from_rollups);
    w.Key("days_from_raw");
    w.Uint(r.days_from_raw);
    w.EndObject();
    return buf.GetString();
}

// What an empty key means in a table: no referrer, an unknown country.
std::string shown_key(const stats::Query& q, const std::string& key) {
    if (!key.empty()) {
        return display_text(key);
    }
    return q.by == stats::GroupBy::referrer ? "(none)" : q.by == stats::GroupBy::country ? "(unknown)" : "(empty)";
}

void print_table(const stats::Query& q, const stats::QueryResult& r, bool unique) {
    std::printf("%s to %s: %" PRIu64 " clicks", time_ms_text(r.since_ms).c_str(), time_ms_text(r.until_ms).c_str(),
                r.clicks);
    if (unique) {
        std::printf(", %" PRIu64 " visitors", r.visitors);
    }
    std::printf("\n");
    if (q.by == stats::GroupBy::none) {
        return;
    }
    std::size_t width = std::string_view(stats::group_by_name(q.by)).size();
    std::vector<std::string> keys;
    for (const stats::Row& row : r.rows) {
        keys.push_back(shown_key(q, row.key));
        width = std::max(width, keys.back().size());
    }
    width = std::min<std::size_t>(width, 80);
    std::string header(stats::group_by_name(q.by));
    for (char& c : header) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    std::printf("\n%-*s %12s%s\n", static_cast<int>(width), header.c_str(), "CLICKS", unique ? "     VISITORS" : "");
    for (std::size_t i = 0; i < r.rows.size(); ++i) {
        std::printf("%-*s %12" PRIu64, static_cast<int>(width), keys[i].c_str(), r.rows[i].clicks);
        if (unique) {
            std::printf(" %12" PRIu64, r.rows[i].visitors);
        }
        std::printf("\n");
    }
    if (r.groups > r.rows.size()) {
        std::printf("(%" PRIu64 " of %" PRIu64 " shown; --top N shows more)\n", static_cast<std::uint64_t>(r.rows.size()),
                    r.groups);
    }
}

void print_csv(const stats::Query& q, const stats::QueryResult& r, bool unique) {
    std::string out;
    std::vector<std::string> header;
    if (q.by == stats::GroupBy::link) {
        header = {"domain", "code"};
    } else if (q.by != stats::GroupBy::none) {
        header = {std::string(stats::group_by_name(q.by))};
    }
    header.emplace_back("clicks");
    if (unique) {
        header.emplace_back("visitors");
    }
    csv::append_record(out, header);
    const auto add = [&](std::vector<std::string> fields, const stats::Row* row) {
        fields.push_back(std::to_string(row != nullptr ? row->clicks : r.clicks));
        if (unique) {
            fields.push_back(std::to_string(row != nullptr ? row->visitors : r.visitors));
        }
        csv::append_record(out, fields);
    };
    if (q.by == stats::GroupBy::none) {
        add({}, nullptr);
    }
    for (const stats::Row& row : r.rows) {
        if (q.by == stats::GroupBy::link) {
            add({display_text(row.domain), display_text(row.code)}, &row);
        } else {
            add({display_text(row.key)}, &row);
        }
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
}

void run_query(const QueryOptions& o, const StatsCommon& common, const GlobalOptions& globals) {
    stats::Query q;
    if (!o.code.empty()) {
        q.code = o.code;
    }
    if (!o.domain.empty()) {
        q.domain = o.domain;
    }
    q.since_ms = range_time_ms(o.since, "--since", false);
    q.until_ms = range_time_ms(o.until, "--until", true);
    if (!o.by.empty()) {
        auto by = stats::parse_group_by(o.by);
        if (!by || *by == stats::GroupBy::none) {
            throw Error(k_exit_usage, "--by: unknown grouping '" + display_text(o.by) +
                                          "' (day, hour, link, country, device, os, browser, referrer, outcome, bot or qr)");
        }
        q.by = *by;
    } else {
        q.by = q.code ? stats::GroupBy::none : stats::GroupBy::link;
    }
    const bool series = q.by == stats::GroupBy::day || q.by == stats::GroupBy::hour;
    if (!o.top.empty() && (series || q.by == stats::GroupBy::none)) {
        throw Error(k_exit_usage, "--top ranks rows; it does not apply to " +
                                      std::string(series ? "a series (--by day or hour)" : "a total"));
    }
    q.top = series ? 0 : (o.top.empty() ? 10 : top_arg(o.top));
    q.bots = o.bots == "include" ? stats::Bots::include : o.bots == "only" ? stats::Bots::only : stats::Bots::exclude;
    q.outcomes = outcomes_arg(o.outcome);
    q.rank_by_visitors = o.unique;
    const std::string format = o.json ? "json" : o.format;

    stats::StatsDb db = unwrap(stats::StatsDb::open(stats_path(common, globals), false));
    const stats::QueryResult r = unwrap(db.query(q));
    if (format == "json") {
        std::printf("%s\n", result_json(q, r).c_str());
    } else if (format == "csv") {
        print_csv(q, r, o.unique);
    } else {
        print_table(q, r, o.unique);
    }
}

// --- stats ingest --------------------------------------------------------------------------------

// Segments and events per second on one line of a terminal's stderr, redrawn in place.
class IngestProgressLine {
public:
    IngestProgressLine() : m_enabled(::isatty(STDERR_FILENO) == 1) {}
    ~IngestProgressLine() {
        if (m_dirty) {
            std::fprintf(stderr, "\r\033[K");
        }
    }
    IngestProgressLine(const IngestProgressLine&) = delete;
    IngestProgressLine& operator=(const IngestProgressLine&) = delete;
    bool enabled() const { return m_enabled; }
    void show(const stats::IngestProgress& p) {
        const double seconds = static_cast<double>(std::max<std::int64_t>(p.elapsed_ms, 1)) / 1000.0;
        std::fprintf(stderr, "\r\033[Ksegments %zu/%zu, %" PRIu64 " events, %.0f events/s%s", p.segments_done,
                     p.segments_total, p.events, static_cast<double>(p.events) / seconds,
                     p.rolling_up ? ", rolling up days" : "");
        std::fflush(stderr);
        m_dirty = true;
    }

private:
    bool m_enabled;
    bool m_dirty = false;
};

void run_ingest(const IngestCliOptions& o, const StatsCommon& common, const GlobalOptions& globals) {
    auto retain = stats::parse_retention(o.retain);
    if (!retain) {
        throw Error(k_exit_usage, "--retain: " + retain.status().message());
    }
    stats::IngestOptions options;
    options.retain_ms = *retain;
    const std::string path = stats_path(common, globals);
    const std::int64_t start = clock::monotonic_ms();
    stats::IngestReport report;
    {
        IngestProgressLine line;
        if (line.enabled()) {
            options.progress = [&line](const stats::IngestProgress& p) { line.show(p); };
        }
        // The directory first: a typo must not leave an empty stats database behind.
        struct stat st{};
        if (::stat(o.dir.c_str(), &st) != 0) {
            const int err = errno;
            throw Error(err == ENOENT ? k_exit_not_found : k_exit_runtime,
                        "click directory " + o.dir + (err == ENOENT ? " does not exist" : ": " + std::string(std::strerror(err))));
        }
        if (!S_ISDIR(st.st_mode)) {
            throw Error(k_exit_usage, o.dir + " is not a directory");
        }
        stats::StatsDb db = unwrap(stats::StatsDb::open(path, true));
        report = unwrap(db.ingest(o.dir, options));
    }
    const double seconds = static_cast<double>(std::max<std::int64_t>(clock::monotonic_ms() - start, 1)) / 1000.0;
    std::size_t damaged = 0;
    std::size_t unreadable = 0;
    for (const stats::SegmentProblem& p : report.problems) {
        std::fprintf(stderr, "shortlink: %s: %s; %s\n", p.damaged ? "damaged segment" : "unreadable segment",
                     p.message.c_str(),
                     p.damaged ? "its events before the damage are counted, none after it"
                               : "skipped, the next ingest tries again");
        (p.damaged ? damaged : unreadable) += 1;
    }
    if (o.json) {
        rapidjson::StringBuffer buf;
        JsonWriter w(buf);
        w.StartObject();
        w.Key("segments");
        w.Uint64(report.segments);
        w.Key("segments_read");
        w.Uint64(report.segments_read);
        w.Key("segments_complete");
        w.Uint64(report.segments_complete);
        w.Key("segments_waiting");
        w.Uint64(report.segments_waiting);
        w.Key("events");
        w.Uint64(report.events);
        w.Key("bytes");
        w.Uint64(report.bytes);
        w.Key("late_events");
        w.Uint64(report.late_events);
        w.Key("seconds");
        w.Double(seconds);
        w.Key("days_rolled_up");
        w.Uint64(report.days_rolled_up);
        w.Key("pruned_events");
        w.Uint64(report.pruned_events);
        key_string(w, "raw_since", time_ms_text(report.raw_since_ms));
        w.Key("problems");
        w.StartArray();
        for (const stats::SegmentProblem& p : report.problems) {
            w.StartObject();
            key_string(w, "path", p.path);
            key_string(w, "message", p.message);
            w.Key("damaged");
            w.Bool(p.damaged);
            w.EndObject();
        }
        w.EndArray();
        w.EndObject();
        std::printf("%s\n", buf.GetString());
    } else {
        std::printf("%zu segments: %zu read, %zu complete, %zu still being written, %zu damaged or unreadable\n",
                    report.segments, report.segments_read, report.segments_complete, report.segments_waiting,
                    report.problems.size());
        std::printf("%" PRIu64 " events (%.1f MB of segments) in %.2f s: %.0f events/s\n", report.events,
                    static_cast<double>(report.bytes) / 1e6, seconds, static_cast<double>(report.events) / seconds);
        std::printf("%zu days rolled up; %" PRIu64 " raw events pruned; raw events kept from %s\n",
                    report.days_rolled_up, report.pruned_events,
                    report.raw_since_ms == 0 ? "the first" : time_ms_text(report.raw_since_ms).c_str());
    }
    if (unreadable > 0) {
        throw Error(k_exit_runtime, std::to_string(unreadable) + " segment(s) could not be read; the others were ingested");
    }
    if (damaged > 0) {
        throw Error(k_exit_invalid, std::to_string(damaged) +
                                        " damaged segment(s) read up to the damage; everything else was ingested");
    }
}

// --- stats export --------------------------------------------------------------------------------

// The export's columns, in order; man/shortlink-stats.1 gives their types for each loader.
constexpr const char* k_export_columns[] = {"time",    "time_ms", "domain", "code",    "outcome", "status",
                                            "method",  "rule",    "device", "os",      "browser", "bot",
                                            "is_bot",  "qr",      "tls",    "country", "referrer", "network",
                                            "serial",  "visitor"};

std::string visitor_hex(std::uint64_t v) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
    return buf;
}

void write_export(stats::StatsDb& db, const ExportCliOptions& o, std::FILE* f) {
    stats::ExportFilter filter;
    filter.since_ms = range_time_ms(o.since, "--since", false);
    filter.until_ms = range_time_ms(o.until, "--until", true);
    if (filter.since_ms != 0 && filter.until_ms != 0 && filter.since_ms >= filter.until_ms) {
        throw Error(k_exit_usage, "--since is not before --until");
    }
    OutputSink out(f);
    const bool csv_format = o.format == "csv";
    if (csv_format) {
        std::string header;
        csv::append_record(header, std::vector<std::string>(std::begin(k_export_columns), std::end(k_export_columns)));
        out.raw(header);
    }
    std::string line;
    std::vector<std::string> fields;
    check(db.export_events(filter, [&](const clicks::Event& e) {
        const std::string_view country =
            e.country[0] == 0 ? std::string_view() : std::string_view(e.country.data(), e.country.size());
        const std::string network = stats::network_text(e);
        const bool is_bot = e.bot != 0;
        const bool qr = (e.flags & clicks::k_event_qr) != 0;
        const bool tls = (e.flags & clicks::k_event_tls) != 0;
        if (csv_format) {
            fields = {time_ms_exact(e.time_ms),
                      std::to_string(e.time_ms),
                      display_text(e.domain),
                      display_text(e.code),
                      std::string(clicks::outcome_name(e.outcome)),
                      std::to_string(e.status),
                      std::string(clicks::method_name(e.method)),
                      std::to_string(e.rule),
                      std::string(clicks::device_name(e.device)),
                      std::string(clicks::os_name(e.os)),
                      std::string(clicks::browser_name(e.browser)),
                      std::string(clicks::bot_name(e.bot)),
                      is_bot ? "true" : "false",
                      qr ? "true" : "false",
                      tls ? "true" : "false",
                      std::string(country),
                      display_text(e.referrer),
                      network,
                      std::to_string(e.serial),
                      visitor_hex(e.visitor)};
            line.clear();
            csv::append_record(line, fields);
            out.raw(line);
            return Status::ok();
        }
        rapidjson::StringBuffer buf;
        JsonWriter w(buf);
        w.StartObject();
        key_string(w, "time", time_ms_exact(e.time_ms));
        w.Key("time_ms");
        w.Int64(e.time_ms);
        key_string(w, "domain", e.domain);
        key_string(w, "code", e.code);
        key_string(w, "outcome", clicks::outcome_name(e.outcome));
        w.Key("status");
        w.Uint(e.status);
        key_string(w, "method", clicks::method_name(e.method));
        w.Key("rule");
        w.Uint(e.rule);
        key_string(w, "device", clicks::device_name(e.device));
        key_string(w, "os", clicks::os_name(e.os));
        key_string(w, "browser", clicks::browser_name(e.browser));
        key_string(w, "bot", clicks::bot_name(e.bot));
        w.Key("is_bot");
        w.Bool(is_bot);
        w.Key("qr");
        w.Bool(qr);
        w.Key("tls");
        w.Bool(tls);
        key_string(w, "country", country);
        key_string(w, "referrer", e.referrer);
        key_string(w, "network", network);
        w.Key("serial");
        w.Uint64(e.serial);
        key_string(w, "visitor", visitor_hex(e.visitor));
        w.EndObject();
        out.line(std::string_view(buf.GetString(), buf.GetSize()));
        return Status::ok();
    }));
    out.flush();
}

// Written under a temporary name and renamed when complete, as export does.
template <class F>
void write_file(const std::string& path, F&& write) {
    const std::string tmp = path + ".tmp";
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (f == nullptr) {
        throw Error(k_exit_runtime, "cannot create " + tmp + ": " + std::strerror(errno));
    }
    try {
        write(f);
    } catch (...) {
        std::fclose(f);
        std::remove(tmp.c_str());
        throw;
    }
    if (std::fclose(f) != 0 || std::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        std::remove(tmp.c_str());
        throw Error(k_exit_runtime, "cannot write " + path + ": " + std::strerror(err));
    }
}

void run_export(const ExportCliOptions& o, const StatsCommon& common, const GlobalOptions& globals) {
    stats::StatsDb db = unwrap(stats::StatsDb::open(stats_path(common, globals), false));
    if (o.out.empty() || o.out == "-") {
        write_export(db, o, stdout);
        return;
    }
    write_file(o.out, [&](std::FILE* f) { write_export(db, o, f); });
}

// --- stats report --------------------------------------------------------------------------------

void run_report(const ReportOptions& o, const StatsCommon& common, const GlobalOptions& globals) {
    ReportSpec spec;
    if (!o.domain.empty()) {
        spec.domain = o.domain;
    }
    spec.since_ms = range_time_ms(o.since, "--since", false);
    spec.until_ms = range_time_ms(o.until, "--until", true);
    spec.top = top_arg(o.top);
    spec.generated_ms = clock::unix_millis();
    stats::StatsDb db = unwrap(stats::StatsDb::open(stats_path(common, globals), false));
    const std::string html = stats_report_html(db, spec);
    if (o.out == "-") {
        std::fwrite(html.data(), 1, html.size(), stdout);
        return;
    }
    write_file(o.out, [&](std::FILE* f) {
        if (std::fwrite(html.data(), 1, html.size(), f) != html.size()) {
            throw Error(k_exit_runtime, "cannot write " + o.out + ": " + std::strerror(errno));
        }
    });
    std::printf("wrote %s\n", o.out.c_str());
}

void add_stats_db(CLI::App* sub, StatsCommon& common) {
    sub->add_option("--stats-db", common.stats_db,
                    "Stats database (default: stats.db beside the links database of --db)");
}

void add_range(CLI::App* sub, std::string& since, std::string& until) {
    sub->add_option("--since", since, "From this time on: YYYY-MM-DD, RFC 3339, or a duration ago (7d)");
    sub->add_option("--until", until, "Before this time (a date: through that day)");
}

}  // namespace

void setup_stats(CLI::App& app, const GlobalOptions& globals) {
    auto common = std::make_shared<StatsCommon>();
    auto q = std::make_shared<QueryOptions>();
    CLI::App* sub = add_command(app, "stats");
    sub->require_subcommand(0, 1);
    sub->add_option("CODE", q->code, "One link's code (any domain unless --domain); without it, the top links");
    sub->add_option("--domain", q->domain, "Only links of this domain (as the server recorded it)");
    add_range(sub, q->since, q->until);
    sub->add_option("--by", q->by, "day, hour, link, country, device, os, browser, referrer, outcome, bot or qr");
    sub->add_option("--top", q->top, "Rows of a ranking (default 10)");
    sub->add_option("--bots", q->bots, "exclude (default), include or only")
        ->check(CLI::IsMember({"exclude", "include", "only"}));
    sub->add_option("--outcome", q->outcome,
                    "Outcomes counted: names, comma-separated, or all (default redirect,password_ok; miss: orphan visits)");
    sub->add_flag("--unique", q->unique, "Also count unique visitors, and rank by them");
    CLI::Option* json = sub->add_flag("--json", q->json, "One JSON object");
    sub->add_option("--format", q->format, "table (default), json or csv")
        ->check(CLI::IsMember({"table", "json", "csv"}))
        ->excludes(json);
    add_stats_db(sub, *common);
    sub->callback([sub, q, common, &globals] {
        if (sub->get_subcommands().empty()) {
            run_query(*q, *common, globals);
        }
    });

    auto ingest = std::make_shared<IngestCliOptions>();
    CLI::App* in = sub->add_subcommand("ingest", "Load click segments from DIR into the stats database");
    in->add_option("DIR", ingest->dir, "The directory of `serve --clicks DIR`")->required();
    in->add_option("--retain", ingest->retain, "Keep raw events this long (default 90d; h or d)");
    in->add_flag("--json", ingest->json, "Print the summary as one JSON object");
    add_stats_db(in, *common);
    in->callback([ingest, common, &globals] { run_ingest(*ingest, *common, globals); });

    auto report = std::make_shared<ReportOptions>();
    CLI::App* rep = sub->add_subcommand("report", "Write one self-contained HTML report");
    rep->add_option("--out", report->out, "Output file (default report.html; - for stdout)");
    rep->add_option("--domain", report->domain, "Only links of this domain");
    add_range(rep, report->since, report->until);
    rep->add_option("--top", report->top, "Rows of each ranking (default 10)");
    add_stats_db(rep, *common);
    rep->callback([report, common, &globals] { run_report(*report, *common, globals); });

    auto exp = std::make_shared<ExportCliOptions>();
    CLI::App* ex = sub->add_subcommand("export", "Raw events as JSON Lines or CSV (ClickHouse, DuckDB, BigQuery)");
    ex->add_option("--format", exp->format, "jsonl (default) or csv")->check(CLI::IsMember({"jsonl", "csv"}));
    ex->add_option("--out", exp->out, "Output file (default: stdout)");
    add_range(ex, exp->since, exp->until);
    add_stats_db(ex, *common);
    ex->callback([exp, common, &globals] { run_export(*exp, *common, globals); });
}

}  // namespace shortlink::cli
