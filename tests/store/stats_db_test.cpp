// The stats database against real segment files: ingest counts every event once however often
// it runs and however a .part grows, damage is reported and the rest ingested, rollups answer
// every day-granularity query exactly as the raw events do, and retention prunes raw events
// while rollups keep answering.
#include <catch2/catch.hpp>

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "formats/clicks.h"
#include "store/stats_aggregate.h"
#include "store/stats_db.h"
#include "store/store.h"

using namespace shortlink;
namespace clicks = shortlink::formats::clicks;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t k_day0 = 1764547200000;  // 2025-12-01T00:00:00Z
constexpr std::int64_t k_day = stats::k_day_ms;

struct TempDir {
    fs::path path;
    TempDir() {
        char tmpl[] = "/tmp/shortlink-stats-test-XXXXXX";
        path = ::mkdtemp(tmpl);
        fs::create_directory(path / "clicks");
    }
    ~TempDir() { fs::remove_all(path); }
    std::string clicks() const { return (path / "clicks").string(); }
    std::string db() const { return (path / "stats.db").string(); }
};

// Owned strings behind an Event's views.
struct OwnedEvent {
    clicks::Event e;
    std::string domain;
    std::string code;
    std::string referrer;
    const clicks::Event& view() {
        e.domain = domain;
        e.code = code;
        e.referrer = referrer;
        return e;
    }
};

// Events spread over `days` days from k_day0 with a fixed seed: a few links on two domains,
// repeat visitors, bots, misses, QR scans, referrers and countries, some values in common.
std::vector<OwnedEvent> make_events(std::size_t n, int days, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::vector<OwnedEvent> out(n);
    const char* countries[] = {"DE", "US", "FR", ""};
    const char* referrers[] = {"", "t.co", "news.example.org"};
    for (std::size_t i = 0; i < n; ++i) {
        OwnedEvent& o = out[i];
        o.e.time_ms = k_day0 + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(days * k_day));
        o.domain = rng() % 4 == 0 ? "s.example.org" : "go.example.com";
        o.code = "c" + std::to_string(rng() % 7);
        o.e.outcome = static_cast<std::uint8_t>(rng() % 10 == 0 ? clicks::Outcome::miss : clicks::Outcome::redirect);
        if (rng() % 20 == 0) {
            o.e.outcome = static_cast<std::uint8_t>(clicks::Outcome::password_ok);
        }
        o.e.status = 302;
        o.e.visitor = rng() % 40;  // few visitors: many repeat within a day and link
        o.e.bot = static_cast<std::uint8_t>(rng() % 6 == 0 ? clicks::Bot::crawler : clicks::Bot::person);
        o.e.device = static_cast<std::uint8_t>(o.e.visitor % 3 + 1);
        o.e.os = static_cast<std::uint8_t>(rng() % 3);
        o.e.browser = static_cast<std::uint8_t>(rng() % 12);  // 10 and 11: a newer writer's values
        const char* c = countries[o.e.visitor % 4];
        o.e.country = {c[0], c[0] == 0 ? '\0' : c[1]};
        o.referrer = referrers[rng() % 3];
        o.e.flags = static_cast<std::uint8_t>(rng() % 5 == 0 ? clicks::k_event_qr : 0);
    }
    std::sort(out.begin(), out.end(), [](const OwnedEvent& a, const OwnedEvent& b) { return a.e.time_ms < b.e.time_ms; });
    return out;
}

// Writes `events` into one segment in blocks of `per_block`; sealed unless `seal` is false (the
// writer is then returned, still holding its .part).
std::unique_ptr<clicks::SegmentWriter> write_segment(const std::string& dir, std::vector<OwnedEvent>& events,
                                                     std::size_t per_block, bool seal = true) {
    auto w = clicks::SegmentWriter::create(dir, events.empty() ? k_day0 : events.front().e.time_ms, 0);
    REQUIRE(w);
    std::string block;
    std::uint32_t n = 0;
    for (OwnedEvent& o : events) {
        clicks::append_event(block, o.view());
        if (++n == per_block) {
            REQUIRE((*w)->append_block(block, n));
            block.clear();
            n = 0;
        }
    }
    if (n > 0) {
        REQUIRE((*w)->append_block(block, n));
    }
    if (seal) {
        REQUIRE((*w)->seal());
    }
    return std::move(*w);
}

