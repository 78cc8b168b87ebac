// The value forms of other shorteners' exports: their times, short URLs, tags and booleans, and
// the names --from and --map take.
#include <catch2/catch.hpp>

#include "store/import_sources.h"

using namespace shortlink;
namespace src = store::import_sources;

TEST_CASE("ForeignTimesInEachForm", "[import]") {
    const std::int64_t t = 1'704'164'645;  // 2024-01-02T03:04:05Z
    CHECK(*src::parse_time("2024-01-02T03:04:05Z") == t);
    CHECK(*src::parse_time("2024-01-02 03:04:05") == t);             // YOURLS, taken as UTC
    CHECK(*src::parse_time("2024-01-02T03:04:05+0000") == t);        // Bitly
    CHECK(*src::parse_time("2024-01-02T04:04:05+01:00") == t);       // Shlink
    CHECK(*src::parse_time("2024-01-02T03:04:05.123Z") == t);        // Kutt
    CHECK(*src::parse_time("2024-01-02T03:04:05") == t);             // no offset: UTC
    CHECK(*src::parse_time("2024-01-02T05:04:05+02") == t);
    CHECK(*src::parse_time("1704164645") == t);                      // Unix seconds
    CHECK(*src::parse_time("1704164645123") == t);                   // milliseconds
    CHECK(*src::parse_time("2024-01-02") == 1'704'153'600);
    CHECK(*src::parse_time("") == 0);
    CHECK(*src::parse_time("0000-00-00 00:00:00") == 0);             // MySQL's zero date
}

TEST_CASE("ForeignTimesRefused", "[import]") {
    for (const char* bad : {"yesterday", "7d", "2024-13-01 00:00:00", "2024-01-02T03:04", "01/02/2024",
                            "2024-01-02T03:04:05+99:00", "12345678901234567890", "2024-01-02T03:04:05Zjunk"}) {
        INFO(bad);
        auto when = src::parse_time(bad);
        REQUIRE(!when);
        CHECK(when.status().message().find("is not a time") != std::string::npos);
    }
}

TEST_CASE("ShortUrlsGiveDomainAndCode", "[import]") {
    auto a = src::split_short_url("https://Bit.ly/3xKq9Zp");
    REQUIRE(a);
    CHECK(a->host == "bit.ly");
    CHECK(a->code == "3xKq9Zp");
    auto b = src::split_short_url("www.example.com/docs/intro");  // Cloudflare: no scheme
    REQUIRE(b);
    CHECK(b->host == "www.example.com");
    CHECK(b->code == "docs/intro");
    CHECK(src::split_short_url("https://bit.ly/").status().message().find("has no path") != std::string::npos);
    CHECK(src::split_short_url("bit.ly").status().message().find("has no path") != std::string::npos);
    CHECK(src::split_short_url("https://bit.ly/a?b=1").status().message().find("query") != std::string::npos);
    CHECK(src::split_short_url("ftp://bit.ly/a").status().message().find("not http or https") !=
          std::string::npos);
    CHECK(!src::split_short_url("https://bad host/a"));
}

TEST_CASE("ForeignTagsAreCleaned", "[import]") {
    CHECK(src::clean_tag("Spring Sale!") == "Spring-Sale");
    CHECK(src::clean_tag("  a  b ") == "a-b");
    CHECK(src::clean_tag("ok_tag.v1:x") == "ok_tag.v1:x");
    CHECK(src::clean_tag("!!!").empty());
    CHECK(src::clean_tag(std::string(100, 'x')).size() == 64);
}

TEST_CASE("ForeignBooleans", "[import]") {
    CHECK(src::parse_bool("TRUE") == std::optional<bool>(true));
    CHECK(src::parse_bool("false") == std::optional<bool>(false));
    CHECK(src::parse_bool("1") == std::optional<bool>(true));
    CHECK(!src::parse_bool(""));
    CHECK(!src::parse_bool("maybe"));
}

TEST_CASE("FormatAndFieldNames", "[import]") {
    for (const char* name : {"csv", "jsonl", "bitly", "yourls", "shlink", "kutt", "cloudflare"}) {
        auto format = store::parse_import_format(name);
        REQUIRE(format);
        CHECK(store::import_format_name(*format) == name);
    }
    CHECK(*store::parse_import_format("json") == store::ImportFormat::json_lines);
    CHECK(store::parse_import_format("rebrandly").status().message().find("unknown format 'rebrandly'") == 0);
    CHECK(*store::parse_import_field("url") == store::ImportField::url);
    CHECK(*store::parse_import_field("-") == store::ImportField::ignore);
    CHECK(*store::parse_import_field("created_at") == store::ImportField::created_at);
    CHECK(*store::parse_import_field("title") == store::ImportField::title);
    CHECK(store::import_field_name(store::ImportField::title) == "title");
    CHECK(!store::parse_import_field("password"));  // a source's own setting, not a field to map to
    CHECK(!store::parse_import_field("URL"));
}
