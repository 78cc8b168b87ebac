// Compiled redirect rules: section 5 of a snapshot or patch (formats/SPEC.md "Section 5: rules").
//
// A link whose slot has the has_rules bit names one rule list of this section by index. A list
// is evaluated in place from the mapping: every value a condition compares against was
// precomputed by the compiler (device classes as a bit mask, languages and countries as fixed
// bytes, networks as 16-byte addresses with a prefix, split shares as ranges of 0..99), so a
// request costs no parsing of the rule and no allocation.
//
// The encoder (used by compiler/snapshot_builder.cpp) and the checker (used by
// formats/snapshot.cpp when a file is opened) live here together, so they cannot drift apart.
// After check_rules_section() passed, RuleListView and its cursors read without bounds checks.
//
// Thread-safety: pure functions and views; views are valid while the mapping is.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "formats/password.h"
#include "formats/status.h"

namespace shortlink::formats {

// Condition kinds, the byte a condition record starts with.
enum class RuleKind : std::uint8_t { device = 1, lang = 2, country = 3, ip = 4, query = 5, after = 6, before = 7, split = 8 };
inline constexpr std::uint8_t k_max_rule_kind = 8;
std::string_view rule_kind_name(RuleKind kind);  // "device", "lang", ...

// Device classes, bits of a device condition's mask, in this order.
inline constexpr std::array<std::string_view, 10> k_device_classes = {
    "ios", "android", "ipados", "mobile", "tablet", "desktop", "windows", "macos", "linux", "chromeos"};
inline constexpr std::uint16_t k_device_known_bits = (1u << k_device_classes.size()) - 1;

// Limits (the store enforces the same: store/rules.h).
inline constexpr std::size_t k_max_rules_per_list = 32;
inline constexpr std::size_t k_max_conditions_per_rule = 16;
inline constexpr std::size_t k_max_condition_values = 32;
inline constexpr std::size_t k_max_rule_query_name = 128;
inline constexpr std::size_t k_max_rule_query_value = 512;
inline constexpr std::size_t k_lang_tag_size = 8;   // "en-US" NUL-padded; at most 7 bytes used
inline constexpr std::size_t k_network_size = 17;   // 16 address bytes, prefix length

// One condition as the compiler hands it over.
struct RuleConditionInput {
    RuleKind kind = RuleKind::device;
    std::uint16_t device_mask = 0;                         // device
    std::vector<std::string> values;                       // lang ("en-US"), country ("FR")
    std::vector<std::array<std::uint8_t, 17>> networks;    // ip: IPv6 bytes (IPv4 mapped), prefix
    std::string query_name;                                // query
    std::string query_value;
    bool has_query_value = false;
    std::int64_t time = 0;                                 // after, before
    std::uint8_t split_from = 0;                           // split: visitors in [from, to) of 0..99
    std::uint8_t split_to = 0;
};

struct RuleInput {
    std::uint16_t redirect_type = 0;  // 0: the link's
    std::string destination;
    std::vector<RuleConditionInput> conditions;
};

// Bits of a list's flags byte (SPEC.md "Section 5: rules"): what follows the rules, in this
// order. A list with flags may hold no rules at all.
inline constexpr std::uint8_t k_rule_list_password = 1u << 0;    // a password block
inline constexpr std::uint8_t k_list_has_expired_url = 1u << 1;  // u32 length, the link's expired URL
inline constexpr std::uint8_t k_rule_list_known_flags = k_rule_list_password | k_list_has_expired_url;

// One list's bytes; invalid_argument for anything the format cannot hold (the message names
// the rule and condition). `password` (or nullptr) and `expired_url` (where the link goes once
// it has ended; empty: none) follow the rules; with either, `rules` may be empty.
Result<std::string> encode_rule_list(const std::vector<RuleInput>& rules, const PasswordHash* password = nullptr,
                                     std::string_view expired_url = {});
// The whole section from encoded lists (list i is index i).
std::string encode_rules_section(const std::vector<std::string>& lists);

// Proves the section: header, offsets table, every list and condition. `list_count` gets the
// number of lists a slot may name.
Status check_rules_section(const std::uint8_t* p, std::uint64_t length, const std::string& where,
                           std::uint64_t& list_count);

// A condition of a proven list.
struct RuleConditionView {
    RuleKind kind = RuleKind::device;
    std::uint8_t count = 0;
    const std::uint8_t* payload = nullptr;
    std::uint16_t payload_length = 0;