stats::IngestOptions at(std::int64_t now_ms, std::int64_t retain_ms = 1000 * k_day) {
    stats::IngestOptions o;
    o.now_ms = now_ms;
    o.retain_ms = retain_ms;
    return o;
}

stats::QueryResult run(stats::StatsDb& db, stats::Query q) {
    auto r = db.query(q);
    INFO(r.status().message());
    REQUIRE(r);
    return *r;
}

// Counts the way `stats` defines them, straight from the events: clicks and, per (day, link,
// outcome, person/bot, value), distinct visitors, added up per value.
struct Expected {
    std::uint64_t clicks = 0;
    std::uint64_t visitors = 0;
};
std::map<std::string, Expected> expected_by_code(const std::vector<OwnedEvent>& events) {
    std::map<std::string, std::set<std::tuple<std::int64_t, std::string, int, int, std::uint64_t>>> seen;
    std::map<std::string, Expected> out;
    for (const OwnedEvent& o : events) {
        if (o.e.bot != 0 || (o.e.outcome != 0 && o.e.outcome != 14)) {
            continue;
        }
        const std::string link = o.domain + "/" + o.code;
        out[link].clicks += 1;
        if (seen[link].insert({o.e.time_ms / k_day, o.domain, o.e.outcome, 0, o.e.visitor}).second) {
            out[link].visitors += 1;
        }
    }
    return out;
}

void require_same(const stats::QueryResult& a, const stats::QueryResult& b) {
    REQUIRE(a.clicks == b.clicks);
    REQUIRE(a.visitors == b.visitors);
    REQUIRE(a.rows.size() == b.rows.size());
    for (std::size_t i = 0; i < a.rows.size(); ++i) {
        INFO("row " << i << ": " << a.rows[i].key << " / " << b.rows[i].key);
        CHECK(a.rows[i].key == b.rows[i].key);
        CHECK(a.rows[i].clicks == b.rows[i].clicks);
        CHECK(a.rows[i].visitors == b.rows[i].visitors);
    }
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

void spit(const fs::path& p, const std::string& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << bytes;
}

}  // namespace

TEST_CASE("AggregatorCountsVisitorsOncePerValue", "[stats]") {
    stats::detail::Aggregator agg(stats::detail::Aggregator::k_all_dimensions);
    const auto event = [](std::uint64_t visitor, std::uint64_t referrer, std::uint8_t device) {
        stats::detail::AggEvent e;
        e.bucket = 3;
        e.link = 7;
        e.visitor = visitor;
        e.values.referrer = referrer;
        e.values.device = device;
        return e;
    };
    agg.add(event(1, 10, 1));
    agg.add(event(1, 11, 1));  // same visitor, another referrer: one more for that referrer only
    agg.add(event(1, 10, 1));
    agg.add(event(2, 11, 1));
    agg.add(event(2, (std::uint64_t{1} << 40), 200));  // a referrer id past 32 bits
    agg.add(event(2, (std::uint64_t{1} << 40), 200));
    const auto rows = agg.rows();
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].clicks == 6);
    CHECK(rows[0].visitors == 2);
    const auto& referrers = rows[0].dims[static_cast<std::size_t>(stats::Dimension::referrer)];
    REQUIRE(referrers.size() == 3);
    CHECK(referrers[0] == stats::detail::DimCell{10, 2, 1});
    CHECK(referrers[1] == stats::detail::DimCell{11, 2, 2});
    CHECK(referrers[2] == stats::detail::DimCell{std::uint64_t{1} << 40, 2, 1});
    const auto& devices = rows[0].dims[static_cast<std::size_t>(stats::Dimension::device)];
    REQUIRE(devices.size() == 2);
    CHECK(devices[0] == stats::detail::DimCell{1, 4, 2});
    CHECK(devices[1] == stats::detail::DimCell{200, 2, 1});
}

