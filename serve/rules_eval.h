// Evaluation of a link's compiled redirect rules (formats/rules.h, SPEC.md "Section 5: rules")
// against one request: which rule answers, and what the answer depends on.
//
// A list is read in place from the mapping; what the request contributes is views into its own
// header bytes (ClientInput) and the client's address. Each fact about the visitor (device
// classes, preferred language, split share) is derived at most once per evaluation and only if
// a condition asks for it, in a single pass over the header with no allocation. The device
// classes come from the click classifier (serve/client_class.h), so a rule and the analytics
// never disagree about what a visitor is.
//
// Thread-safety: pure functions; call from any number of threads at once.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "formats/rules.h"
#include "serve/client_class.h"

namespace shortlink::serve {

// Where a country comes from when the request has no trusted country header: the server's
// GeoIP database (serve/geoip.h).
class CountrySource {
public:
    virtual ~CountrySource() = default;
    // The ISO 3166-1 alpha-2 code (uppercase) of the country of `address` (16 bytes, IPv4 as
    // ::ffff:a.b.c.d); false when unknown.
    virtual bool country_of(const std::array<std::uint8_t, 16>& address, std::array<char, 2>& code) const = 0;
};

// What a rule may read of a request besides its target. Views into the request bytes.
struct ClientInput {
    std::string_view user_agent;       // User-Agent; empty when absent
    std::string_view accept_language;  // Accept-Language
    std::string_view ch_mobile;        // Sec-CH-UA-Mobile
    std::string_view ch_platform;      // Sec-CH-UA-Platform
    std::string_view country;  // the value of the trusted country header (serve --country-header)
    bool has_address = false;  // the client's address is known
    // The client's address (serve/client_address.h: the peer, or what a trusted proxy forwarded)
    // as 16 IPv6 bytes, an IPv4 one as ::ffff:a.b.c.d (the form ip conditions are compiled to).
    std::array<std::uint8_t, 16> address{};
    // Asked for the country of `address` when a country condition is evaluated and `country` is
    // empty (the trusted header wins: the proxy that set it saw the client); null: no database.
    const CountrySource* country_source = nullptr;
};

// The device classes of formats::k_device_classes (bit i: class i) a client belongs to: its
// operating system (ios, android, ipados, windows, macos, linux, chromeos) and its form factor
// (mobile, tablet, desktop). A robot keeps the operating system its User-Agent claims but has
// no form factor; so do TVs and consoles. A client nothing is known about has no class.
std::uint16_t device_classes(const ClientClass& client);

// A language tag as a condition compares it: the primary language subtag and the region
// subtag (2 letters or 3 digits; a script subtag before it is skipped: zh-Hant-TW has region
// TW), lowercase and uppercase. Empty language: none.
struct LanguageTag {
    std::array<char, 8> language{};
    std::uint8_t language_size = 0;
    std::array<char, 3> region{};
    std::uint8_t region_size = 0;

    std::string_view lang() const { return {language.data(), language_size}; }
    std::string_view reg() const { return {region.data(), region_size}; }
};

// The visitor's preferred language from an Accept-Language value (RFC 9110 12.5.4): the range
// with the highest q-value, the first of equal ones. "*", q=0, ranges that are not language
// tags and entries with a malformed q-value or another parameter than q are passed over (empty
// parameters are ignored); empty when none is left.
LanguageTag preferred_language(std::string_view accept_language);

// Whether a lang condition's value ("fr", "en-US", "es-419") holds for `tag`: the languages are
// equal and, when the value names a region, so are the regions (case-insensitive).
bool language_matches(const LanguageTag& tag, std::string_view value);

// Whether a country header value (surrounding spaces ignored, any case) is the condition's
// 2-letter code.
bool country_matches(std::string_view header, std::string_view code);

// Whether `address` (16 bytes) lies in `network` (16 bytes and a prefix length 0..128).
bool address_in(const std::array<std::uint8_t, 16>& address, const std::uint8_t* network);

// Whether the query string (without '?') has a parameter `name`; with `value`, one whose value
// is exactly it ("name=value"; "name" alone has the empty value). Compared byte for byte.
bool query_has(std::string_view query, std::string_view name, bool has_value,
               std::string_view value);

// The visitor's share, 0..99, for the splits of link (domain, code): a stable hash of the
// client address (when known) and its User-Agent, keyed by the link so that the links of a
// visitor split independently. The same inputs always give the same share.
std::uint8_t split_share(const ClientInput& client, std::string_view domain, std::string_view code);

struct RuleContext {
    const ClientInput* client = nullptr;
    std::string_view query;   // the request's query, without '?' and the QR marker
    std::int64_t now = 0;     // Unix seconds
    std::string_view domain;  // the link's key, for split_share
    std::string_view code;
    // The visitor's share when the caller knows it already (a signed split cookie, or computed
    // once to set one); -1: split_share() when a split condition asks.
    int share = -1;
};

struct RuleOutcome {
    bool matched = false;
    std::uint8_t index = 0;           // of the rule that answers (0: the first)
    std::uint16_t redirect_type = 0;  // the rule's own; 0: the link's
    std::string_view destination;     // into the mapping
    // The earliest after or before time of the list later than now (0: none): the answer may
    // change then, so a cache must not keep it longer.
    std::int64_t changes_at = 0;
};

// The first rule of `list` whose conditions all hold, if any.
RuleOutcome evaluate_rules(const formats::RuleListView& list, const RuleContext& context);

}  // namespace shortlink::serve
