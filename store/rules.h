// A link's redirect rules as the store keeps them (`shortlink rule`, man/shortlink-rule.1): an
// ordered list of rules, each a set of conditions that must all hold and a destination (with an
// optional redirect type of its own); the first rule whose conditions hold answers, otherwise the
// link's own destination does.
//
// A condition is text, KIND=VALUE, kept in one canonical spelling so that equal conditions are
// equal strings (the audit log, export and `diff` compare them as such):
//
//   device=ios,android     one or more of k_device_names (any of them)
//   lang=fr,en-US          languages ("fr", any region) or language-regions ("en-US")
//   country=FR,BE          ISO 3166-1 alpha-2 codes (any of them)
//   ip=10.0.0.0/8,2001:db8::/32   addresses or CIDR networks, IPv4 or IPv6 (any of them)
//   query=NAME             the request's query has a parameter NAME
//   query=NAME=VALUE       ... whose value is VALUE (bytes as sent, not decoded)
//   after=TIME, before=TIME   from / until an RFC 3339 time (UTC in the canonical form)
//   split=N                N percent of visitors (1..100), a sticky share of them
//
// Pure functions: no I/O. Every error message names the condition and what is wrong with it, so
// the CLI prints it as is.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "formats/status.h"

namespace shortlink::store {

// At most this many rules per link and conditions per rule: a rule list is read in full for
// every visit to its link, so its length is bounded where it is written (32 x 16 conditions is
// far more than a person maintains by hand).
inline constexpr std::size_t k_max_rules = 32;
inline constexpr std::size_t k_max_conditions = 16;
// At most this many alternatives in one device, lang, country or ip condition.
inline constexpr std::size_t k_max_condition_values = 32;
inline constexpr std::size_t k_max_query_name_bytes = 128;
inline constexpr std::size_t k_max_query_value_bytes = 512;

// The same numbers as formats::RuleKind, the byte a compiled condition starts with.
enum class ConditionKind : std::uint8_t { device = 1, lang, country, ip, query, after, before, split };

std::string_view condition_kind_name(ConditionKind kind);  // "device", "lang", ...

// The device classes a device condition names, in the order the man page lists them.
inline constexpr std::string_view k_device_names[] = {"ios",     "android", "ipados", "mobile", "tablet",
                                                      "desktop", "windows", "macos",  "linux",  "chromeos"};

// One condition, parsed. `text` is the canonical spelling; `values` the alternatives of a
// device, lang, country or ip condition in that spelling ("en-US", "10.0.0.0/8"); for query the
// name and, when a value is required, the value; `time` an after/before time (Unix seconds);
// `percent` a split's share.
struct Condition {
    ConditionKind kind = ConditionKind::device;
    std::string text;
    std::vector<std::string> values;
    bool has_query_value = false;
    std::int64_t time = 0;
    std::uint32_t percent = 0;
};

// Reads one condition as a user types it (`--if`); relative times ("7d") count from `now`.
Result<Condition> parse_condition(std::string_view text, std::int64_t now);

struct Rule {
    std::vector<std::string> conditions;  // canonical spellings, as given (all must hold)
    std::string destination;              // a normalized destination (validate::normalize_destination)
    std::uint16_t redirect_type = 0;      // 0: the link's
    bool operator==(const Rule&) const = default;
};

// Normalizes `rule` in place: each condition to its canonical spelling, the destination as
// validate::normalize_destination() does; checks the rule is whole: 1..k_max_conditions
// conditions, at most one of each kind except query, after before before, a redirect type of
// 0/301/302/307/308.
Status normalize_rule(Rule& rule, std::int64_t now);

// Checks a link's whole list (each rule already normalized): at most k_max_rules, and the
// shares of its split conditions add up to at most 100.
Status check_rule_list(const std::vector<Rule>& rules);

// The list as JSON, the one spelling of rules in the store, the audit log and exports:
// [{"if":["device=ios"],"to":"https://...","type":null}, ...]; "" for an empty list.
std::string encode_rules(const std::vector<Rule>& rules);
// One rule's "if", "to" and "type" members, as encode_rules writes them, into an open object.
void write_rule_members(rapidjson::Writer<rapidjson::StringBuffer>& w, const Rule& rule);
// Reads that JSON (an empty string or "[]" is no rule) and normalizes and checks what it reads,
// so an import or a hand-edited export is held to what `rule add` is.
Result<std::vector<Rule>> decode_rules(std::string_view json, std::int64_t now);

// The list as a snapshot holds it (formats/rules.h, SPEC.md "Section 5: rules"): every value
// precomputed, the splits given consecutive shares of 0..99 in rule order. "" for no rules.
// The JSON form's rules are checked again first (decode_rules), so what reaches a snapshot is
// what `rule add` accepts, whoever wrote the database. A link's password hash
// (formats::encode_password_text(); empty: none) and its expired URL (empty: none) ride in the
// same list, which then exists even without rules.
Result<std::string> compile_rules(std::string_view json, std::string_view password_hash = {},
                                  std::string_view expired_url = {});

// One rule as a person reads it: "if device=ios lang=fr -> https://... (301)".
std::string rule_text(const Rule& rule);

}  // namespace shortlink::store
