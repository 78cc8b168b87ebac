// The deny section and the deny overlay file: every entry finds itself, foreign keys and parents
// are answered right, and every damaged table is refused with the error that names it.
#include <algorithm>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "compiler/deny_publish.h"
#include "formats/bytes.h"
#include "formats/deny.h"
#include "formats/deny_format.h"
#include "formats/file_names.h"
#include "formats/records.h"
#include "formats/snapshot.h"
#include "formats/writer.h"
#include "tests/formats/snapshot_fixture.h"

using namespace shortlink;
using formats::DenyEntry;
using formats::DenyKind;
namespace fmt = shortlink::formats::format;

namespace {

std::vector<DenyEntry> sample_entries() {
    return {{DenyKind::link, "*", "phish"},
            {DenyKind::link, "go.example.com", "spring"},
            {DenyKind::domain, "bad.example.com", ""},
            {DenyKind::destination, "evil.example", ""},
            {DenyKind::destination, "cdn.other.example", ""}};
}

// A signed overlay holding `entries`, as bytes.
std::string overlay_bytes(const formats::SigningKey& key, std::vector<DenyEntry> entries,
                          std::uint64_t serial = 7) {
    test::TempDir dir;
    const std::string path = dir.path + "/" + formats::published_file_name(fmt::FileKind::deny, serial);
    REQUIRE(compiler::write_deny_overlay(path, std::move(entries), {serial, 1000}, key));
    return test::read_file(path);
}

Status open_overlay(const std::string& bytes, const formats::SigningKey& key) {
    return formats::DenyOverlay::open_buffer(bytes, {key.trusted()}).status();
}

bool contains(const Status& s, const std::string& what) {
    return s.message().find(what) != std::string::npos;
}

// The deny section's offset in an overlay file.
std::uint64_t deny_offset(const std::string& bytes) {
    auto overlay = formats::DenyOverlay::open_buffer(bytes, {}, {.verify_signature = false});
    REQUIRE(overlay);
    return (*overlay)->file().section(fmt::SectionType::deny)->offset;
}

}  // namespace

TEST_CASE("EveryEntryFindsItselfAndNothingElse", "[deny]") {
    auto key = test::test_key();
    auto overlay = formats::DenyOverlay::open_buffer(overlay_bytes(key, sample_entries()), {key.trusted()});
    REQUIRE(overlay);
    const formats::DenySet& deny = (*overlay)->deny();
    CHECK(deny.size() == 5);
    CHECK(deny.link_count() == 2);
    CHECK(deny.domain_count() == 1);
    CHECK(deny.destination_count() == 2);
    CHECK(deny.blocks_link("*", "phish"));
    CHECK(deny.blocks_link("go.example.com", "spring"));
    CHECK_FALSE(deny.blocks_link("go.example.com", "phish"));  // the key is (domain, code)
    CHECK_FALSE(deny.blocks_link("*", "Phish"));
    CHECK(deny.blocks_domain("bad.example.com"));
    CHECK_FALSE(deny.blocks_domain("example.com"));
    CHECK_FALSE(deny.blocks_domain("evil.example"));  // a destination entry is not a domain entry
    // A destination host and every subdomain of it, whatever the URL around it.
    CHECK(deny.blocks_destination("https://evil.example/x"));
    CHECK(deny.blocks_destination("http://a.b.evil.example:8080/path?q#f"));
    CHECK(deny.blocks_destination("https://user:pw@evil.example"));
    CHECK_FALSE(deny.blocks_destination("https://notevil.example/"));
    CHECK_FALSE(deny.blocks_destination("https://evil.example.com/"));
    CHECK(deny.blocks_destination("https://x.cdn.other.example/"));
    CHECK_FALSE(deny.blocks_destination("https://other.example/"));
    CHECK_FALSE(deny.blocks_destination("not a url"));
    CHECK(deny.blocks("bad.example.com", "anything", "https://fine.example/"));
    CHECK_FALSE(deny.blocks("*", "fine", "https://fine.example/"));
}

TEST_CASE("DestinationHostOfUrls", "[deny]") {
    CHECK(formats::destination_host("https://a.example/x") == "a.example");
    CHECK(formats::destination_host("https://u@a.example:1/") == "a.example");
    CHECK(formats::destination_host("http://[2001:db8::1]:80/x") == "[2001:db8::1]");
    CHECK(formats::destination_host("https://a.example?x=@b") == "a.example");
    CHECK(formats::destination_host("mailto:x@y").empty());
}

TEST_CASE("SameSetSameBytesWhateverTheOrder", "[deny]") {
    auto entries = sample_entries();
    auto a = formats::encode_deny_section(entries);
    std::reverse(entries.begin(), entries.end());
    entries.push_back(entries.front());  // a duplicate
    auto b = formats::encode_deny_section(entries);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(*a == *b);
}

TEST_CASE("EmptyOverlayBlocksNothing", "[deny]") {
    auto key = test::test_key();
    auto overlay = formats::DenyOverlay::open_buffer(overlay_bytes(key, {}), {key.trusted()});
    REQUIRE(overlay);
    CHECK((*overlay)->deny().empty());
    CHECK_FALSE((*overlay)->deny().blocks("*", "x", "https://x.example/"));
}

