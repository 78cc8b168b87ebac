// Click segments: events round-trip, a segment reads back block by block, a .part is read up to
// what was written so far and sealed after its writer died, and every kind of damage is named.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "formats/bytes.h"
#include "formats/clicks.h"
#include "formats/hash.h"

using namespace shortlink::formats::clicks;
namespace fs = std::filesystem;

namespace {

struct TempDir {
    fs::path path;
    TempDir() {
        char tmpl[] = "/tmp/clicks-test-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { fs::remove_all(path); }
};

Event sample(int i) {
    Event e;
    e.time_ms = 1764000000000 + i;
    e.serial = 77;
    e.visitor = 0x1234567890abcdefULL + static_cast<unsigned>(i);
    e.status = 302;
    e.outcome = static_cast<std::uint8_t>(Outcome::redirect);
    e.method = static_cast<std::uint8_t>(Method::get);
    e.device = static_cast<std::uint8_t>(Device::mobile);
    e.os = static_cast<std::uint8_t>(Os::android);
    e.browser = static_cast<std::uint8_t>(Browser::chrome);
    e.flags = i % 2 == 0 ? k_event_qr : 0;
    e.country = {'D', 'E'};
    if (i % 3 == 0) {
        e.network_family = 4;
        e.network = {198, 18, 7, 0, 0, 0};
    }
    e.domain = "go.example.com";
    e.code = i % 5 == 0 ? std::string_view("") : std::string_view("spring");
    e.referrer = "news.example.org";
    return e;
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

void spit(const fs::path& p, const std::string& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << bytes;
}

std::vector<fs::path> files(const fs::path& dir) {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir)) {
        out.push_back(e.path());
    }
    return out;
}

// Writes a sealed segment of `blocks` blocks of `per` events each; returns its path.
fs::path write_segment(const fs::path& dir, int blocks, int per) {
    auto w = SegmentWriter::create(dir.string(), 1764000000000, 0);
    REQUIRE(w);
    for (int b = 0; b < blocks; ++b) {
        std::string events;
        for (int i = 0; i < per; ++i) {
            append_event(events, sample(b * per + i));
        }
        REQUIRE((*w)->append_block(events, static_cast<std::uint32_t>(per)));
    }
    REQUIRE((*w)->seal());
    return (*w)->path();
}

// Reads every block; returns the outcome of the last next() and the events seen.
BlockResult read_all(const fs::path& path, std::vector<Event>& out, std::string& error,
                     std::vector<std::string>& keep) {
    auto r = SegmentReader::open(path.string());
    REQUIRE(r);
    for (;;) {
        std::string block;
        std::uint32_t n = 0;
        const BlockResult b = (*r)->next(block, n);
        if (b != BlockResult::block) {
            error = (*r)->error();
            return b;
        }
        keep.push_back(std::move(block));
        EventCursor c(keep.back());
        Event e;
        while (c.next(e)) {
            out.push_back(e);
        }
        REQUIRE(c.error().empty());
    }
}

}  // namespace

TEST_CASE("an event round-trips, strings cut at their caps", "[clicks]") {
    std::string bytes;
    for (int i = 0; i < 10; ++i) {
        append_event(bytes, sample(i));
    }
    const std::string long_code(3000, 'x');
    Event big = sample(1);
    big.code = long_code;
    big.network_family = 6;
    big.network = {0x20, 0x01, 0x0d, 0xb8, 0, 1};
    append_event(bytes, big);

    EventCursor c(bytes);
    Event e;
    for (int i = 0; i < 10; ++i) {
        REQUIRE(c.next(e));
        const Event want = sample(i);
        CHECK(e.time_ms == want.time_ms);
        CHECK(e.visitor == want.visitor);
        CHECK(e.status == 302);
        CHECK(e.flags == want.flags);
        CHECK(e.network_family == want.network_family);
        CHECK(e.domain == "go.example.com");
        CHECK(e.code == want.code);
        CHECK(e.referrer == "news.example.org");
        CHECK(e.country[0] == 'D');
    }
    REQUIRE(c.next(e));
    CHECK(e.code.size() == k_max_code);
    CHECK(e.network_family == 6);
    CHECK(e.network[5] == 1);
    CHECK_FALSE(c.next(e));
    CHECK(c.error().empty());
    CHECK(c.parsed() == 11);
}