TEST_CASE("DimsEncodingRoundTripsAndRefusesDamage", "[stats]") {
    stats::detail::DimCells dims;
    dims[0] = {{0x4445, 5, 3}, {0x5553, 1u << 20, 7}};
    dims[4] = {{1, 2, 2}, {std::uint64_t{1} << 40, 9, 1}};
    std::string blob;
    stats::detail::encode_dims(dims, blob);
    stats::detail::DimCells back;
    REQUIRE(stats::detail::decode_dims(blob, back));
    CHECK(back == dims);
    for (std::size_t cut = 0; cut < blob.size(); ++cut) {
        CHECK_FALSE(stats::detail::decode_dims(std::string_view(blob).substr(0, cut), back));
    }
    CHECK_FALSE(stats::detail::decode_dims(blob + "x", back));
    std::string huge_count = blob;
    huge_count[0] = static_cast<char>(0xff);  // a count with its continuation bit: past the end
    CHECK_FALSE(stats::detail::decode_dims(huge_count, back));
    stats::detail::DimCells unordered;
    unordered[1] = {{5, 1, 1}, {3, 1, 1}};
    stats::detail::encode_dims(unordered, blob);
    const Status st = stats::detail::decode_dims(blob, back);
    CHECK(st.message().find("out of order") != std::string::npos);
}

TEST_CASE("IngestTwiceCountsOnce", "[stats]") {
    TempDir t;
    auto events = make_events(3000, 3, 1);
    std::vector<OwnedEvent> first(events.begin(), events.begin() + 1000);
    std::vector<OwnedEvent> rest(events.begin() + 1000, events.end());
    write_segment(t.clicks(), first, 100);
    write_segment(t.clicks(), rest, 333);
    auto db = stats::StatsDb::open(t.db(), true);
    REQUIRE(db);
    for (int round = 0; round < 2; ++round) {
        auto report = db->ingest(t.clicks(), at(k_day0 + 4 * k_day));
        REQUIRE(report);
        CHECK(report->segments == 2);
        CHECK(report->segments_complete == 2);
        CHECK(report->events == (round == 0 ? 3000u : 0u));
        CHECK(report->problems.empty());
    }
    stats::Query q;
    q.by = stats::GroupBy::link;
    const auto r = run(*db, q);
    const auto want = expected_by_code(events);
    std::uint64_t clicks = 0;
    std::uint64_t visitors = 0;
    for (const auto& [link, e] : want) {
        clicks += e.clicks;
        visitors += e.visitors;
    }
    CHECK(r.clicks == clicks);
    CHECK(r.visitors == visitors);
    REQUIRE(r.rows.size() == want.size());
    for (const stats::Row& row : r.rows) {
        INFO(row.key);
        CHECK(row.clicks == want.at(row.key).clicks);
        CHECK(row.visitors == want.at(row.key).visitors);
    }
    // A second connection sees the same (the file is complete between commands).
    auto again = stats::StatsDb::open(t.db(), false);
    REQUIRE(again);
    CHECK(run(*again, q).clicks == clicks);
}

