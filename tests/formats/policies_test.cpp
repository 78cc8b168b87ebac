// Section 8 (domain policies): written only when a domain needs it, read back into DomainView,
// and refused precisely when a signed file holds a malformed one (SPEC.md "Section 8").
#include <catch2/catch.hpp>

#include <string>

#include "compiler/snapshot_builder.h"
#include "formats/records.h"
#include "formats/snapshot.h"
#include "formats/snapshot_format.h"
#include "tests/formats/snapshot_fixture.h"

using namespace shortlink;
namespace fmt = shortlink::formats::format;

namespace {

compiler::DomainInput plain_domain(std::string host) {
    compiler::DomainInput d;
    d.host = std::move(host);
    d.is_default = d.host == "*";
    d.cache_max_age_s = 300;
    d.negative_max_age_s = 60;
    d.permanent_max_age_s = 86400;  // above the cache lifetime: no cap in effect
    return d;
}

std::string build(const formats::SigningKey& key, const std::vector<compiler::DomainInput>& domains) {
    test::TempDir dir;
    compiler::SnapshotBuilder builder;
    for (const auto& d : domains) {
        auto handle = builder.add_domain(d);
        REQUIRE(handle);
        REQUIRE(builder.add_link({.domain = *handle, .code = "a", .destination = "https://e.example/"}));
    }
    auto compiled = std::move(builder).build();
    REQUIRE(compiled);
    const std::string path = dir.path + "/s";
    REQUIRE(compiled->write_file(path, {.serial = 5, .created_at = 1000}, key));
    return test::read_file(path);
}

bool contains(const Status& s, const std::string& what) {
    INFO(s.message());
    return s.message().find(what) != std::string::npos;
}

}  // namespace

TEST_CASE("NeutralPoliciesWriteNoSection", "[policies]") {
    auto key = test::test_key();
    const std::string bytes = build(key, {plain_domain("*"), plain_domain("go.example")});
    auto snap = formats::Snapshot::open_buffer(bytes, {key.trusted()});
    REQUIRE(snap);
    CHECK((*snap)->file().section(fmt::SectionType::policies) == nullptr);
    // Read as a file from before the section: nothing capped, nothing set.
    const formats::DomainView d = (*snap)->domain(0);
    CHECK(d.permanent_max_age_s == fmt::k_no_permanent_cap);
    CHECK(d.not_found_url.empty());
    CHECK(d.cache_scope == fmt::k_cache_scope_none);
}

TEST_CASE("PoliciesReadBackPerDomainIndex", "[policies]") {
    auto key = test::test_key();
    compiler::DomainInput go = plain_domain("go.example");
    go.not_found_url = "https://go.example/search";
    go.expired_url = "https://go.example/ended";
    go.not_found_text = "No such link.";
    go.gone_text = "That campaign is over.";
    go.stale_while_revalidate_s = 30;
    go.stale_if_error_s = 86400;
    go.cache_scope = fmt::k_cache_scope_public;
    go.miss_budget = 120;
    go.country_header = "CF-IPCountry";
    compiler::DomainInput capped = plain_domain("capped.example");
    capped.cache_max_age_s = 604800;  // a week: the day's cap now matters
    const std::string bytes = build(key, {go, plain_domain("*"), capped});
    auto snap = formats::Snapshot::open_buffer(bytes, {key.trusted()});
    REQUIRE(snap);
    REQUIRE((*snap)->file().section(fmt::SectionType::policies) != nullptr);
    const formats::DomainView g = (*snap)->domain(*(*snap)->find_domain("go.example"));
    CHECK(g.not_found_url == "https://go.example/search");
    CHECK(g.expired_url == "https://go.example/ended");
    CHECK(g.not_found_text == "No such link.");
    CHECK(g.gone_text == "That campaign is over.");
    CHECK(g.stale_while_revalidate_s == 30);
    CHECK(g.stale_if_error_s == 86400);
    CHECK(g.cache_scope == fmt::k_cache_scope_public);
    CHECK(g.miss_budget == 120);
    CHECK(g.country_header == "CF-IPCountry");
    const formats::DomainView c = (*snap)->domain(*(*snap)->find_domain("capped.example"));
    CHECK(c.permanent_max_age_s == 86400);
    CHECK(c.not_found_url.empty());
    CHECK(c.country_header.empty());
    const formats::DomainView def = (*snap)->domain(*(*snap)->default_domain());
    CHECK(def.permanent_max_age_s == 86400);
    CHECK(def.cache_scope == fmt::k_cache_scope_none);
}

TEST_CASE("BuilderRefusesPoliciesTheReaderWould", "[policies]") {
    compiler::SnapshotBuilder builder;
    compiler::DomainInput d = plain_domain("go.example");
    d.not_found_url = "https://go.example/\r\nSet-Cookie: x=1";
    CHECK(contains(builder.add_domain(d).status(), "control character"));
    d = plain_domain("go.example");
    d.gone_text = std::string(fmt::k_max_page_text_length + 1, 'x');
    CHECK(contains(builder.add_domain(d).status(), "too long"));
    d = plain_domain("go.example");
    d.cache_scope = 3;
    CHECK(contains(builder.add_domain(d).status(), "cache scope"));
    for (const char* bad : {"X Country", "CF-IPCountry:", "X-Country\r\nSet-Cookie", "Ländercode"}) {
        d = plain_domain("go.example");
        d.country_header = bad;
        CHECK(contains(builder.add_domain(d).status(), "is not a header name"));
    }
    d = plain_domain("go.example");
    d.country_header = std::string(fmt::k_max_country_header_length + 1, 'X');
    CHECK(contains(builder.add_domain(d).status(), "is not a header name"));
}

