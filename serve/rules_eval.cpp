#include "serve/rules_eval.h"

#include "formats/hash.h"
#include "serve/client_address.h"

namespace shortlink::serve {

namespace {

using formats::RuleKind;
using formats::clicks::Device;
using formats::clicks::Os;

// Bits of formats::k_device_classes.
enum DeviceBit : std::uint16_t {
    k_ios = 1u << 0,
    k_android = 1u << 1,
    k_ipados = 1u << 2,
    k_mobile = 1u << 3,
    k_tablet = 1u << 4,
    k_desktop = 1u << 5,
    k_windows = 1u << 6,
    k_macos = 1u << 7,
    k_linux = 1u << 8,
    k_chromeos = 1u << 9,
};

// Seed of the split hash ("slsplit1"); changing it moves every visitor to another share.
constexpr std::uint64_t k_split_seed = 0x736c73706c697431ULL;

bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
}
char upper(char c) {
    return c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c;
}

// A q-value (RFC 9110 12.4.2: "0" ["." 0*3DIGIT] or "1" ["." 0*3("0")]) in thousandths; -1
// when malformed.
int parse_qvalue(std::string_view v) {
    if (v.empty() || (v[0] != '0' && v[0] != '1')) {
        return -1;
    }
    int q = (v[0] - '0') * 1000;
    if (v.size() == 1) {
        return q;
    }
    if (v[1] != '.' || v.size() > 5) {
        return -1;
    }
    int scale = 100;
    for (std::size_t i = 2; i < v.size(); ++i) {
        if (!is_digit(v[i]) || (q == 1000 && v[i] != '0')) {
            return -1;
        }
        q += (v[i] - '0') * scale;
        scale /= 10;
    }
    return q;
}

// The tag of a language range, when it is one: a primary subtag of 2 to 8 letters, then
// subtags of 1 to 8 letters or digits; the region is the first 2-letter or 3-digit subtag
// after the language and an optional 4-letter script.
bool parse_tag(std::string_view range, LanguageTag& tag) {
    std::size_t i = 0;
    int position = 0;  // 0: language, 1: script or region, 2: region (after a script)
    bool region_done = false;
    while (i <= range.size()) {
        std::size_t end = range.find('-', i);
        if (end == std::string_view::npos) {
            end = range.size();
        }
        const std::string_view sub = range.substr(i, end - i);
        if (sub.empty() || sub.size() > 8) {
            return false;
        }
        bool letters = true;
        bool digits = true;
        for (char c : sub) {
            letters = letters && is_alpha(c);
            digits = digits && is_digit(c);
            if (!is_alpha(c) && !is_digit(c)) {
                return false;
            }
        }
        if (position == 0) {
            if (!letters || sub.size() < 2) {
                return false;
            }
            for (char c : sub) {
                tag.language[tag.language_size++] = lower(c);
            }
            position = 1;
        } else if (!region_done && position <= 2) {
            if ((letters && sub.size() == 2) || (digits && sub.size() == 3)) {
                for (char c : sub) {
                    tag.region[tag.region_size++] = upper(c);
                }
                region_done = true;
            } else if (position == 1 && letters && sub.size() == 4) {
                position = 2;
            } else {
                region_done = true;  // a variant or extension: no region
            }
        }
        i = end + 1;
    }
    return true;
}

}  // namespace

std::uint16_t device_classes(const ClientClass& client) {
    std::uint16_t mask = 0;
    switch (client.os) {
        case Os::ios:
            mask |= k_ios;
            break;
        case Os::android:
            mask |= k_android;
            break;
        case Os::ipados:
            mask |= k_ipados;
            break;
        case Os::windows:
            mask |= k_windows;
            break;
        case Os::macos:
            mask |= k_macos;
            break;
        case Os::linux:
            mask |= k_linux;
            break;
        case Os::chromeos:
            mask |= k_chromeos;
            break;
        case Os::unknown:
        case Os::other:
            break;
    }
    switch (client.device) {
        case Device::mobile:
            mask |= k_mobile;
            break;
        case Device::tablet:
            mask |= k_tablet;
            break;
        case Device::desktop:
            mask |= k_desktop;
            break;
        case Device::unknown:
        case Device::tv:
        case Device::console:
        case Device::bot:
            break;
    }
    return mask;
}

LanguageTag preferred_language(std::string_view accept_language) {
    LanguageTag best;
    int best_q = 0;
    std::size_t start = 0;
    while (start <= accept_language.size()) {
        std::size_t end = accept_language.find(',', start);
        if (end == std::string_view::npos) {
            end = accept_language.size();
        }
        std::string_view entry = accept_language.substr(start, end - start);
        start = end + 1;
        // range *(OWS ";" OWS parameter); only q counts.
        const std::size_t semi = entry.find(';');
        const std::string_view range = trim_ows(entry.substr(0, semi));
        int q = 1000;
        bool valid = true;
        if (semi != std::string_view::npos) {
            std::string_view params = entry.substr(semi + 1);
            while (valid) {
                const std::size_t next = params.find(';');
                const std::string_view param = trim_ows(params.substr(0, next));
                if (param.size() >= 2 && lower(param[0]) == 'q' && param[1] == '=') {
                    q = parse_qvalue(param.substr(2));
                    valid = q >= 0;
                } else if (!param.empty()) {
                    valid = false;  // Accept-Language has no other parameter
                }
                if (next == std::string_view::npos) {
                    break;
                }
                params.remove_prefix(next + 1);
            }
        }
        if (!valid || q <= best_q || range.empty() || range == "*") {
            continue;
        }
        LanguageTag tag;
        if (parse_tag(range, tag)) {
            best = tag;
            best_q = q;
        }
    }
    return best;
}