TEST_CASE("PartReadSoFarContinuesAfterItGrowsAndIsSealed", "[stats]") {
    TempDir t;
    auto events = make_events(900, 2, 2);
    auto w = clicks::SegmentWriter::create(t.clicks(), k_day0, 0);
    REQUIRE(w);
    const auto append = [&](std::size_t from, std::size_t to) {
        std::string block;
        for (std::size_t i = from; i < to; ++i) {
            clicks::append_event(block, events[i].view());
        }
        REQUIRE((*w)->append_block(block, static_cast<std::uint32_t>(to - from)));
    };
    append(0, 300);
    // Half a block written so far: not damage, the reader stops before it.
    const fs::path part = (*w)->path();
    {
        std::string block;
        for (std::size_t i = 300; i < 320; ++i) {
            clicks::append_event(block, events[i].view());
        }
        std::ofstream out(part, std::ios::binary | std::ios::app);
        out << std::string("SLCB") + std::string(10, '\x01');
    }
    auto db = stats::StatsDb::open(t.db(), true);
    REQUIRE(db);
    auto r1 = db->ingest(t.clicks(), at(k_day0 + 3 * k_day));
    REQUIRE(r1);
    CHECK(r1->events == 300);
    CHECK(r1->segments_waiting == 1);
    CHECK(r1->problems.empty());
    stats::Query all;
    all.outcomes.clear();
    all.bots = stats::Bots::include;
    CHECK(run(*db, all).clicks == 300);

    // The writer's next block lands after the torn bytes in this test's file, so start the
    // growth from a clean copy: truncate to what was whole, then append the rest.
    fs::resize_file(part, fs::file_size(part) - 14);
    append(300, 600);
    auto r2 = db->ingest(t.clicks(), at(k_day0 + 3 * k_day));
    REQUIRE(r2);
    CHECK(r2->events == 300);
    CHECK(run(*db, all).clicks == 600);

    append(600, 900);
    REQUIRE((*w)->seal());
    auto r3 = db->ingest(t.clicks(), at(k_day0 + 3 * k_day));
    REQUIRE(r3);
    CHECK(r3->events == 300);
    CHECK(r3->segments_complete == 1);
    CHECK(run(*db, all).clicks == 900);
}

TEST_CASE("DamagedSegmentIsReportedAndTheOthersIngested", "[stats]") {
    TempDir t;
    auto events = make_events(2000, 2, 3);
    std::vector<OwnedEvent> a(events.begin(), events.begin() + 1000);
    std::vector<OwnedEvent> b(events.begin() + 1000, events.end());
    const std::string damaged_path = write_segment(t.clicks(), a, 250)->path();
    write_segment(t.clicks(), b, 250);
    // Flip a byte inside the third block's payload: blocks 1 and 2 stand.
    std::string bytes = slurp(damaged_path);
    std::size_t offset = clicks::k_header_size;
    for (int block = 0; block < 2; ++block) {
        std::uint32_t size = 0;
        std::memcpy(&size, bytes.data() + offset + 4, 4);
        offset += clicks::k_block_header_size + size;
    }
    bytes[offset + clicks::k_block_header_size + 5] ^= 0x40;
    spit(damaged_path, bytes);
    // A file named like a segment that is not one, and an empty one.
    spit(fs::path(t.clicks()) / "clicks-20251201T000000Z-00000000000000000000000000000001.slclicks", "hello");
    spit(fs::path(t.clicks()) / "clicks-20251201T000000Z-00000000000000000000000000000002.slclicks", "");

    auto db = stats::StatsDb::open(t.db(), true);
    REQUIRE(db);
    for (int round = 0; round < 2; ++round) {
        auto report = db->ingest(t.clicks(), at(k_day0 + 3 * k_day));
        REQUIRE(report);
        CHECK(report->events == (round == 0 ? 1500u : 0u));
        REQUIRE(report->problems.size() == 3);
        bool found = false;
        for (const auto& p : report->problems) {
            CHECK(p.damaged);
            if (p.path == damaged_path) {
                found = true;
                CHECK(p.message.find("at byte " + std::to_string(offset)) != std::string::npos);
                CHECK(p.message.find("block 3") != std::string::npos);
                CHECK(p.message.find("check mismatch") != std::string::npos);
            }
        }
        CHECK(found);
    }
    stats::Query all;
    all.outcomes.clear();
    all.bots = stats::Bots::include;
    CHECK(run(*db, all).clicks == 1500);
}