TEST_CASE("a damaged event is refused with what is wrong", "[clicks]") {
    std::string good;
    append_event(good, sample(1));
    struct Case {
        const char* what;
        std::size_t offset;
        std::uint8_t value;
    };
    for (const Case& k : {Case{"size out of range", 0, 3}, Case{"status out of range", 26, 0},
                          Case{"country is not two uppercase letters", 36, 'd'},
                          Case{"unknown flags", 35, 0x80}, Case{"unknown network family", 38, 5}}) {
        std::string bad = good;
        bad[k.offset] = static_cast<char>(k.value);
        if (k.offset == 26) {
            bad[27] = 0;
        }
        EventCursor c(bad);
        Event e;
        CHECK_FALSE(c.next(e));
        CHECK(c.error() == std::string("event 1: ") + k.what);
    }
    // A domain length that runs past the event.
    std::string bad = good;
    bad[k_fixed_event_size] = static_cast<char>(200);
    EventCursor c(bad);
    Event e;
    CHECK_FALSE(c.next(e));
    CHECK(c.error() == "event 1: domain length out of range");
}

TEST_CASE("a sealed segment reads back every block and ends cleanly", "[clicks]") {
    TempDir dir;
    const fs::path path = write_segment(dir.path, 3, 100);
    bool part = true;
    CHECK(is_segment_name(path.filename().string(), &part));
    CHECK_FALSE(part);
    CHECK(files(dir.path).size() == 1);

    std::vector<Event> events;
    std::vector<std::string> keep;
    std::string error;
    CHECK(read_all(path, events, error, keep) == BlockResult::end);
    CHECK(error.empty());
    REQUIRE(events.size() == 300);
    CHECK(events[299].time_ms == sample(299).time_ms);
}

TEST_CASE("a reader resumes where an earlier one stopped", "[clicks]") {
    TempDir dir;
    const fs::path path = write_segment(dir.path, 3, 10);
    auto r = SegmentReader::open(path.string());
    REQUIRE(r);
    std::string block;
    std::uint32_t n = 0;
    REQUIRE((*r)->next(block, n) == BlockResult::block);
    const auto offset = (*r)->offset();
    const auto blocks = (*r)->blocks_seen();
    const auto events = (*r)->events_seen();

    auto again = SegmentReader::open(path.string());
    REQUIRE(again);
    (*again)->seek(offset, blocks, events);
    int more = 0;
    while ((*again)->next(block, n) == BlockResult::block) {
        ++more;
    }
    CHECK(more == 2);
    CHECK((*again)->error().empty());
    CHECK((*again)->events_seen() == 30);
}