    std::uint16_t device_mask() const;                  // device
    std::string_view value(std::size_t i) const;        // lang (without padding), country
    const std::uint8_t* network(std::size_t i) const;   // ip: 17 bytes
    std::string_view query_name() const;
    bool has_query_value() const { return count == 1; }
    std::string_view query_value() const;
    std::int64_t time() const;                          // after, before
    std::uint8_t split_from() const { return payload[0]; }
    std::uint8_t split_to() const { return payload[1]; }
};

struct RuleView {
    std::uint16_t redirect_type = 0;  // 0: the link's
    std::string_view destination;
    std::uint8_t condition_count = 0;
    const std::uint8_t* conditions = nullptr;  // the first condition record

    // Calls fn(RuleConditionView) for each condition until it returns false; returns whether
    // every call returned true.
    template <class Fn>
    bool all_conditions(Fn&& fn) const;
};

// The condition in the spelling of `shortlink rule` (store/rules.h): "device=ios,android",
// "ip=10.0.0.0/8", "after=2026-01-01T00:00:00Z"; a split as its share ("split=30"). For
// inspect, diff and resolve, not the request path.
std::string condition_text(const RuleConditionView& condition);

// A proven rule list in the mapping.
class RuleListView {
public:
    RuleListView() = default;
    explicit RuleListView(const std::uint8_t* list) : m_list(list) {}
    bool empty() const { return m_list == nullptr; }
    std::uint8_t rule_count() const { return m_list == nullptr ? 0 : m_list[0]; }
    std::uint8_t flags() const { return m_list == nullptr ? 0 : m_list[1]; }
    // The password block after the rules (k_password_block_size bytes), or nullptr.
    const std::uint8_t* password() const;
    // The link's own expired URL (k_list_has_expired_url); empty: none.
    std::string_view expired_url() const;
    // Bit k set: some rule of the list has a condition of kind k (what an answer depends on).
    std::uint16_t kinds() const;
    // The list's encoded bytes (a walk of its rules); empty for an empty view.
    std::string_view bytes() const;
    // Calls fn(index, RuleView) for each rule in order until it returns false (none for an
    // empty view).
    template <class Fn>
    void for_each(Fn&& fn) const;

private:
    const std::uint8_t* rules_end() const;  // the first byte after the last rule
    const std::uint8_t* m_list = nullptr;
};

// The header size of a list, a rule and a condition record (SPEC.md).
inline constexpr std::size_t k_rule_list_header = 4;
inline constexpr std::size_t k_rule_header = 8;
inline constexpr std::size_t k_condition_header = 4;
inline constexpr std::size_t k_rules_section_header = 64;

namespace rules_detail {
inline std::uint16_t u16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] | (p[1] << 8)); }
inline std::uint32_t u32(const std::uint8_t* p) {
    return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) | (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[3]} << 24);
}
}  // namespace rules_detail

template <class Fn>
bool RuleView::all_conditions(Fn&& fn) const {
    const std::uint8_t* c = conditions;
    for (std::uint8_t i = 0; i < condition_count; ++i) {
        RuleConditionView v;
        v.kind = static_cast<RuleKind>(c[0]);
        v.count = c[1];
        v.payload_length = rules_detail::u16(c + 2);
        v.payload = c + k_condition_header;
        if (!fn(v)) {
            return false;
        }
        c += k_condition_header + v.payload_length;
    }
    return true;
}

template <class Fn>
void RuleListView::for_each(Fn&& fn) const {
    if (m_list == nullptr) {
        return;
    }
    const std::uint8_t* r = m_list + k_rule_list_header;
    for (std::uint8_t i = 0; i < rule_count(); ++i) {
        RuleView v;
        v.redirect_type = rules_detail::u16(r);
        v.condition_count = r[2];
        const std::uint32_t dest_len = rules_detail::u32(r + 4);
        v.destination = std::string_view(reinterpret_cast<const char*>(r + k_rule_header), dest_len);
        v.conditions = r + k_rule_header + dest_len;
        const std::uint8_t* next = v.conditions;
        for (std::uint8_t c = 0; c < v.condition_count; ++c) {
            next += k_condition_header + rules_detail::u16(next + 2);
        }
        if (!fn(static_cast<std::size_t>(i), v)) {
            return;
        }
        r = next;
    }
}

}  // namespace shortlink::formats