TEST_CASE("ADomainsOwnCountryHeaderAloneWritesTheSection", "[policies]") {
    auto key = test::test_key();
    compiler::DomainInput go = plain_domain("go.example");
    go.country_header = "X-Country-Code";
    const std::string bytes = build(key, {plain_domain("*"), go});
    auto snap = formats::Snapshot::open_buffer(bytes, {key.trusted()});
    REQUIRE(snap);
    REQUIRE((*snap)->file().section(fmt::SectionType::policies) != nullptr);
    CHECK((*snap)->domain(*(*snap)->find_domain("go.example")).country_header == "X-Country-Code");
    CHECK((*snap)->domain(*(*snap)->default_domain()).country_header.empty());
}

TEST_CASE("HostilePoliciesSectionsAreRefused", "[policies]") {
    auto key = test::test_key();
    compiler::DomainInput go = plain_domain("go.example");
    go.not_found_url = "https://go.example/search";
    go.gone_text = "Over.";
    go.country_header = "CF-IPCountry";
    const std::string good = build(key, {plain_domain("*"), go});
    auto snap = formats::Snapshot::open_buffer(good, {key.trusted()});
    REQUIRE(snap);
    const formats::SectionInfo sec = *(*snap)->file().section(fmt::SectionType::policies);
    const std::size_t records = sec.offset + fmt::k_policies_header_size;
    const std::size_t go_record = records + fmt::k_policy_record_size;  // "*" sorts first
    auto damaged = [&](std::size_t offset, std::uint8_t value) {
        std::string bytes = good;
        bytes[offset] = static_cast<char>(value);
        return formats::Snapshot::open_buffer(test::reseal(bytes, key), {key.trusted()}).status();
    };
    CHECK(contains(damaged(sec.offset + 20, 1), "section 8 (policies): reserved byte 20 is not zero"));
    CHECK(contains(damaged(sec.offset, 3), "3 records for 2 domains"));
    CHECK(contains(damaged(sec.offset + 8, 0), "is not 2 records and 0 bytes of strings"));
    CHECK(contains(damaged(go_record + 4, 0xff), "domain 1: fallback URL out of bounds"));
    CHECK(contains(damaged(go_record + 0, 0xf0), "domain 1: fallback URL out of bounds"));
    CHECK(contains(damaged(go_record + 28, 0xff), "domain 1: page text out of bounds"));
    CHECK(contains(damaged(go_record + 48, 3), "domain 1: unknown cache scope 3"));
    CHECK(contains(damaged(go_record + 60, 1), "domain 1: reserved byte 60 is not zero"));
    CHECK(contains(damaged(go_record + 50, 1), "domain 1: reserved byte 50 is not zero"));
    CHECK(contains(damaged(go_record + 56, 65), "domain 1: country header out of bounds or not a header name"));
    CHECK(contains(damaged(go_record + 55, 1), "domain 1: country header out of bounds"));
    // A control byte inside a URL a trusted key signed: refused before it reaches a header.
    const std::size_t strings = records + 2 * fmt::k_policy_record_size;
    CHECK(contains(damaged(strings + 5, '\n'), "holding a control byte"));
    // The country header's name is the last string ("https://go.example/search" "Over."
    // "CF-IPCountry"): a ':' or a space in it is no header name.
    const std::size_t header = strings + std::string("https://go.example/search").size() + std::string("Over.").size();
    CHECK(contains(damaged(header + 2, ':'), "country header out of bounds or not a header name"));
    CHECK(contains(damaged(header + 2, ' '), "country header out of bounds or not a header name"));
}

TEST_CASE("EveryByteFlipOfThePoliciesSectionIsSafe", "[policies]") {
    auto key = test::test_key();
    compiler::DomainInput go = plain_domain("go.example");
    go.expired_url = "https://go.example/ended";
    go.not_found_text = "None.";
    go.country_header = "CF-IPCountry";
    const std::string good = build(key, {plain_domain("*"), go});
    auto snap = formats::Snapshot::open_buffer(good, {key.trusted()});
    REQUIRE(snap);
    const formats::SectionInfo sec = *(*snap)->file().section(fmt::SectionType::policies);
    for (std::uint64_t off = sec.offset; off < sec.offset + sec.length; ++off) {
        std::string bytes = good;
        bytes[off] = static_cast<char>(bytes[off] ^ 0x81);
        auto flipped = formats::Snapshot::open_buffer(test::reseal(bytes, key), {key.trusted()});
        if (!flipped) {
            CHECK(flipped.status().code() == Status::Code::corruption);
            continue;
        }
        for (std::uint32_t i = 0; i < (*flipped)->domain_count(); ++i) {
            const formats::DomainView d = (*flipped)->domain(i);
            for (std::string_view s : {d.not_found_url, d.expired_url, d.not_found_text, d.gone_text}) {
                CHECK(s.find_first_of("\r\n") == std::string_view::npos);
            }
            CHECK((d.country_header.empty() || fmt::is_country_header_name(d.country_header)));
        }
    }
}