TEST_CASE("a .part is read up to its last complete block; an orphan is sealed", "[clicks]") {
    TempDir dir;
    auto w = SegmentWriter::create(dir.path.string(), 1764000000000, k_flag_networks);
    REQUIRE(w);
    std::string events;
    for (int i = 0; i < 50; ++i) {
        append_event(events, sample(i));
    }
    REQUIRE((*w)->append_block(events, 50));
    const fs::path part = (*w)->path();
    CHECK(part.string().ends_with(".slclicks.part"));

    {
        auto r = SegmentReader::open(part.string());
        REQUIRE(r);
        CHECK((*r)->is_part());
        CHECK((*r)->live());
        CHECK((*r)->header().flags == k_flag_networks);
        std::string block;
        std::uint32_t n = 0;
        CHECK((*r)->next(block, n) == BlockResult::block);
        CHECK((*r)->next(block, n) == BlockResult::incomplete);
    }
    // A live writer's file is not sealed by anyone else.
    auto refused = seal_orphan(part.string());
    CHECK_FALSE(refused);

    // The writer dies half-way through its second block.
    REQUIRE((*w)->append_block(events, 50));
    w->reset();
    std::string bytes = slurp(part);
    bytes.resize(bytes.size() - 30);
    spit(part, bytes);
    {
        auto r = SegmentReader::open(part.string());
        REQUIRE(r);
        CHECK_FALSE((*r)->live());
        std::string block;
        std::uint32_t n = 0;
        CHECK((*r)->next(block, n) == BlockResult::block);
        CHECK((*r)->next(block, n) == BlockResult::incomplete);
    }
    // A copy of the .part, kept aside, is sealed first under the same name...
    const fs::path copy = part.string() + ".copy";
    fs::copy_file(part, copy);
    auto sealed = seal_orphan(part.string());
    REQUIRE(sealed);
    CHECK_FALSE(fs::exists(part));
    std::vector<Event> got;
    std::vector<std::string> keep;
    std::string error;
    CHECK(read_all(*sealed, got, error, keep) == BlockResult::end);
    CHECK(got.size() == 50);
    // ...and put back as a .part, it does not replace the sealed segment.
    const std::string sealed_bytes = slurp(*sealed);
    fs::rename(copy, part);
    auto again = seal_orphan(part.string());
    REQUIRE_FALSE(again);
    CHECK(again.status().code() == shortlink::Status::Code::conflict);
    CHECK(again.status().message().find("exists already") != std::string::npos);
    CHECK(slurp(*sealed) == sealed_bytes);
    CHECK(fs::exists(part));
}

TEST_CASE("every kind of segment damage is named and stops the segment there", "[clicks]") {
    TempDir dir;
    const fs::path path = write_segment(dir.path, 2, 20);
    const std::string good = slurp(path);
    const std::size_t first = k_header_size;
    const std::size_t first_payload = shortlink::formats::bytes::load<std::uint32_t>(
        reinterpret_cast<const std::uint8_t*>(good.data() + first + 4));
    const std::size_t second = first + k_block_header_size + first_payload;

    struct Case {
        const char* what;
        std::function<void(std::string&)> damage;
        std::size_t blocks_before;
    };
    const std::vector<Case> cases = {
        {"block check mismatch", [&](std::string& b) { b[first + k_block_header_size + 3] ^= 1; }, 0},
        {"bad block magic", [&](std::string& b) { b[second] = 'X'; }, 1},
        {"payload size 0 out of range", [&](std::string& b) { std::memset(b.data() + second + 4, 0, 4); }, 1},
        {"event count 0 out of range", [&](std::string& b) { std::memset(b.data() + second + 8, 0, 4); }, 1},
        {"the segment ends without its end record",
         [&](std::string& b) { b.resize(b.size() - k_end_record_size); }, 2},
        {"truncated block payload", [&](std::string& b) { b.resize(second + 30); }, 1},
        {"bytes after the end record", [&](std::string& b) { b += "x"; }, 2},
        {"end record check mismatch", [&](std::string& b) { b[b.size() - 1] ^= 1; }, 2},
    };
    for (const Case& k : cases) {
        SECTION(k.what) {
            std::string bad = good;
            k.damage(bad);
            spit(path, bad);
            std::vector<Event> got;
            std::vector<std::string> keep;
            std::string error;
            CHECK(read_all(path, got, error, keep) == BlockResult::damaged);
            CHECK(error.find(k.what) != std::string::npos);
            CHECK(error.find(path.string()) == 0);
            CHECK(got.size() == k.blocks_before * 20);
        }
    }
}