TEST_CASE("EntriesTheFormatCannotHoldAreRefused", "[deny]") {
    const auto refused = [](std::vector<formats::DenyEntry> entries) {
        const Status st = formats::encode_deny_section(std::move(entries)).status();
        CHECK(st.code() == Status::Code::invalid_argument);
        return st.message();
    };
    CHECK(refused({{DenyKind::link, "*", ""}}) == "deny entry link *: the code must be 1 to 1024 bytes");
    CHECK(refused({{DenyKind::link, "*", std::string(1025, 'c')}}) ==
          "deny entry link *: the code must be 1 to 1024 bytes");
    CHECK(refused({{DenyKind::domain, "x.example", "code"}}) == "deny entry domain x.example: only a link entry has a code");
    CHECK(refused({{DenyKind::destination, "", ""}}) == "deny entry host \"\" is empty or longer than 253 bytes");
    CHECK(refused({{DenyKind::destination, std::string(254, 'a'), ""}}) ==
          "deny entry host \"" + std::string(254, 'a') + "\" is empty or longer than 253 bytes");
    CHECK(formats::encode_deny_section({{DenyKind::destination, std::string(253, 'a'), ""}}));  // the limit itself
}

TEST_CASE("LargeSetEveryEntryFound", "[deny]") {
    std::vector<DenyEntry> entries;
    for (int i = 0; i < 20000; ++i) {
        entries.push_back({DenyKind::link, i % 2 ? "*" : "go.example", "c" + std::to_string(i)});
        entries.push_back({DenyKind::destination, "h" + std::to_string(i) + ".example", ""});
    }
    auto key = test::test_key();
    auto overlay = formats::DenyOverlay::open_buffer(overlay_bytes(key, entries), {key.trusted()});
    REQUIRE(overlay);
    for (const DenyEntry& e : entries) {
        if (e.kind == DenyKind::link) {
            REQUIRE((*overlay)->deny().blocks_link(e.host, e.code));
        } else {
            REQUIRE((*overlay)->deny().blocks_destination("https://www." + e.host + "/"));
        }
    }
    CHECK_FALSE((*overlay)->deny().blocks_link("*", "c0"));  // c0 is on go.example
}

TEST_CASE("DamagedDenyTablesAreRefused", "[deny]") {
    auto key = test::test_key();
    const std::string good = overlay_bytes(key, sample_entries());
    const std::uint64_t off = deny_offset(good);
    const auto damaged = [&](auto change) {
        std::string bytes = good;
        change(reinterpret_cast<std::uint8_t*>(bytes.data()) + off);
        return open_overlay(test::reseal(bytes, key), key);
    };
    CHECK(contains(damaged([](std::uint8_t* p) { formats::bytes::store<std::uint64_t>(p, 6); }),
                   "not the sum of its kinds"));
    CHECK(contains(damaged([](std::uint8_t* p) { formats::bytes::store<std::uint64_t>(p + 24, 12); }),
                   "table size 12"));
    CHECK(contains(damaged([](std::uint8_t* p) { p[50] = 1; }), "reserved byte 50"));
    // The first occupied entry: a wrong tag, then a record offset out of bounds.
    const auto first_entry = [](std::uint8_t* p) {
        std::uint8_t* e = p + fmt::k_deny_header_size;
        while (formats::bytes::load<std::uint64_t>(e) == 0) {
            e += fmt::k_deny_entry_size;
        }
        return e;
    };
    CHECK(contains(damaged([&](std::uint8_t* p) { first_entry(p)[0] ^= 2; }), "tag does not match"));
    CHECK(contains(damaged([&](std::uint8_t* p) {
                       formats::bytes::store<std::uint64_t>(first_entry(p) + 8, 1u << 30);
                   }),
                   "past the end of the records"));
    // A bit flip that the checksum and the signature catch before the table is read.
    std::string flipped = good;
    flipped[off + 70] ^= 1;
    CHECK(open_overlay(flipped, key).code() == Status::Code::corruption);
}

TEST_CASE("OverlayOfAnotherKeyOrKindIsRefused", "[deny]") {
    auto key = test::test_key();
    auto other = test::test_key();
    const std::string bytes = overlay_bytes(key, sample_entries());
    CHECK(contains(open_overlay(bytes, other), "not among the 1 trusted key(s)"));
    CHECK(contains(formats::Snapshot::open_buffer(bytes, {key.trusted()}).status(),
                   "is a deny overlay (file kind 2), not a snapshot"));
    CHECK(contains(open_overlay(bytes.substr(0, bytes.size() - 10), key), "truncated"));
}

TEST_CASE("PublishedNamesRoundTrip", "[deny]") {
    using formats::parse_published_name;
    CHECK(formats::published_file_name(fmt::FileKind::deny, 42) == "deny-42.sldeny");
    CHECK(formats::published_file_name(fmt::FileKind::patch, 42, 40) == "patch-40-42.slpatch");
    auto patch = parse_published_name("patch-40-42.slpatch");
    REQUIRE(patch);
    CHECK((patch->kind == fmt::FileKind::patch && patch->base == 40 && patch->serial == 42));
    CHECK(parse_published_name("links-7.slsnap")->serial == 7);
    CHECK_FALSE(parse_published_name("links-07.slsnap"));
    CHECK_FALSE(parse_published_name("links--7.slsnap"));
    CHECK_FALSE(parse_published_name(".links-7.slsnap.tmp.1.ab"));
    CHECK_FALSE(parse_published_name("patch-42.slpatch"));
    CHECK_FALSE(parse_published_name("deny-7.slsnap"));
}
