// The validation fuzz target: what users type into the store, and the promises the rest of the
// system builds on what validation accepts (a stored code is reachable by a request, a stored
// host is what a Host header normalizes to, a destination is safe in a Location header and has
// the host a destination block looks at).
#include <array>
#include <string>
#include <string_view>

#include "formats/deny.h"
#include "serve/request_target.h"
#include "serve/response_writer.h"
#include "store/idna.h"
#include "store/timefmt.h"
#include "store/validate.h"
#include "tests/fuzz/fuzz_checks.h"
#include "tests/fuzz/fuzz_targets.h"

namespace shortlink::fuzz {

namespace {

constexpr std::int64_t k_now = 1'800'000'000;

bool printable_ascii(std::string_view s) {
    for (const char c : s) {
        if (c < 0x20 || c >= 0x7f) {
            return false;
        }
    }
    return true;
}

int destination(std::string_view text) {
    auto url = validate::normalize_destination(text);
    if (!url) {
        return 0;
    }
    auto again = validate::normalize_destination(*url);
    if (!again || *again != *url) {
        fail("normalize_destination is not idempotent", *url + " -> " + (again ? *again : again.status().message()));
    }
    if (url->size() > validate::k_max_url_bytes || !serve::is_safe_header_value(*url) || !printable_ascii(*url) ||
        !(url->starts_with("http://") || url->starts_with("https://"))) {
        fail("a destination unfit for a Location header", *url);
    }
    // A destination block looks at this host: a destination it cannot read would escape blocks.
    const std::string_view host = formats::destination_host(*url);
    if (host.empty()) {
        fail("a destination whose host a deny set cannot read", *url);
    }
    if (host.front() != '[' && !validate::normalize_host(host, validate::HostRules::web)) {
        fail("a destination host that is not a valid host", *url);
    }
    return 1;
}

int code(std::string_view text) {
    if (!validate::check_code(text)) {
        return 0;
    }
    // A stored code is reachable: the request for "/<code>" looks up exactly that code.
    serve::ParsedTarget target;
    const std::string path = "/" + std::string(text);
    if (serve::parse_target(path, "x.example", target) != serve::TargetError::none || target.code != text) {
        fail("a valid code that no request reaches", text);
    }
    return 1;
}

int host(std::string_view text) {
    auto normalized = validate::normalize_host(text);
    if (!normalized) {
        return 0;
    }
    auto again = validate::normalize_host(*normalized);
    if (!again || *again != *normalized) {
        fail("normalize_host is not idempotent", *normalized);
    }
    if (*normalized != "*") {
        // A request's Host header with this host finds the domain stored under it.
        std::array<char, serve::k_max_host_bytes> buffer;
        std::string_view served;
        if (!serve::normalize_host(*normalized, buffer, served) || served != *normalized) {
            fail("a stored host that a Host header cannot name", *normalized);
        }
        if (normalized->size() > validate::k_max_host_bytes || !printable_ascii(*normalized)) {
            fail("a stored host that is too long or not ASCII", *normalized);
        }
    }
    return 1;
}

int blocked_host(std::string_view text) {
    auto normalized = validate::normalize_blocked_host(text);
    if (!normalized) {
        return 0;
    }
    auto again = validate::normalize_blocked_host(*normalized);
    if (!again || *again != *normalized) {
        fail("normalize_blocked_host is not idempotent", *normalized);
    }
    // The deny set reads a destination's host the same way.
    const std::string url = "https://" + *normalized + ":8443/x?y#z";
    if (formats::destination_host(url) != *normalized) {
        fail("a blocked host a destination never has", *normalized);
    }
    return 1;
}

int label(std::string_view text) {
    auto points = validate::decode_utf8(text);
    auto ascii = validate::label_to_ascii(text);
    // label_to_ascii refuses what decode_utf8 refuses, and a label to encode that has more code
    // points than a DNS label has bytes; IDNA may refuse more (disallowed code points).
    const bool too_long = points && !printable_ascii(text) && points->size() > 63;
    if (ascii.is_ok() && (!points.is_ok() || too_long)) {
        fail("label_to_ascii took a label decode_utf8 refuses", text);
    }
    if (points) {
        for (const std::uint32_t cp : *points) {
            if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) {
                fail("decode_utf8 let through a code point it refuses", text);
            }
        }
    }
    if (!ascii) {
        return 0;
    }
    if (!printable_ascii(*ascii)) {
        fail("label_to_ascii returned non-ASCII", *ascii);
    }
    if (printable_ascii(text) && *ascii != text) {
        fail("label_to_ascii changed an ASCII label", text);
    }
    return 1;
}

int time_value(std::string_view text) {
    auto t = timefmt::parse_time(text, k_now);
    if (!t) {
        return 0;
    }
    if (*t <= 0) {
        fail("parse_time accepted a time not after 1970", text);
    }
    const std::string shown = timefmt::format_time(*t);
    auto again = timefmt::parse_time(shown, k_now);
    if (!again || *again != *t) {
        fail("format_time does not parse back", shown);
    }
    return 1;
}

int small_values(std::string_view text) {
    const bool tag = validate::check_tag(text).is_ok();
    auto type = validate::parse_redirect_type(text);
    if (type && *type != 301 && *type != 302 && *type != 307 && *type != 308) {
        fail("parse_redirect_type returned another status", text);
    }
    const bool reason = validate::check_block_reason(text).is_ok();
    const std::string shown = validate::printable(text, 16);
    if (!printable_ascii(shown) || shown.size() > 4 * 16 + 3) {
        fail("printable returned something unprintable", shown);
    }
    return tag || type.is_ok() || reason ? 1 : 0;
}

}  // namespace

int fuzz_validate_one(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % 7) {
    case 0: return destination(text);
    case 1: return code(text);
    case 2: return host(text);
    case 3: return blocked_host(text);
    case 4: return label(text);
    case 5: return time_value(text);
    default: return small_values(text);
    }
}

}  // namespace shortlink::fuzz
