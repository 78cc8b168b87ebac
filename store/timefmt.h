// Times as users type and read them: RFC 3339 timestamps ("2026-12-31T23:59:59Z",
// "2026-12-31T23:59:59.5+02:00") and relative durations from now ("30m", "12h", "7d", "2w",
// "90s"). Stored as Unix seconds; 0 means "none". Pure functions of their arguments.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "formats/status.h"

namespace shortlink::timefmt {

// RFC 3339 date-time (fractions truncated) or a positive relative duration added to `now`;
// after 1970-01-01T00:00:00Z and at most 9999-12-31T23:59:59Z, so format_time prints it back.
Result<std::int64_t> parse_time(std::string_view text, std::int64_t now);

// A bound of a range of past events (`stats --since/--until`): an RFC 3339 date-time, a date
// YYYY-MM-DD (midnight UTC starting that day, or with `end_of_day` the midnight ending it, so a
// date given as the end of a range includes its day), or a duration back from `now` ("7d": seven
// days ago). Unix seconds, after 1970-01-01T00:00:00Z.
Result<std::int64_t> parse_range_time(std::string_view text, std::int64_t now, bool end_of_day);

// RFC 3339 in UTC with a "Z" suffix; "" for 0.
std::string format_time(std::int64_t unix_seconds);

}  // namespace shortlink::timefmt
