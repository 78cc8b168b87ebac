// RFC 3339 and relative time parsing. Hand-written because GCC 12's <chrono> lacks
// std::chrono::parse and the format is small enough to check field by field.
#include "store/timefmt.h"

#include <cstdio>
#include <limits>

namespace shortlink::timefmt {
namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = static_cast<std::int64_t>(yoe) + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2 ? 1 : 0;
}

bool digits(std::string_view s, std::size_t pos, std::size_t n, unsigned& out) {
    if (pos + n > s.size()) {
        return false;
    }
    out = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        out = out * 10 + static_cast<unsigned>(s[i] - '0');
    }
    return true;
}

unsigned days_in_month(unsigned y, unsigned m) {
    static constexpr unsigned k_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : k_days[m - 1];
}

// 9999-12-31T23:59:59Z: RFC 3339 has four-digit years, so a later time would print as
// something parse_time refuses, and an exported link would not import back.
constexpr std::int64_t k_last_time = 253'402'300'799;

Status bad(std::string_view text, const char* why) {
    return Status::invalid_argument("time '" + std::string(text) + "' " + why +
                                    " (expected RFC 3339 like 2026-12-31T23:59:59Z, or 30m, 12h, 7d)");
}

Result<std::int64_t> parse_relative(std::string_view text, std::int64_t now) {
    std::int64_t value = 0;
    std::size_t i = 0;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
        if (value > 1'000'000'000) {
            return bad(text, "is too large");
        }
        value = value * 10 + (text[i] - '0');
    }
    if (i == 0 || i + 1 != text.size()) {
        return bad(text, "is not a valid time");
    }
    std::int64_t unit = 0;
    switch (text[i]) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    case 'w': unit = 7 * 86400; break;
    default: return bad(text, "has an unknown unit (use s, m, h, d or w)");
    }
    if (value == 0) {
        return bad(text, "is zero");
    }
    if (value * unit > k_last_time - now) {
        return bad(text, "is after 9999-12-31T23:59:59Z");
    }
    return now + value * unit;
}

}  // namespace

Result<std::int64_t> parse_time(std::string_view text, std::int64_t now) {
    if (text.empty()) {
        return bad(text, "is empty");
    }
    if (text.size() < 20) {
        return parse_relative(text, now);
    }
    unsigned year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
    if (!digits(text, 0, 4, year) || text[4] != '-' || !digits(text, 5, 2, month) || text[7] != '-' ||
        !digits(text, 8, 2, day) || (text[10] != 'T' && text[10] != 't' && text[10] != ' ') ||
        !digits(text, 11, 2, hour) || text[13] != ':' || !digits(text, 14, 2, minute) || text[16] != ':' ||
        !digits(text, 17, 2, second)) {
        return bad(text, "is not a valid RFC 3339 date-time");
    }
    if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month)) {
        return bad(text, "has an invalid date");
    }
    if (hour > 23 || minute > 59 || second > 60) {
        return bad(text, "has an invalid time of day");
    }
    second = second == 60 ? 59 : second;  // a leap second maps to the second before it
    std::size_t pos = 19;
    if (pos < text.size() && text[pos] == '.') {
        ++pos;
        std::size_t start = pos;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
            ++pos;
        }
        if (pos == start) {
            return bad(text, "has an empty fraction");
        }
    }
    std::int64_t offset = 0;
    std::string_view zone = text.substr(pos);
    if (zone == "Z" || zone == "z") {
        offset = 0;
    } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
        unsigned oh = 0, om = 0;
        if (!digits(zone, 1, 2, oh) || !digits(zone, 4, 2, om) || oh > 23 || om > 59) {
            return bad(text, "has an invalid UTC offset");
        }
        offset = (zone[0] == '+' ? 1 : -1) * static_cast<std::int64_t>(oh * 3600 + om * 60);
    } else {
        return bad(text, "needs a time zone (Z or +HH:MM)");
    }
    std::int64_t t = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset;
    if (t <= 0) {
        return bad(text, "is not after 1970-01-01");
    }
    if (t > k_last_time) {
        return bad(text, "is after 9999-12-31T23:59:59Z");
    }
    return t;
}

Result<std::int64_t> parse_range_time(std::string_view text, std::int64_t now, bool end_of_day) {
    const auto bad_range = [&](const char* why) {
        return Status::invalid_argument("time '" + std::string(text) + "' " + why +
                                        " (expected a date like 2026-12-01, an RFC 3339 time like "
                                        "2026-12-01T08:00:00Z, or a duration back from now like 12h or 7d)");
    };
    unsigned year = 0, month = 0, day = 0;
    if (text.size() == 10 && digits(text, 0, 4, year) && text[4] == '-' && digits(text, 5, 2, month) &&
        text[7] == '-' && digits(text, 8, 2, day)) {
        if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month)) {
            return bad_range("has an invalid date");
        }
        const std::int64_t t = (days_from_civil(year, month, day) + (end_of_day ? 1 : 0)) * 86400;
        if (t <= 0) {
            return bad_range("is not after 1970-01-01");
        }
        if (t > k_last_time + 1) {
            return bad_range("is after 9999-12-31T23:59:59Z");
        }
        return t;
    }
    if (text.empty()) {
        return bad_range("is empty");
    }
    if (text.size() >= 20) {
        return parse_time(text, now);
    }
    auto duration = parse_relative(text, 0);
    if (!duration) {
        return bad_range("is not a valid time");
    }
    if (*duration >= now) {
        return bad_range("reaches back before 1970");
    }
    return now - *duration;
}

std::string format_time(std::int64_t unix_seconds) {
    if (unix_seconds == 0) {
        return {};
    }
    std::int64_t days = unix_seconds / 86400;
    std::int64_t rem = unix_seconds % 86400;
    if (rem < 0) {
        rem += 86400;
        days -= 1;
    }
    std::int64_t y = 0;
    unsigned m = 0, d = 0;
    civil_from_days(days, y, m, d);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ", static_cast<long long>(y), m, d,
                  static_cast<long long>(rem / 3600), static_cast<long long>(rem / 60 % 60),
                  static_cast<long long>(rem % 60));
    return buf;
}

}  // namespace shortlink::timefmt
