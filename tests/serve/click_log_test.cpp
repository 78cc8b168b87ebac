// The click log: the ring never blocks and never loses a record it accepted, wraps correctly,
// refuses when full; the writer turns raw records into events without ever writing an address,
// keeps a visitor's key for the day, flags repeats, seals on stop, and recovers what a dead
// server left.
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "formats/clicks.h"
#include "formats/clock.h"
#include "serve/click_log.h"

using namespace shortlink;
using namespace shortlink::serve;
namespace clicks = shortlink::formats::clicks;
namespace fs = std::filesystem;

namespace {

struct TempDir {
    fs::path path;
    TempDir() {
        char tmpl[] = "/tmp/click-log-test-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { fs::remove_all(path); }
};

constexpr const char* k_iphone =
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1";

ClickRecord record(std::string_view code, std::string_view ua = k_iphone, std::uint8_t last_octet = 7) {
    ClickRecord r;
    r.time_ms = clock::unix_millis();
    r.serial = 42;
    r.status = 302;
    r.outcome = static_cast<std::uint8_t>(clicks::Outcome::redirect);
    r.method = static_cast<std::uint8_t>(clicks::Method::get);
    r.family = 4;
    r.address = {198, 18, 0, last_octet};
    r.text[static_cast<std::size_t>(ClickText::domain)] = "Go.Example.COM";
    r.text[static_cast<std::size_t>(ClickText::code)] = code;
    r.text[static_cast<std::size_t>(ClickText::user_agent)] = ua;
    r.text[static_cast<std::size_t>(ClickText::referer)] = "https://News.Example.org:8443/a?b";
    r.text[static_cast<std::size_t>(ClickText::country)] = "de";
    return r;
}

ClickRecordHead head_of(const ClickRecord& r) {
    ClickRecordHead h;
    h.status = r.status;
    h.outcome = r.outcome;
    h.method = r.method;
    h.flags = r.flags;
    h.family = r.family;
    h.address = r.address;
    h.time_ms = r.time_ms;
    h.serial = r.serial;
    return h;
}

std::vector<std::string> sealed_segments(const fs::path& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) {
        bool part = true;
        if (clicks::is_segment_name(e.path().filename().string(), &part) && !part) {
            out.push_back(e.path().string());
        }
    }
    return out;
}

// Every event in DIR's sealed segments, with the strings copied out.
struct Seen {
    clicks::Event event;
    std::string domain, code, referrer;
};
std::vector<Seen> read_events(const fs::path& dir) {
    std::vector<Seen> out;
    for (const std::string& path : sealed_segments(dir)) {
        auto r = clicks::SegmentReader::open(path);
        REQUIRE(r);
        std::string block;
        std::uint32_t n = 0;
        clicks::BlockResult b;
        while ((b = (*r)->next(block, n)) == clicks::BlockResult::block) {
            clicks::EventCursor c(block);
            clicks::Event e;
            while (c.next(e)) {
                out.push_back({e, std::string(e.domain), std::string(e.code), std::string(e.referrer)});
            }
        }
        REQUIRE(b == clicks::BlockResult::end);
    }
    return out;
}

std::string slurp_all(const fs::path& dir) {
    std::string all;
    for (const auto& e : fs::directory_iterator(dir)) {
        std::ifstream in(e.path(), std::ios::binary);
        all.append(std::istreambuf_iterator<char>(in), {});
    }
    return all;
}

}  // namespace

TEST_CASE("the ring hands back every record it accepted, across its wrap", "[click_log]") {
    ClickRing ring(64 << 10);
    std::size_t pushed = 0;
    std::size_t drained = 0;
    std::string expect_code;
    // Records of varying size, drained in uneven batches, go around the ring many times.
    for (int round = 0; round < 200; ++round) {
        for (int i = 0; i < 37; ++i) {
            const std::string code(static_cast<std::size_t>((round * 37 + i) % 900), 'a' + (i % 26));
            if (ring.push(record(code))) {
                ++pushed;
            }
        }
        drained += ring.drain([&](const ClickRecordHead& h, const std::array<std::string_view, k_click_text_count>& t) {
            CHECK(h.status == 302);
            CHECK(h.serial == 42);
            CHECK(t[static_cast<std::size_t>(ClickText::domain)] == "Go.Example.COM");
            const std::string_view code = t[static_cast<std::size_t>(ClickText::code)];
            CHECK(code.find_first_not_of(code.empty() ? 'a' : code[0]) == std::string_view::npos);
        });
    }
    CHECK(pushed == drained);
    CHECK(pushed > 7000 * 0.9);
}