bool language_matches(const LanguageTag& tag, std::string_view value) {
    const std::size_t dash = value.find('-');
    if (tag.language_size == 0 || !equal_ignoring_case(tag.lang(), value.substr(0, dash))) {
        return false;
    }
    return dash == std::string_view::npos || equal_ignoring_case(tag.reg(), value.substr(dash + 1));
}

bool country_matches(std::string_view header, std::string_view code) {
    return equal_ignoring_case(trim_ows(header), code);
}

bool address_in(const std::array<std::uint8_t, 16>& address, const std::uint8_t* network) {
    return in_prefix(address, network, network[16]);
}

bool query_has(std::string_view query, std::string_view name, bool has_value,
               std::string_view value) {
    std::size_t start = 0;
    while (start < query.size()) {
        std::size_t end = query.find('&', start);
        if (end == std::string_view::npos) {
            end = query.size();
        }
        const std::string_view param = query.substr(start, end - start);
        start = end + 1;
        const std::size_t eq = param.find('=');
        if (param.substr(0, eq) != name) {
            continue;
        }
        if (!has_value) {
            return true;
        }
        const std::string_view v =
            eq == std::string_view::npos ? std::string_view{} : param.substr(eq + 1);
        if (v == value) {
            return true;
        }
    }
    return false;
}

std::uint8_t split_share(const ClientInput& client, std::string_view domain,
                         std::string_view code) {
    std::uint64_t h = k_split_seed;
    if (client.has_address) {
        h = formats::hash128(client.address.data(), client.address.size(), h).lo;
    }
    h = formats::hash128(client.user_agent, h).lo;
    h = formats::hash128(domain, h).lo;
    h = formats::hash128(code, h).lo;
    // The high 64 bits of h x 100: an even map of 2^64 onto 0..99.
    std::uint64_t lo = 0;
    std::uint64_t hi = 0;
    formats::hash_detail::mul128(h, 100, lo, hi);
    return static_cast<std::uint8_t>(hi);
}

RuleOutcome evaluate_rules(const formats::RuleListView& list, const RuleContext& context) {
    RuleOutcome outcome;
    const ClientInput& client = *context.client;
    // Facts about the visitor, derived on first use.
    bool have_device = false;
    std::uint16_t device = 0;
    bool have_language = false;
    LanguageTag language;
    bool have_share = context.share >= 0;
    std::uint8_t share = have_share ? static_cast<std::uint8_t>(context.share) : 0;
    bool have_country = false;
    std::array<char, 2> looked_up{};
    std::string_view country = client.country;

    const auto holds = [&](const formats::RuleConditionView& c) {
        switch (c.kind) {
            case RuleKind::device:
                if (!have_device) {
                    device = device_classes(
                        classify_client(client.user_agent, client.ch_mobile, client.ch_platform));
                    have_device = true;
                }
                return (device & c.device_mask()) != 0;
            case RuleKind::lang:
                if (!have_language) {
                    language = preferred_language(client.accept_language);
                    have_language = true;
                }
                for (std::size_t i = 0; i < c.count; ++i) {
                    if (language_matches(language, c.value(i))) {
                        return true;
                    }
                }
                return false;
            case RuleKind::country:
                if (!have_country) {
                    if (country.empty() && client.country_source != nullptr && client.has_address &&
                        client.country_source->country_of(client.address, looked_up)) {
                        country = std::string_view(looked_up.data(), looked_up.size());
                    }
                    have_country = true;
                }
                for (std::size_t i = 0; i < c.count && !country.empty(); ++i) {
                    if (country_matches(country, c.value(i))) {
                        return true;
                    }
                }
                return false;
            case RuleKind::ip:
                for (std::size_t i = 0; i < c.count && client.has_address; ++i) {
                    if (address_in(client.address, c.network(i))) {
                        return true;
                    }
                }
                return false;
            case RuleKind::query:
                return query_has(context.query, c.query_name(), c.has_query_value(),
                                 c.query_value());
            case RuleKind::after:
                return context.now >= c.time();
            case RuleKind::before:
                return context.now < c.time();
            case RuleKind::split:
                if (!have_share) {
                    share = split_share(client, context.domain, context.code);
                    have_share = true;
                }
                return share >= c.split_from() && share < c.split_to();
        }
        return false;
    };
    const bool timed = (list.kinds() & ((1u << static_cast<unsigned>(RuleKind::after)) |
                                        (1u << static_cast<unsigned>(RuleKind::before)))) != 0;
    list.for_each([&](std::size_t index, const formats::RuleView& rule) {
        if (timed) {
            // This rule's time conditions may flip it, whichever of them is tested.
            rule.all_conditions([&](const formats::RuleConditionView& c) {
                if ((c.kind == RuleKind::after || c.kind == RuleKind::before) &&
                    c.time() > context.now &&
                    (outcome.changes_at == 0 || c.time() < outcome.changes_at)) {
                    outcome.changes_at = c.time();
                }
                return true;
            });
        }
        if (!rule.all_conditions(holds)) {
            return true;
        }
        outcome.matched = true;
        outcome.index = static_cast<std::uint8_t>(index);
        outcome.redirect_type = rule.redirect_type;
        outcome.destination = rule.destination;
        return false;
    });
    return outcome;
}

}  // namespace shortlink::serve
