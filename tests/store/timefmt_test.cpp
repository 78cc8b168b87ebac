// RFC 3339 and relative time parsing and printing.
#include <catch2/catch.hpp>

#include "store/timefmt.h"

using namespace shortlink::timefmt;

TEST_CASE("ParsesRfc3339", "[timefmt]") {
    CHECK(*parse_time("1970-01-01T00:00:01Z", 0) == 1);
    CHECK(*parse_time("2026-11-28T16:14:43Z", 0) == 1795882483);
    CHECK(*parse_time("2026-11-28T18:14:43+02:00", 0) == 1795882483);
    CHECK(*parse_time("2026-11-28T15:14:43.999-01:00", 0) == 1795882483);
    CHECK(*parse_time("2024-02-29T00:00:00Z", 0) == 1709164800);
    CHECK(*parse_time("2016-12-31T23:59:60Z", 0) == *parse_time("2016-12-31T23:59:59Z", 0));
}

TEST_CASE("ParsesRelativeDurations", "[timefmt]") {
    const std::int64_t now = 1'000'000;
    CHECK(*parse_time("30m", now) == now + 1800);
    CHECK(*parse_time("12h", now) == now + 43200);
    CHECK(*parse_time("7d", now) == now + 604800);
    CHECK(*parse_time("2w", now) == now + 1209600);
    CHECK(*parse_time("90s", now) == now + 90);
}

TEST_CASE("RejectsBadTimes", "[timefmt]") {
    for (const char* bad : {"", "0m", "-5m", "5", "m", "5y", "5 m", "1e3m", "99999999999d", "2026-13-01T00:00:00Z",
                            "2026-02-30T00:00:00Z", "2023-02-29T00:00:00Z", "2026-11-28T24:00:00Z",
                            "2026-11-28T16:14:43", "2026-11-28 16:14:43 UTC", "2026-11-28T16:14:43+2:00",
                            "2026-11-28T16:14:43.Z", "1969-12-31T23:59:59Z", "tomorrow", "2026-11-28"}) {
        INFO(bad);
        CHECK_FALSE(parse_time(bad, 1000).is_ok());
    }
}

TEST_CASE("RejectsTimesAfterYear9999", "[timefmt]") {
    // A later time would print with a five-digit year that parse_time refuses.
    const std::int64_t last = 253402300799;
    const std::int64_t week = 7 * 86400;
    CHECK(*parse_time("9999-12-31T23:59:59Z", 1'800'000'000) == last);
    CHECK(*parse_time("1000w", last - 1000 * week) == last);
    CHECK(format_time(last) == "9999-12-31T23:59:59Z");
    const struct {
        const char* text;
        std::int64_t now;
    } late[] = {{"1001w", last - 1000 * week}, {"1s", last}, {"226555555h", 1'800'000'000},
                {"10000000000w", 1'800'000'000}, {"9999-12-31T23:59:59-00:01", 1'800'000'000}};
    for (const auto& c : late) {
        INFO(c.text);
        auto t = parse_time(c.text, c.now);
        REQUIRE_FALSE(t.is_ok());
        CHECK_THAT(t.status().message(), Catch::Contains("is after 9999-12-31T23:59:59Z"));
    }
}

TEST_CASE("FormatsUtc", "[timefmt]") {
    CHECK(format_time(0).empty());
    CHECK(format_time(1795882483) == "2026-11-28T16:14:43Z");
    CHECK(format_time(1709164800) == "2024-02-29T00:00:00Z");
    for (std::int64_t t : {std::int64_t{1}, std::int64_t{86399}, std::int64_t{951782400}, std::int64_t{1795882483}, std::int64_t{4102444800}}) {
        CHECK(*parse_time(format_time(t), 0) == t);
    }
}

TEST_CASE("ParsesRangeTimes", "[timefmt]") {
    const std::int64_t now = 1764590400;  // 2025-12-01T12:00:00Z
    CHECK(*parse_range_time("2025-12-01", now, false) == 1764547200);
    CHECK(*parse_range_time("2025-12-01", now, true) == 1764547200 + 86400);
    CHECK(*parse_range_time("2025-12-01T08:00:00Z", now, true) == 1764576000);
    CHECK(*parse_range_time("12h", now, false) == now - 12 * 3600);
    CHECK(*parse_range_time("7d", now, true) == now - 7 * 86400);
    for (const char* bad : {"", "2025-13-01", "2025-02-30", "2025-12-1", "yesterday", "-7d", "100000w",
                            "2025-12-01T08:00:00"}) {
        INFO(bad);
        CHECK_FALSE(parse_range_time(bad, now, false));
    }
}