TEST_CASE("a full ring refuses at once and accepts again once drained", "[click_log]") {
    ClickRing ring(64 << 10);
    const std::string code(1000, 'x');
    int accepted = 0;
    while (ring.push(record(code))) {
        ++accepted;
    }
    CHECK(accepted > 30);
    CHECK(accepted < 70);
    CHECK_FALSE(ring.push(record("short")));
    CHECK(ring.drain([](const auto&, const auto&) {}) == static_cast<std::size_t>(accepted));
    CHECK(ring.push(record("short")));
}

TEST_CASE("a ring between two threads loses nothing it accepted", "[click_log]") {
    ClickRing ring(64 << 10);
    std::atomic<bool> done{false};
    std::uint64_t accepted = 0;
    std::uint64_t seen = 0;
    std::uint64_t serial_sum = 0;
    std::uint64_t accepted_sum = 0;
    std::thread producer([&] {
        for (std::uint64_t i = 1; i <= 200000; ++i) {
            ClickRecord r = record("spring");
            r.serial = i;
            if (ring.push(r)) {
                ++accepted;
                accepted_sum += i;
            }
        }
        done = true;
    });
    while (!done.load()) {
        seen += ring.drain([&](const ClickRecordHead& h, const auto&) { serial_sum += h.serial; });
    }
    producer.join();
    seen += ring.drain([&](const ClickRecordHead& h, const auto&) { serial_sum += h.serial; });
    CHECK(seen == accepted);
    CHECK(serial_sum == accepted_sum);
}

