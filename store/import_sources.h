// What an import knows of each format it reads: the column (or JSON key) names and the field
// each feeds, what a column with no place in a link is dropped for, and the value forms other
// shorteners write (their times, short URLs, tags, booleans). Tables and pure functions; the
// reader is import_rows.cpp, the user's view man/shortlink-import.1 and docs/moving-in.md.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "formats/status.h"
#include "store/import_rows.h"

namespace shortlink::store::import_sources {

// One name a format uses. A dropped column (no field) says why once, when it first holds a
// value; with an empty `why` it is dropped without a word (an id, a copy of another column).
struct ColumnRule {
    std::string_view name;
    std::optional<ImportField> field;
    std::string_view why;
};

// A field's value when its column is absent or empty (Cloudflare's status code 301).
struct FieldDefault {
    ImportField field;
    std::string_view value;
};

struct SourceProfile {
    ImportFormat format;
    std::span<const ColumnRule> columns;
    // Names of a CSV file's columns by position when its first record is not a header (the
    // first name is what tells a header row); empty: a header row is required.
    std::span<const std::string_view> positional;
    std::span<const FieldDefault> defaults;
    // A JSON document's list of links: the keys leading to the array ({"shortUrls":{"data":[...]}}).
    std::span<const std::string_view> envelope;
    // Another shortener: times, tags and booleans in their forms (parse_time(), split_tags()).
    bool foreign = true;
};

const SourceProfile& profile(ImportFormat format);

// The rule for `name` (matched regardless of case) in `profile`, or nullptr.
const ColumnRule* find_rule(const SourceProfile& profile, std::string_view name);

// The names a profile uses for `field`, for messages ("long_url").
std::string names_of(const SourceProfile& profile, ImportField field);

// A time as other shorteners write it: RFC 3339 or ISO 8601 ("2024-01-02T03:04:05+0000",
// "2024-01-02T03:04:05.123Z", without an offset: UTC), "2024-01-02 03:04:05" (YOURLS, UTC), a
// date, or Unix seconds (or milliseconds, 13 digits and more). Empty, zero or MySQL's zero date
// "0000-00-00 00:00:00": 0, no time.
Result<std::int64_t> parse_time(std::string_view text);

// A short URL's domain (normalized) and code: "https://bit.ly/abc", "go.example/docs/a".
struct ShortUrl {
    std::string host;
    std::string code;
};
Result<ShortUrl> split_short_url(std::string_view text);

// A domain column that holds a URL ("https://go.example") gives its host.
std::string_view host_of(std::string_view text);

// A foreign tag reduced to what tags allow: each run of other characters becomes one '-', with
// none at either end ("Spring Sale!" -> "Spring-Sale"), cut to the longest tag.
std::string clean_tag(std::string_view tag);

// true/false (any case), 1/0, yes/no; nullopt for anything else, the empty string included.
std::optional<bool> parse_bool(std::string_view text);

}  // namespace shortlink::store::import_sources
