#include "formats/file_names.h"

#include <charconv>

namespace shortlink::formats {

namespace {

struct Pattern {
    format::FileKind kind;
    std::string_view prefix;
    std::string_view suffix;
};

constexpr Pattern k_patterns[] = {
    {format::FileKind::snapshot, "links-", ".slsnap"},
    {format::FileKind::deny, "deny-", ".sldeny"},
    {format::FileKind::patch, "patch-", ".slpatch"},
};

const Pattern& pattern_of(format::FileKind kind) {
    for (const Pattern& p : k_patterns) {
        if (p.kind == kind) {
            return p;
        }
    }
    return k_patterns[0];
}

bool parse_serial(std::string_view digits, std::uint64_t& out) {
    const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out);
    return ec == std::errc() && ptr == digits.data() + digits.size();
}

}  // namespace

std::string published_file_name(format::FileKind kind, std::uint64_t serial, std::uint64_t base) {
    const Pattern& p = pattern_of(kind);
    const std::string base_part = kind == format::FileKind::patch ? std::to_string(base) + "-" : "";
    return std::string(p.prefix) + base_part + std::to_string(serial) + std::string(p.suffix);
}

std::optional<PublishedName> parse_published_name(std::string_view name) {
    for (const Pattern& p : k_patterns) {
        if (name.size() <= p.prefix.size() + p.suffix.size() || !name.starts_with(p.prefix) ||
            !name.ends_with(p.suffix)) {
            continue;
        }
        std::string_view digits =
            name.substr(p.prefix.size(), name.size() - p.prefix.size() - p.suffix.size());
        PublishedName out{p.kind, 0, 0};
        if (p.kind == format::FileKind::patch) {
            const std::size_t dash = digits.find('-');
            if (dash == std::string_view::npos || !parse_serial(digits.substr(0, dash), out.base)) {
                return std::nullopt;
            }
            digits = digits.substr(dash + 1);
        }
        if (!parse_serial(digits, out.serial) ||
            published_file_name(p.kind, out.serial, out.base) != name) {
            return std::nullopt;
        }
        return out;
    }
    return std::nullopt;
}

std::optional<format::FileKind> kind_of_suffix(std::string_view name) {
    for (const Pattern& p : k_patterns) {
        if (name.size() > p.suffix.size() && name.ends_with(p.suffix)) {
            return p.kind;
        }
    }
    return std::nullopt;
}

}  // namespace shortlink::formats