TEST_CASE("a raw record becomes an event without the client's address", "[click_log]") {
    TempDir dir;
    ClickLogConfig config;
    config.dir = dir.path.string();
    auto log = ClickLog::open(config, 1, -1);
    REQUIRE(log);
    ClickLog::Converted c;
    std::array<std::string_view, k_click_text_count> text;
    const ClickRecord r = record("spring");
    for (std::size_t i = 0; i < k_click_text_count; ++i) {
        text[i] = r.text[i];
    }
    (*log)->convert(head_of(r), text, c);
    CHECK(c.event.domain == "go.example.com");
    CHECK(c.event.code == "spring");
    CHECK(c.event.referrer == "news.example.org");
    CHECK(c.event.country[0] == 'D');
    CHECK(c.event.country[1] == 'E');
    CHECK(c.event.device == static_cast<std::uint8_t>(clicks::Device::mobile));
    CHECK(c.event.os == static_cast<std::uint8_t>(clicks::Os::ios));
    CHECK(c.event.bot == static_cast<std::uint8_t>(clicks::Bot::person));
    CHECK(c.event.network_family == 0);  // only with --clicks-networks
    const std::uint64_t visitor = c.event.visitor;
    CHECK(visitor != 0);

    // The same client on the same day and domain: the same key (through the cache and without).
    (*log)->convert(head_of(r), text, c);
    CHECK(c.event.visitor == visitor);
    // Another address, another User-Agent or another domain: another key.
    ClickRecord other = record("spring", k_iphone, 8);
    (*log)->convert(head_of(other), text, c);
    CHECK(c.event.visitor != visitor);
    std::array<std::string_view, k_click_text_count> other_ua = text;
    other_ua[static_cast<std::size_t>(ClickText::user_agent)] = "curl/8.5.0";
    (*log)->convert(head_of(r), other_ua, c);
    CHECK(c.event.visitor != visitor);
    CHECK(c.event.bot == static_cast<std::uint8_t>(clicks::Bot::library));
    std::array<std::string_view, k_click_text_count> other_domain = text;
    other_domain[static_cast<std::size_t>(ClickText::domain)] = "b.example";
    (*log)->convert(head_of(r), other_domain, c);
    CHECK(c.event.visitor != visitor);

    // A restart on the same day keeps the key (same visitors counted once); the file is private.
    log->reset();
    struct stat st{};
    REQUIRE(::stat((dir.path / ".visitor-key").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    auto again = ClickLog::open(config, 1, -1);
    REQUIRE(again);
    (*again)->convert(head_of(r), text, c);
    CHECK(c.event.visitor == visitor);
}

TEST_CASE("HEAD, purpose headers and repeats are bots with their reason", "[click_log]") {
    TempDir dir;
    ClickLogConfig config;
    config.dir = dir.path.string();
    config.networks = true;
    auto log = ClickLog::open(config, 1, -1);
    REQUIRE(log);
    ClickLog::Converted c;
    ClickRecord r = record("spring");
    std::array<std::string_view, k_click_text_count> text;
    for (std::size_t i = 0; i < k_click_text_count; ++i) {
        text[i] = r.text[i];
    }
    ClickRecordHead h = head_of(r);
    (*log)->convert(h, text, c);
    CHECK(c.event.network_family == 4);
    CHECK(c.event.network[0] == 198);
    CHECK(c.event.network[2] == 0);

    ClickRecordHead head = h;
    head.method = static_cast<std::uint8_t>(clicks::Method::head);
    (*log)->convert(head, text, c);
    CHECK(c.event.bot == static_cast<std::uint8_t>(clicks::Bot::head));

    auto prefetch = text;
    prefetch[static_cast<std::size_t>(ClickText::sec_purpose)] = "prefetch";
    (*log)->convert(h, prefetch, c);
    CHECK(c.event.bot == static_cast<std::uint8_t>(clicks::Bot::prefetch));

    auto slack = text;
    slack[static_cast<std::size_t>(ClickText::user_agent)] =
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)";
    (*log)->convert(h, slack, c);
    CHECK(c.event.bot == static_cast<std::uint8_t>(clicks::Bot::unfurler));
    CHECK(c.event.device == static_cast<std::uint8_t>(clicks::Device::bot));

    // One visitor, one link, many times a minute: the first ten are people, then repeats.
    ClickRecordHead burst = h;
    burst.address[3] = 99;
    burst.time_ms = 1800000000000;  // start of a minute
    int repeats = 0;
    for (int i = 0; i < 15; ++i) {
        (*log)->convert(burst, text, c);
        repeats += c.event.bot == static_cast<std::uint8_t>(clicks::Bot::repeat) ? 1 : 0;
    }
    CHECK(repeats == 15 - static_cast<int>(k_repeat_per_minute));
    burst.time_ms += 60000;  // the next minute starts over
    (*log)->convert(burst, text, c);
    CHECK(c.event.bot == static_cast<std::uint8_t>(clicks::Bot::person));
}

TEST_CASE("the writer drains the rings into a sealed segment on stop", "[click_log]") {
    TempDir dir;
    ClickLogConfig config;
    config.dir = dir.path.string();
    auto opened = ClickLog::open(config, 2, -1);
    REQUIRE(opened);
    ClickLog& log = **opened;
    log.start();
    for (int i = 0; i < 500; ++i) {
        ClickRecord r = record(i % 2 == 0 ? "spring" : "autumn");
        r.flags = i % 5 == 0 ? clicks::k_event_qr : 0;
        REQUIRE(log.ring(static_cast<unsigned>(i % 2)).push(r));
    }
    log.stop();
    CHECK(log.metrics().recorded == 500);
    CHECK(log.metrics().segments_sealed == 1);
    const std::vector<Seen> events = read_events(dir.path);
    REQUIRE(events.size() == 500);
    int qr = 0;
    for (const Seen& s : events) {
        CHECK(s.domain == "go.example.com");
        CHECK((s.code == "spring" || s.code == "autumn"));
        qr += (s.event.flags & clicks::k_event_qr) != 0 ? 1 : 0;
    }
    CHECK(qr == 100);
    // Nothing on disk holds the address 198.18.0.7, in any of its forms.
    const std::string all = slurp_all(dir.path);
    CHECK(all.find("198.18.0.7") == std::string::npos);
    const char raw[] = {static_cast<char>(198), 18, 0, 7};
    CHECK(all.find(std::string_view(raw, 4)) == std::string::npos);
}

TEST_CASE("segments are sealed by age while the server runs", "[click_log]") {
    TempDir dir;
    ClickLogConfig config;
    config.dir = dir.path.string();
    config.segment_age_ms = 200;
    config.block_age_ms = 50;
    auto opened = ClickLog::open(config, 1, -1);
    REQUIRE(opened);
    ClickLog& log = **opened;
    log.start();
    REQUIRE(log.ring(0).push(record("spring")));
    for (int i = 0; i < 50 && log.metrics().segments_sealed == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    CHECK(log.metrics().segments_sealed == 1);
    CHECK(read_events(dir.path).size() == 1);
    log.stop();
}

TEST_CASE("one server per directory; a dead server's segment is sealed by the next", "[click_log]") {
    TempDir dir;
    ClickLogConfig config;
    config.dir = dir.path.string();
    {
        auto first = ClickLog::open(config, 1, -1);
        REQUIRE(first);
        auto second = ClickLog::open(config, 1, -1);
        REQUIRE_FALSE(second);
        CHECK(second.status().code() == Status::Code::conflict);
        CHECK(second.status().message().find("another server records clicks") != std::string::npos);
    }
    // A writer that died after one block: its .part is sealed at the next open.
    {
        auto w = clicks::SegmentWriter::create(config.dir, clock::unix_millis(), 0);
        REQUIRE(w);
        std::string block;
        clicks::Event e;
        e.status = 302;
        e.domain = "go.example.com";
        e.code = "spring";
        clicks::append_event(block, e);
        REQUIRE((*w)->append_block(block, 1));
    }
    CHECK(sealed_segments(dir.path).empty());
    auto log = ClickLog::open(config, 1, -1);
    REQUIRE(log);
    CHECK(read_events(dir.path).size() == 1);

    config.dir = (dir.path / "missing").string();
    auto missing = ClickLog::open(config, 1, -1);
    REQUIRE_FALSE(missing);
    CHECK(missing.status().message().find("missing") != std::string::npos);
}

TEST_CASE("a directory that cannot be written drops events and counts them", "[click_log]") {
    TempDir dir;
    ClickLogConfig config;
    config.dir = (dir.path / "sub").string();
    fs::create_directory(config.dir);
    auto opened = ClickLog::open(config, 1, -1);
    REQUIRE(opened);
    ClickLog& log = **opened;
    fs::remove_all(config.dir);  // the directory goes away under the server
    log.start();
    REQUIRE(log.ring(0).push(record("spring")));
    log.stop();
    CHECK(log.metrics().recorded == 0);
    CHECK(log.metrics().dropped_write == 1);
    CHECK(log.metrics().write_errors >= 1);
}

// Hidden by default (run with "[.bench]"): the CPU the click log costs per event, ring push and
// writer together, to compare with the CPU a request costs the server.
TEST_CASE("click log CPU per event", "[.bench]") {
    TempDir dir;
    ClickLogConfig config;
    config.dir = dir.path.string();
    auto opened = ClickLog::open(config, 1, -1);
    REQUIRE(opened);
    ClickLog& log = **opened;
    constexpr const char* k_chrome =
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Mobile Safari/537.36";
    std::vector<std::string> codes;
    for (int i = 0; i < 1000; ++i) {
        codes.push_back("code-" + std::to_string(i * 7919));
    }
    const auto cpu_ns = [] {
        rusage u{};
        getrusage(RUSAGE_SELF, &u);
        return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000000000LL +
               (u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1000LL;
    };
    constexpr int k_batch = 20000;
    constexpr int k_events = 20 * k_batch;
    log.start();
    const long long c0 = cpu_ns();
    for (int done = 0; done < k_events; done += k_batch) {
        for (int i = done; i < done + k_batch; ++i) {
            ClickRecord r = record(codes[static_cast<std::size_t>(i) % codes.size()], k_chrome,
                                   static_cast<std::uint8_t>(i % 200));
            r.text[static_cast<std::size_t>(ClickText::ch_mobile)] = "?1";
            r.text[static_cast<std::size_t>(ClickText::ch_platform)] = "\"Android\"";
            while (!log.ring(0).push(r)) {
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
        }
    }
    log.stop();
    const double ns = static_cast<double>(cpu_ns() - c0) / k_events;
    CHECK(log.metrics().recorded == static_cast<std::uint64_t>(k_events));
    WARN("CPU ns per event (push, convert, compress, write): " << ns);
}