TEST_CASE("RollupsAnswerEveryDayQueryAsRawEventsDo", "[stats]") {
    TempDir t;
    auto events = make_events(6000, 5, 4);
    std::vector<OwnedEvent> a(events.begin(), events.begin() + 2500);
    std::vector<OwnedEvent> b(events.begin() + 2500, events.end());
    write_segment(t.clicks(), a, 400);
    write_segment(t.clicks(), b, 400);
    auto db = stats::StatsDb::open(t.db(), true);
    REQUIRE(db);
    REQUIRE(db->ingest(t.clicks(), at(k_day0 + 6 * k_day)));

    using stats::GroupBy;
    for (GroupBy by : {GroupBy::none, GroupBy::link, GroupBy::day, GroupBy::outcome, GroupBy::country,
                       GroupBy::device, GroupBy::os, GroupBy::browser, GroupBy::referrer, GroupBy::bot, GroupBy::qr}) {
        for (stats::Bots bots : {stats::Bots::exclude, stats::Bots::include, stats::Bots::only}) {
            for (int variant = 0; variant < 4; ++variant) {
                stats::Query q;
                q.by = by;
                q.bots = bots;
                if (variant == 1) {
                    q.outcomes.clear();
                    q.code = "c3";
                }
                if (variant == 2) {
                    q.domain = "s.example.org";
                    q.since_ms = k_day0 + k_day;
                    q.until_ms = k_day0 + 4 * k_day;
                }
                if (variant == 3) {
                    q.outcomes = {static_cast<std::uint8_t>(clicks::Outcome::miss)};
                }
                INFO("by " << stats::group_by_name(by) << ", bots " << static_cast<int>(bots) << ", variant "
                           << variant);
                q.source = stats::Source::raw;
                const auto raw = run(*db, q);
                q.source = stats::Source::rollup;
                const auto rollup = run(*db, q);
                CHECK(rollup.days_from_raw == 0);
                CHECK(raw.days_from_rollups == 0);
                require_same(raw, rollup);
            }
        }
    }
    // A range with partial days at both ends reads them from raw events, the rest from rollups.
    stats::Query q;
    q.by = GroupBy::day;
    q.since_ms = k_day0 + k_day / 2;
    q.until_ms = k_day0 + 3 * k_day + 1000;
    const auto mixed = run(*db, q);
    CHECK(mixed.days_from_rollups == 2);
    CHECK(mixed.days_from_raw == 2);
    q.source = stats::Source::raw;
    require_same(run(*db, q), mixed);
    REQUIRE(mixed.rows.size() == 4);
    CHECK(mixed.rows.front().key == "2025-12-01");
    CHECK(mixed.rows.back().key == "2025-12-04");
}

TEST_CASE("RetentionPrunesRawEventsAndRollupsKeepAnswering", "[stats]") {
    TempDir t;
    auto events = make_events(3000, 4, 5);
    write_segment(t.clicks(), events, 500);
    auto db = stats::StatsDb::open(t.db(), true);
    REQUIRE(db);
    REQUIRE(db->ingest(t.clicks(), at(k_day0 + 5 * k_day)));
    stats::Query by_day;
    by_day.by = stats::GroupBy::day;
    by_day.bots = stats::Bots::include;
    by_day.outcomes.clear();
    const auto before = run(*db, by_day);
    stats::Query by_country;
    by_country.by = stats::GroupBy::country;
    const auto countries_before = run(*db, by_country);
    stats::Query hours;
    hours.by = stats::GroupBy::hour;
    const auto people = run(*db, stats::Query{});
    CHECK(people.clicks > 0);
    require_same(run(*db, hours), [&] {
        stats::Query q;
        q.by = stats::GroupBy::hour;
        q.source = stats::Source::raw;
        return run(*db, q);
    }());
    CHECK(run(*db, hours).clicks == people.clicks);

    // Ten days later with a retention of two days: the raw events are gone, rollups stay.
    auto report = db->ingest(t.clicks(), at(k_day0 + 14 * k_day, 2 * k_day));
    REQUIRE(report);
    CHECK(report->pruned_events == 3000);
    CHECK(report->raw_since_ms == k_day0 + 12 * k_day);
    require_same(run(*db, by_day), before);
    require_same(run(*db, by_country), countries_before);
    // By hour without --since: the raw window, empty now; with a --since before it: refused.
    const auto window = run(*db, hours);
    CHECK(window.since_ms == k_day0 + 12 * k_day);
    CHECK(window.clicks == 0);
    hours.since_ms = k_day0;
    auto refused = db->query(hours);
    REQUIRE_FALSE(refused);
    CHECK(refused.status().code() == Status::Code::invalid_argument);
    CHECK(refused.status().message().find("--by hour") != std::string::npos);
    stats::Query partial = by_day;
    partial.since_ms = k_day0 + 3600 * 1000;
    auto partial_refused = db->query(partial);
    REQUIRE_FALSE(partial_refused);
    CHECK(partial_refused.status().message().find("not at midnight") != std::string::npos);

    // A late segment for a pruned day is added to that day's rollups, links never seen before
    // included.
    auto late = make_events(200, 1, 6);
    for (std::size_t i = 0; i < 30; ++i) {
        late[i].code = i % 2 == 0 ? "late-a" : "late-b";
    }
    write_segment(t.clicks(), late, 50);
    auto late_report = db->ingest(t.clicks(), at(k_day0 + 14 * k_day, 2 * k_day));
    REQUIRE(late_report);
    CHECK(late_report->late_events == 200);
    const auto after = run(*db, by_day);
    CHECK(after.clicks == before.clicks + 200);
    for (const char* code : {"late-a", "late-b"}) {
        stats::Query one = by_day;
        one.code = code;
        CHECK(run(*db, one).clicks == 15);
    }
    CHECK(after.rows.front().clicks == before.rows.front().clicks + 200);
    // The totals per value over every link took the late events too.
    stats::Query countries_all = by_country;
    countries_all.bots = stats::Bots::include;
    countries_all.outcomes.clear();
    std::uint64_t sum = 0;
    for (const stats::Row& row : run(*db, countries_all).rows) {
        sum += row.clicks;
    }
    CHECK(sum == after.clicks);
}

