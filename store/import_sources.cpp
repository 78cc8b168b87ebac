// The formats an import reads. See import_sources.h.
//
// Each table is written from the source's own documentation of its export (the samples in
// tests/import_samples/ say which); a name is matched regardless of case, and a JSON key inside
// an object is matched as "outer.inner" (Shlink's meta.validSince).
#include "store/import_sources.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "store/timefmt.h"
#include "store/validate.h"

namespace shortlink::store::import_sources {
namespace {

using F = ImportField;

constexpr std::string_view k_no_visits = "visit counts stay with the old shortener (shortlink counts its own)";

// shortlink's own CSV: the columns `export --format csv` writes.
constexpr std::array k_csv = {
    ColumnRule{"domain", F::domain, ""},   ColumnRule{"code", F::code, ""},
    ColumnRule{"url", F::url, ""},         ColumnRule{"type", F::type, ""},
    ColumnRule{"expires", F::expires, ""}, ColumnRule{"not_before", F::not_before, ""},
    ColumnRule{"tags", F::tags, ""},       ColumnRule{"status", F::status, ""},
    ColumnRule{"forward_query", F::forward_query, ""}, ColumnRule{"title", F::title, ""},
};

// shortlink's JSON Lines: the same keys, and the read-only ones `export --format json` adds.
constexpr std::array k_json = {
    ColumnRule{"domain", F::domain, ""},   ColumnRule{"code", F::code, ""},
    ColumnRule{"url", F::url, ""},         ColumnRule{"type", F::type, ""},
    ColumnRule{"expires", F::expires, ""}, ColumnRule{"not_before", F::not_before, ""},
    ColumnRule{"tags", F::tags, ""},       ColumnRule{"status", F::status, ""},
    ColumnRule{"forward_query", F::forward_query, ""}, ColumnRule{"title", F::title, ""},
    ColumnRule{"rules", F::rules, ""},
    ColumnRule{"expired_url", F::expired_url, ""}, ColumnRule{"reserved", F::reserved, ""},
    // A password link's hash; "password" says whether there is one, which the hash decides.
    ColumnRule{"password_hash", F::password_hash, ""}, ColumnRule{"password", std::nullopt, ""},
    ColumnRule{"version", std::nullopt, ""},    ColumnRule{"created_at", std::nullopt, ""},
    ColumnRule{"updated_at", std::nullopt, ""}, ColumnRule{"short_url", std::nullopt, ""},
    ColumnRule{"state", std::nullopt, ""},      ColumnRule{"effective_type", std::nullopt, ""},
    ColumnRule{"effective_forward_query", std::nullopt, ""},
};

// Bitly: the Bitlink object of its v4 API (GET /v4/groups/{group}/bitlinks, {"links":[...]})
// and the CSV of the same fields.
constexpr std::array k_bitly = {
    ColumnRule{"link", F::short_url, ""},
    ColumnRule{"long_url", F::url, ""},
    ColumnRule{"created_at", F::created_at, ""},
    ColumnRule{"tags", F::tags, ""},
    ColumnRule{"title", F::title, ""},
    ColumnRule{"id", std::nullopt, ""},  // "bit.ly/abc": the link without its scheme
    ColumnRule{"archived", std::nullopt, "an archived Bitlink still redirects; imported as active"},
    ColumnRule{"custom_bitlinks", std::nullopt,
               "each custom back-half is a short URL of its own: import them as rows of their own"},
    ColumnRule{"deeplinks", std::nullopt, "a link has one destination for every device"},
    ColumnRule{"created_by", std::nullopt, "a link records no creator"},
    ColumnRule{"client_id", std::nullopt, ""},
    ColumnRule{"group_guid", std::nullopt, ""},
    ColumnRule{"campaign_ids", std::nullopt, "a link has no campaigns (tags may stand in)"},
    ColumnRule{"launchpad_ids", std::nullopt, ""},
    ColumnRule{"is_deleted", std::nullopt, ""},
    ColumnRule{"references", std::nullopt, ""},
    ColumnRule{"clicks", std::nullopt, k_no_visits},
    ColumnRule{"total_clicks", std::nullopt, k_no_visits},
};
constexpr std::array<std::string_view, 1> k_bitly_envelope = {"links"};

// YOURLS: the columns of its yourls_url table, as its export plugins write them.
constexpr std::array k_yourls = {
    ColumnRule{"keyword", F::code, ""},
    ColumnRule{"url", F::url, ""},
    ColumnRule{"timestamp", F::created_at, ""},
    ColumnRule{"title", F::title, ""},
    ColumnRule{"ip", std::nullopt, "a link records no creator's address"},
    ColumnRule{"clicks", std::nullopt, k_no_visits},
};

// Shlink: the shortUrl object of its REST API ({"shortUrls":{"data":[...]}}) and the CSV its
// web client exports (createdAt, domain, shortCode, shortUrl, longUrl, title, tags, visits).
constexpr std::array k_shlink = {
    ColumnRule{"shortCode", F::code, ""},
    ColumnRule{"longUrl", F::url, ""},
    ColumnRule{"domain", F::domain, ""},
    ColumnRule{"shortUrl", F::short_url, ""},
    ColumnRule{"tags", F::tags, ""},
    ColumnRule{"dateCreated", F::created_at, ""},
    ColumnRule{"createdAt", F::created_at, ""},
    ColumnRule{"meta.validSince", F::not_before, ""},
    ColumnRule{"meta.validUntil", F::expires, ""},
    ColumnRule{"validSince", F::not_before, ""},
    ColumnRule{"validUntil", F::expires, ""},
    ColumnRule{"forwardQuery", F::forward_query, ""},
    ColumnRule{"title", F::title, ""},
    ColumnRule{"meta.maxVisits", std::nullopt, "a link has no visit limit"},
    ColumnRule{"maxVisits", std::nullopt, "a link has no visit limit"},
    ColumnRule{"crawlable", std::nullopt, "crawling is not set per link"},
    ColumnRule{"deviceLongUrls", std::nullopt, "a link has one destination for every device"},
    ColumnRule{"hasRedirectRules", std::nullopt, "Shlink's redirect rules are not in its export"},
    ColumnRule{"visitsCount", std::nullopt, k_no_visits},
    ColumnRule{"visitsSummary", std::nullopt, k_no_visits},
    ColumnRule{"visits", std::nullopt, k_no_visits},
    ColumnRule{"qrShortUrl", std::nullopt, ""},
    ColumnRule{"defaultLongUrl", std::nullopt, ""},
};
constexpr std::array<std::string_view, 2> k_shlink_envelope = {"shortUrls", "data"};

// Kutt: the link object of its v2 API (GET /api/v2/links, {"data":[...]}), or a CSV of it.
constexpr std::array k_kutt = {
    ColumnRule{"address", F::code, ""},
    ColumnRule{"target", F::url, ""},
    ColumnRule{"domain", F::domain, ""},
    ColumnRule{"link", F::short_url, ""},
    ColumnRule{"expire_in", F::expires, ""},
    ColumnRule{"created_at", F::created_at, ""},
    ColumnRule{"password", F::password, ""},
    ColumnRule{"banned", F::banned, ""},
    ColumnRule{"id", std::nullopt, ""},
    ColumnRule{"updated_at", std::nullopt, ""},
    ColumnRule{"description", std::nullopt, "a link has no description"},
    ColumnRule{"visit_count", std::nullopt, k_no_visits},
};
constexpr std::array<std::string_view, 1> k_kutt_envelope = {"data"};

// Cloudflare Bulk Redirects: the list-item CSV of its dashboard (no header row, fields by
// position) or with the API's names as a header, and the API's list items
// ({"result":[{"redirect":{...}}]}).
constexpr std::array k_cloudflare = {
    ColumnRule{"source_url", F::short_url, ""},
    ColumnRule{"target_url", F::url, ""},
    ColumnRule{"status_code", F::type, ""},
    ColumnRule{"preserve_query_string", F::forward_query, ""},
    ColumnRule{"include_subdomains", F::include_subdomains, ""},
    ColumnRule{"subpath_matching", F::subpath_matching, ""},
    ColumnRule{"preserve_path_suffix", F::preserve_path_suffix, ""},
    ColumnRule{"redirect.source_url", F::short_url, ""},
    ColumnRule{"redirect.target_url", F::url, ""},
    ColumnRule{"redirect.status_code", F::type, ""},
    ColumnRule{"redirect.preserve_query_string", F::forward_query, ""},
    ColumnRule{"redirect.include_subdomains", F::include_subdomains, ""},
    ColumnRule{"redirect.subpath_matching", F::subpath_matching, ""},
    ColumnRule{"redirect.preserve_path_suffix", F::preserve_path_suffix, ""},
    ColumnRule{"created_on", F::created_at, ""},
    ColumnRule{"id", std::nullopt, ""},
    ColumnRule{"modified_on", std::nullopt, ""},
    ColumnRule{"comment", std::nullopt, "a link has no comment"},
};
constexpr std::array<std::string_view, 7> k_cloudflare_positional = {
    "source_url", "target_url", "status_code", "preserve_query_string", "include_subdomains", "subpath_matching",
    "preserve_path_suffix"};
// Cloudflare's own defaults: a 301 that drops the visitor's query string.
constexpr std::array k_cloudflare_defaults = {FieldDefault{F::type, "301"}, FieldDefault{F::forward_query, "false"}};
constexpr std::array<std::string_view, 1> k_cloudflare_envelope = {"result"};

const SourceProfile k_profiles[] = {
    {ImportFormat::csv, k_csv, {}, {}, {}, false},
    {ImportFormat::json_lines, k_json, {}, {}, {}, false},
    {ImportFormat::bitly, k_bitly, {}, {}, k_bitly_envelope, true},
    {ImportFormat::yourls, k_yourls, {}, {}, {}, true},
    {ImportFormat::shlink, k_shlink, {}, {}, k_shlink_envelope, true},
    {ImportFormat::kutt, k_kutt, {}, {}, k_kutt_envelope, true},
    {ImportFormat::cloudflare, k_cloudflare, k_cloudflare_positional, k_cloudflare_defaults, k_cloudflare_envelope,
     true},
};

bool equal_nocase(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// 9999-12-31T23:59:59Z, the last time timefmt::format_time() prints.
constexpr std::int64_t k_last_time = 253'402'300'799;

Status bad_time(std::string_view text) {
    return Status::invalid_argument("time '" + validate::printable(text) +
                                    "' is not a time (expected ISO 8601 like 2024-01-02T03:04:05Z, "
                                    "2024-01-02 03:04:05, or Unix seconds)");
}

}  // namespace

const SourceProfile& profile(ImportFormat format) {
    for (const SourceProfile& p : k_profiles) {
        if (p.format == format) {
            return p;
        }
    }
    return k_profiles[0];
}

const ColumnRule* find_rule(const SourceProfile& profile, std::string_view name) {
    for (const ColumnRule& rule : profile.columns) {
        if (equal_nocase(rule.name, name)) {
            return &rule;
        }
    }
    return nullptr;
}

std::string names_of(const SourceProfile& profile, ImportField field) {
    std::string out;
    for (const ColumnRule& rule : profile.columns) {
        if (rule.field == field && rule.name.find('.') == std::string_view::npos) {
            out += out.empty() ? "" : " or ";
            out += rule.name;
        }
    }
    return out;
}

Result<std::int64_t> parse_time(std::string_view text) {
    if (text.empty() || text == "0" || text.starts_with("0000-00-00")) {
        return std::int64_t{0};
    }
    if (all_digits(text)) {
        if (text.size() > 16) {
            return bad_time(text);
        }
        std::int64_t n = std::stoll(std::string(text));
        n = text.size() >= 13 ? n / 1000 : n;  // 13 digits: milliseconds (after 2001-09-09)
        if (n > k_last_time) {
            return bad_time(text);
        }
        return n;
    }
    // YYYY-MM-DD, then an optional time, then an optional offset: rewritten to RFC 3339.
    if (text.size() < 10 || !all_digits(text.substr(0, 4)) || text[4] != '-') {
        return bad_time(text);
    }
    std::string iso(text);
    if (iso.size() == 10) {
        iso += "T00:00:00Z";
    } else if (iso[10] == ' ' || iso[10] == 't') {
        iso[10] = 'T';
    }
    // The offset: Z, +hh:mm, +hhmm, +hh, or none (UTC).
    std::size_t zone = iso.find_first_of("Zz+-", 19);
    if (zone == std::string::npos) {
        iso += 'Z';
    } else if (iso[zone] != 'Z' && iso[zone] != 'z') {
        std::string offset = iso.substr(zone + 1);
        if (offset.size() == 4 && all_digits(offset)) {
            iso.insert(zone + 3, ":");
        } else if (offset.size() == 2 && all_digits(offset)) {
            iso += ":00";
        }
    }
    auto when = timefmt::parse_time(iso, 0);
    if (!when) {
        return bad_time(text);
    }
    return *when;
}

Result<ShortUrl> split_short_url(std::string_view text) {
    std::string_view rest = text;
    if (std::size_t scheme = rest.find("://"); scheme != std::string_view::npos) {
        std::string_view name = rest.substr(0, scheme);
        if (!equal_nocase(name, "http") && !equal_nocase(name, "https")) {
            return Status::invalid_argument("short URL '" + validate::printable(text) + "' is not http or https");
        }
        rest.remove_prefix(scheme + 3);
    }
    std::size_t slash = rest.find('/');
    if (slash == std::string_view::npos || slash + 1 == rest.size()) {
        return Status::invalid_argument("short URL '" + validate::printable(text) +
                                        "' has no path: a link needs a code after the host");
    }
    if (rest.find_first_of("?#") != std::string_view::npos) {
        return Status::invalid_argument("short URL '" + validate::printable(text) +
                                        "' has a query or fragment: a link matches a path only");
    }
    auto host = validate::normalize_host(rest.substr(0, slash));
    if (!host) {
        return host.status();
    }
    return ShortUrl{std::move(host).value(), std::string(rest.substr(slash + 1))};
}

std::string_view host_of(std::string_view text) {
    if (std::size_t scheme = text.find("://"); scheme != std::string_view::npos) {
        text.remove_prefix(scheme + 3);
        text = text.substr(0, text.find('/'));
    }
    return text;
}

std::string clean_tag(std::string_view tag) {
    std::string out;
    bool gap = false;
    for (char c : tag) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                  c == '_' || c == '.' || c == ':';
        if (!ok) {
            gap = true;
            continue;
        }
        if (gap && !out.empty()) {
            out += '-';
        }
        gap = false;
        out += c;
    }
    if (out.size() > validate::k_max_tag_bytes) {
        out.resize(validate::k_max_tag_bytes);
    }
    return out;
}

std::optional<bool> parse_bool(std::string_view text) {
    if (equal_nocase(text, "true") || text == "1" || equal_nocase(text, "yes")) {
        return true;
    }
    if (equal_nocase(text, "false") || text == "0" || equal_nocase(text, "no")) {
        return false;
    }
    return std::nullopt;
}

}  // namespace shortlink::store::import_sources