TEST_CASE("a file that is not a segment is refused at open", "[clicks]") {
    TempDir dir;
    const fs::path path = write_segment(dir.path, 1, 5);
    const std::string good = slurp(path);
    SECTION("empty") {
        spit(path, "");
        auto r = SegmentReader::open(path.string());
        REQUIRE_FALSE(r);
        CHECK(r.status().message().find("not a click segment: 0 bytes") != std::string::npos);
    }
    SECTION("bad magic") {
        spit(path, "SQLite format 3" + std::string(100, '\0'));
        auto r = SegmentReader::open(path.string());
        REQUIRE_FALSE(r);
        CHECK(r.status().message().find("bad magic") != std::string::npos);
    }
    SECTION("header damaged") {
        std::string bad = good;
        bad[40] = 1;
        spit(path, bad);
        auto r = SegmentReader::open(path.string());
        REQUIRE_FALSE(r);
        CHECK(r.status().message().find("header check mismatch") != std::string::npos);
    }
    SECTION("newer version") {
        std::string bad = good;
        bad[8] = 2;
        spit(path, bad);
        auto r = SegmentReader::open(path.string());
        REQUIRE_FALSE(r);
        CHECK(r.status().message().find("version 2") != std::string::npos);
    }
    SECTION("a directory") {
        auto r = SegmentReader::open(dir.path.string());
        REQUIRE_FALSE(r);
    }
}

TEST_CASE("an opened-at time no segment name can hold is header damage", "[clicks]") {
    // A sealed orphan is named for its header's time; a year that is not four digits would make
    // a name no directory scan recognises, and the orphan's events would be lost to stats.
    TempDir dir;
    auto w = SegmentWriter::create(dir.path.string(), 1764000000000, 0);
    REQUIRE(w);
    std::string events;
    append_event(events, sample(0));
    REQUIRE((*w)->append_block(events, 1));
    const fs::path part = (*w)->path();
    w->reset();
    const std::string good = slurp(part);
    const auto opened_at = [&](std::int64_t ms) {
        std::string b = good;
        auto* p = reinterpret_cast<std::uint8_t*>(b.data());
        shortlink::formats::bytes::store<std::int64_t>(p + 32, ms);
        shortlink::formats::bytes::store<std::uint64_t>(p + 56, shortlink::formats::hash128(p, 56, 0).lo);
        return b;
    };
    for (const std::int64_t ms : {std::int64_t{253402300800000}, std::int64_t{-1}, INT64_MAX}) {
        INFO(ms);
        spit(part, opened_at(ms));
        auto r = SegmentReader::open(part.string());
        REQUIRE_FALSE(r);
        CHECK(r.status().message() ==
              part.string() + ": opened at " + std::to_string(ms) + " ms, outside the years 1970 to 9999");
        CHECK_FALSE(seal_orphan(part.string()));
        CHECK(fs::exists(part));
    }
    // The last millisecond of 9999 still names a segment.
    spit(part, opened_at(253402300799999));
    auto sealed = seal_orphan(part.string());
    REQUIRE(sealed);
    const std::string name = fs::path(*sealed).filename().string();
    bool is_part = true;
    CHECK(is_segment_name(name, &is_part));
    CHECK_FALSE(is_part);
    CHECK(name.starts_with("clicks-99991231T235959Z-"));
}

TEST_CASE("segment names", "[clicks]") {
    SegmentId id;
    id.bytes[0] = 0xab;
    const std::string sealed = sealed_name(1764000000000, id);
    CHECK(sealed == "clicks-20251124T160000Z-ab000000000000000000000000000000.slclicks");
    bool part = false;
    CHECK(is_segment_name(sealed, &part));
    CHECK_FALSE(part);
    CHECK(is_segment_name(part_name(1764000000000, id), &part));
    CHECK(part);
    CHECK_FALSE(is_segment_name("clicks-20251124T160000Z-AB000000000000000000000000000000.slclicks"));
    CHECK_FALSE(is_segment_name("clicks-20251124T160000Z-ab00.slclicks"));
    CHECK_FALSE(is_segment_name(sealed + ".tmp"));
    CHECK_FALSE(is_segment_name("links-1.slsnap"));
}