TEST_CASE("RefusesFilesThatAreNotStatsDatabases", "[stats]") {
    TempDir t;
    const std::string missing = (t.path / "none.db").string();
    auto absent = stats::StatsDb::open(missing, false);
    REQUIRE_FALSE(absent);
    CHECK(absent.status().code() == Status::Code::not_found);
    CHECK_FALSE(fs::exists(missing));

    spit(t.path / "empty.db", "");
    spit(t.path / "text.db", "this is not a database, just some text long enough");
    for (const char* name : {"empty.db", "text.db"}) {
        auto r = stats::StatsDb::open((t.path / name).string(), true);
        REQUIRE_FALSE(r);
        CHECK(r.status().code() == Status::Code::invalid_argument);
        CHECK(r.status().message().find("not a shortlink stats database") != std::string::npos);
    }
    CHECK(fs::file_size(t.path / "empty.db") == 0);

    const std::string links = (t.path / "links.db").string();
    REQUIRE(store::Store::create(links, "test"));
    auto r = stats::StatsDb::open(links, true);
    REQUIRE_FALSE(r);
    CHECK(r.status().message().find("links database") != std::string::npos);

    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open((t.path / "other.db").string().c_str(), &raw) == SQLITE_OK);
    REQUIRE(sqlite3_exec(raw, "PRAGMA application_id = 42; CREATE TABLE t (x)", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(raw);
    auto other = stats::StatsDb::open((t.path / "other.db").string(), true);
    REQUIRE_FALSE(other);
    CHECK(other.status().message().find("another program") != std::string::npos);
}

TEST_CASE("IngestRefusesAMissingDirectory", "[stats]") {
    TempDir t;
    auto db = stats::StatsDb::open(t.db(), true);
    REQUIRE(db);
    auto r = db->ingest((t.path / "nope").string(), at(k_day0));
    REQUIRE_FALSE(r);
    CHECK(r.status().code() == Status::Code::not_found);
    spit(t.path / "file", "x");
    auto f = db->ingest((t.path / "file").string(), at(k_day0));
    REQUIRE_FALSE(f);
    CHECK(f.status().code() == Status::Code::invalid_argument);
}

TEST_CASE("ParsesRetention", "[stats]") {
    CHECK(*stats::parse_retention("90d") == 90 * k_day);
    CHECK(*stats::parse_retention("36h") == 36 * stats::k_hour_ms);
    for (const char* bad : {"", "0d", "d", "12", "5m", "-1d", "1.5d", "99999999999d"}) {
        INFO(bad);
        CHECK_FALSE(stats::parse_retention(bad));
    }
}