namespace shortlink::store {

namespace {
constexpr std::array<std::pair<std::string_view, ImportFormat>, 8> k_format_names = {{
    {"csv", ImportFormat::csv},
    {"jsonl", ImportFormat::json_lines},
    {"json", ImportFormat::json_lines},
    {"bitly", ImportFormat::bitly},
    {"yourls", ImportFormat::yourls},
    {"shlink", ImportFormat::shlink},
    {"kutt", ImportFormat::kutt},
    {"cloudflare", ImportFormat::cloudflare},
}};
// The fields --map may name, in the order of ImportField.
constexpr std::array<std::string_view, 13> k_field_names = {
    "domain", "code", "url", "type", "expires", "not_before", "tags", "status", "forward_query", "short_url",
    "created_at", "title", "-"};
}  // namespace

Result<ImportFormat> parse_import_format(std::string_view name) {
    for (auto [known, format] : k_format_names) {
        if (name == known) {
            return format;
        }
    }
    return Status::invalid_argument("unknown format '" + validate::printable(name) +
                                    "' (known: csv, jsonl, bitly, yourls, shlink, kutt, cloudflare)");
}

std::string_view import_format_name(ImportFormat format) {
    for (auto [known, f] : k_format_names) {
        if (f == format) {
            return known;
        }
    }
    return "csv";
}

Result<ImportField> parse_import_field(std::string_view name) {
    for (std::size_t i = 0; i < k_field_names.size(); ++i) {
        if (name == k_field_names[i]) {
            return static_cast<ImportField>(i);
        }
    }
    return Status::invalid_argument("unknown field '" + validate::printable(name) +
                                    "' (fields: domain, code, url, type, expires, not_before, tags, status, "
                                    "forward_query, short_url, created_at, title, or - to ignore the column)");
}

std::string_view import_field_name(ImportField field) {
    switch (field) {
        case ImportField::include_subdomains:
            return "include_subdomains";
        case ImportField::subpath_matching:
            return "subpath_matching";
        case ImportField::preserve_path_suffix:
            return "preserve_path_suffix";
        case ImportField::password:
            return "password";
        case ImportField::banned:
            return "banned";
        case ImportField::rules:
            return "rules";
        case ImportField::expired_url:
            return "expired_url";
        case ImportField::reserved:
            return "reserved";
        case ImportField::password_hash:
            return "password_hash";
        default:
            return k_field_names[static_cast<std::size_t>(field)];
    }
}

}  // namespace shortlink::store
