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
};

const Pattern& pattern_of(format::FileKind kind) {
    for (const Pattern& p : k_patterns) {
        if (p.kind == kind) {
            return p;
        }
    }
    return k_patterns[0];
}

}  // namespace

std::string published_file_name(format::FileKind kind, std::uint64_t serial) {
    const Pattern& p = pattern_of(kind);
    return std::string(p.prefix) + std::to_string(serial) + std::string(p.suffix);
}

std::optional<PublishedName> parse_published_name(std::string_view name) {
    for (const Pattern& p : k_patterns) {
        if (name.size() <= p.prefix.size() + p.suffix.size() || !name.starts_with(p.prefix) ||
            !name.ends_with(p.suffix)) {
            continue;
        }
        const std::string_view digits =
            name.substr(p.prefix.size(), name.size() - p.prefix.size() - p.suffix.size());
        std::uint64_t serial = 0;
        const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), serial);
        if (ec != std::errc() || ptr != digits.data() + digits.size() ||
            published_file_name(p.kind, serial) != name) {
            return std::nullopt;
        }
        return PublishedName{p.kind, serial};
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
