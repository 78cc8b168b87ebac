#include "formats/rules.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <ctime>

#include "formats/bytes.h"
#include "formats/password.h"

namespace shortlink::formats {
namespace {

using rules_detail::u16;
using rules_detail::u32;

constexpr std::uint64_t k_max_lists = std::uint64_t{1} << 32;  // a slot names a list by u32
constexpr std::size_t k_max_destination = 64 * 1024;

bool is_lower(std::uint8_t c) { return c >= 'a' && c <= 'z'; }
bool is_upper(std::uint8_t c) { return c >= 'A' && c <= 'Z'; }
bool is_digit(std::uint8_t c) { return c >= '0' && c <= '9'; }

// "fr", "fil", "en-US", "es-419": what store/rules.h writes, NUL-padded to 8 bytes.
bool valid_lang(const std::uint8_t* t) {
    std::size_t n = 0;
    while (n < k_lang_tag_size && t[n] != 0) {
        ++n;
    }
    for (std::size_t i = n; i < k_lang_tag_size; ++i) {
        if (t[i] != 0) {
            return false;
        }
    }
    std::size_t lang = 0;
    while (lang < n && is_lower(t[lang])) {
        ++lang;
    }
    if (lang < 2 || lang > 3) {
        return false;
    }
    if (lang == n) {
        return true;
    }
    const std::size_t region = n - lang - 1;
    if (t[lang] != '-') {
        return false;
    }
    const std::uint8_t* r = t + lang + 1;
    return (region == 2 && is_upper(r[0]) && is_upper(r[1])) ||
           (region == 3 && is_digit(r[0]) && is_digit(r[1]) && is_digit(r[2]));
}

bool valid_network(const std::uint8_t* n) {
    const unsigned prefix = n[16];
    if (prefix > 128) {
        return false;
    }
    for (unsigned bit = prefix; bit < 128; ++bit) {
        if ((n[bit / 8] >> (7 - bit % 8)) & 1u) {
            return false;
        }
    }
    return true;
}

bool query_byte(std::uint8_t c, bool name) {
    return c > 0x20 && c < 0x7f && c != '&' && c != '#' && (!name || c != '=');
}

// What is wrong with one condition record's payload, or nullptr.
const char* condition_defect(RuleKind kind, std::uint8_t count, const std::uint8_t* p, std::size_t len) {
    switch (kind) {
    case RuleKind::device:
        if (count != 0 || len != 2) {
            return "a device condition holds one 2-byte mask";
        }
        if (u16(p) == 0 || (u16(p) & ~k_device_known_bits) != 0) {
            return "device mask is empty or has unknown bits";
        }
        return nullptr;
    case RuleKind::lang:
        if (count == 0 || count > k_max_condition_values || len != count * k_lang_tag_size) {
            return "lang condition length does not match its count";
        }
        for (std::size_t i = 0; i < count; ++i) {
            if (!valid_lang(p + i * k_lang_tag_size)) {
                return "malformed language tag";
            }
        }
        return nullptr;
    case RuleKind::country:
        if (count == 0 || count > k_max_condition_values || len != count * 2u) {
            return "country condition length does not match its count";
        }
        for (std::size_t i = 0; i < len; ++i) {
            if (!is_upper(p[i])) {
                return "malformed country code";
            }
        }
        return nullptr;
    case RuleKind::ip:
        if (count == 0 || count > k_max_condition_values || len != count * k_network_size) {
            return "ip condition length does not match its count";
        }
        for (std::size_t i = 0; i < count; ++i) {
            if (!valid_network(p + i * k_network_size)) {
                return "network prefix above 128 or bits set after it";
            }
        }
        return nullptr;
    case RuleKind::query: {
        if (count > 1 || len < 4) {
            return "malformed query condition";
        }
        const std::size_t name = u16(p);
        const std::size_t value = u16(p + 2);
        if (name == 0 || name > k_max_rule_query_name || value > k_max_rule_query_value ||
            (count == 0 && value != 0) || len != 4 + name + value) {
            return "query condition lengths out of range";
        }
        for (std::size_t i = 0; i < name + value; ++i) {
            if (!query_byte(p[4 + i], i < name)) {
                return "query condition holds a byte a query parameter cannot";
            }
        }
        return nullptr;
    }
    case RuleKind::after:
    case RuleKind::before:
        return count != 0 || len != 8 ? "a time condition holds one 8-byte time" : nullptr;
    case RuleKind::split:
        if (count != 0 || len != 2 || p[0] >= p[1] || p[1] > 100) {
            return "a split holds a range 0 <= from < to <= 100";
        }
        return nullptr;
    }
    return "unknown condition kind";
}

// Proves one list at `p` (at most `avail` bytes); `size` gets its length.
Status check_list(const std::uint8_t* p, std::uint64_t avail, const std::string& where, std::uint64_t& size) {
    if (avail < k_rule_list_header) {
        return Status::corruption(where + ": truncated list header");
    }
    const std::size_t rule_count = p[0];
    const std::uint8_t flags = p[1];
    if ((flags & ~k_rule_list_known_flags) != 0) {
        return Status::corruption(where + ": unknown list flags " + std::to_string(flags));
    }
    if ((rule_count == 0 && flags == 0) || rule_count > k_max_rules_per_list) {
        return Status::corruption(where + ": rule count must be 1 to " + std::to_string(k_max_rules_per_list) +
                                  " (0 only with flags)");
    }
    std::uint16_t kinds = 0;
    std::uint64_t pos = k_rule_list_header;
    for (std::size_t r = 0; r < rule_count; ++r) {
        const std::string rule = where + ": rule " + std::to_string(r + 1);
        if (avail - pos < k_rule_header) {
            return Status::corruption(rule + ": truncated");
        }
        const std::uint8_t* h = p + pos;
        const std::uint16_t type = u16(h);
        const std::size_t conditions = h[2];
        const std::uint32_t dest_len = u32(h + 4);
        if (type != 0 && type != 301 && type != 302 && type != 307 && type != 308) {
            return Status::corruption(rule + ": invalid redirect type " + std::to_string(type));
        }
        if (conditions == 0 || conditions > k_max_conditions_per_rule || h[3] != 0) {
            return Status::corruption(rule + ": condition count must be 1 to " +
                                      std::to_string(k_max_conditions_per_rule));
        }
        if (dest_len == 0 || dest_len > k_max_destination || dest_len > avail - pos - k_rule_header) {
            return Status::corruption(rule + ": destination length out of bounds");
        }
        const std::uint8_t* dest = h + k_rule_header;
        for (std::uint32_t i = 0; i < dest_len; ++i) {
            if (dest[i] < 0x20 || dest[i] == 0x7f) {
                return Status::corruption(rule + ": destination holds a control character");
            }
        }
        pos += k_rule_header + dest_len;
        for (std::size_t c = 0; c < conditions; ++c) {
            const std::string cond = rule + ": condition " + std::to_string(c + 1);
            if (avail - pos < k_condition_header) {
                return Status::corruption(cond + ": truncated");
            }
            const std::uint8_t* ch = p + pos;
            const std::uint16_t len = u16(ch + 2);
            if (ch[0] == 0 || ch[0] > k_max_rule_kind) {
                return Status::corruption(cond + ": unknown kind " + std::to_string(ch[0]));
            }
            if (len > avail - pos - k_condition_header) {
                return Status::corruption(cond + ": runs past the end of the section");
            }
            if (const char* defect = condition_defect(static_cast<RuleKind>(ch[0]), ch[1], ch + k_condition_header, len)) {
                return Status::corruption(cond + ": " + defect);
            }
            kinds = static_cast<std::uint16_t>(kinds | (1u << ch[0]));
            pos += k_condition_header + len;
        }
    }
    if (u16(p + 2) != kinds) {
        return Status::corruption(where + ": kinds mask does not match its conditions");
    }
    if ((flags & k_rule_list_password) != 0) {
        if (avail - pos < k_password_block_size) {
            return Status::corruption(where + ": truncated password block");
        }
        if (const char* defect = password_block_defect(p + pos)) {
            return Status::corruption(where + ": password block: " + defect);
        }
        pos += k_password_block_size;
    }
    if ((flags & k_list_has_expired_url) != 0) {
        if (avail - pos < 4) {
            return Status::corruption(where + ": truncated expired URL");
        }
        const std::uint32_t len = u32(p + pos);
        if (len == 0 || len > k_max_destination || len > avail - pos - 4) {
            return Status::corruption(where + ": expired URL length out of bounds");
        }
        for (std::uint32_t i = 0; i < len; ++i) {
            if (p[pos + 4 + i] < 0x20 || p[pos + 4 + i] == 0x7f) {
                return Status::corruption(where + ": expired URL holds a control character");
            }
        }
        pos += 4 + std::uint64_t{len};
    }
    size = pos;
    return Status::ok();
}

void put16(std::string& out, std::uint16_t v) { bytes::append<std::uint16_t>(out, v); }

}  // namespace

std::string_view rule_kind_name(RuleKind kind) {
    switch (kind) {
    case RuleKind::device: return "device";
    case RuleKind::lang: return "lang";
    case RuleKind::country: return "country";
    case RuleKind::ip: return "ip";
    case RuleKind::query: return "query";
    case RuleKind::after: return "after";
    case RuleKind::before: return "before";
    case RuleKind::split: return "split";
    }
    return "unknown";
}

Result<std::string> encode_rule_list(const std::vector<RuleInput>& rules, const PasswordHash* password,
                                     std::string_view expired_url) {
    if ((rules.empty() && password == nullptr && expired_url.empty()) || rules.size() > k_max_rules_per_list) {
        return Status::invalid_argument("a rule list holds 1 to " + std::to_string(k_max_rules_per_list) + " rules");
    }
    std::string out;
    out.push_back(static_cast<char>(rules.size()));
    out.push_back(static_cast<char>((password != nullptr ? k_rule_list_password : 0) |
                                    (expired_url.empty() ? 0 : k_list_has_expired_url)));
    put16(out, 0);  // kinds, below
    std::uint16_t kinds = 0;
    for (std::size_t r = 0; r < rules.size(); ++r) {
        const RuleInput& rule = rules[r];
        const std::string where = "rule " + std::to_string(r + 1);
        if (rule.conditions.empty() || rule.conditions.size() > k_max_conditions_per_rule) {
            return Status::invalid_argument(where + ": 1 to " + std::to_string(k_max_conditions_per_rule) +
                                            " conditions");
        }
        put16(out, rule.redirect_type);
        out.push_back(static_cast<char>(rule.conditions.size()));
        out.push_back(0);
        bytes::append<std::uint32_t>(out, static_cast<std::uint32_t>(rule.destination.size()));
        out += rule.destination;
        for (const RuleConditionInput& c : rule.conditions) {
            std::string payload;
            std::size_t count = 0;
            switch (c.kind) {
            case RuleKind::device: put16(payload, c.device_mask); break;
            case RuleKind::lang:
                count = c.values.size();
                for (const std::string& v : c.values) {
                    std::string tag = v.substr(0, k_lang_tag_size);
                    tag.resize(k_lang_tag_size, '\0');
                    payload += tag;
                }
                break;
            case RuleKind::country:
                count = c.values.size();
                for (const std::string& v : c.values) {
                    std::string code = v.substr(0, 2);
                    code.resize(2, '\0');
                    payload += code;
                }
                break;
            case RuleKind::ip:
                count = c.networks.size();
                for (const auto& n : c.networks) {
                    payload.append(reinterpret_cast<const char*>(n.data()), n.size());
                }
                break;
            case RuleKind::query:
                count = c.has_query_value ? 1 : 0;
                put16(payload, static_cast<std::uint16_t>(std::min<std::size_t>(c.query_name.size(), 0xffff)));
                put16(payload, static_cast<std::uint16_t>(std::min<std::size_t>(c.query_value.size(), 0xffff)));
                payload += c.query_name;
                payload += c.query_value;
                break;
            case RuleKind::after:
            case RuleKind::before: bytes::append<std::int64_t>(payload, c.time); break;
            case RuleKind::split:
                payload.push_back(static_cast<char>(c.split_from));
                payload.push_back(static_cast<char>(c.split_to));
                break;
            }
            if (count > 0xff || payload.size() > 0xffff) {
                return Status::invalid_argument(where + ": " + std::string(rule_kind_name(c.kind)) +
                                                " condition too large");
            }
            const auto* bytes_p = reinterpret_cast<const std::uint8_t*>(payload.data());
            if (const char* defect = condition_defect(c.kind, static_cast<std::uint8_t>(count), bytes_p, payload.size())) {
                return Status::invalid_argument(where + ": " + std::string(rule_kind_name(c.kind)) + ": " + defect);
            }
            out.push_back(static_cast<char>(c.kind));
            out.push_back(static_cast<char>(count));
            put16(out, static_cast<std::uint16_t>(payload.size()));
            out += payload;
            kinds = static_cast<std::uint16_t>(kinds | (1u << static_cast<unsigned>(c.kind)));
        }
    }
    bytes::store<std::uint16_t>(reinterpret_cast<std::uint8_t*>(out.data()) + 2, kinds);
    if (password != nullptr) {
        append_password_block(out, *password);
    }
    if (!expired_url.empty()) {
        bytes::append<std::uint32_t>(out, static_cast<std::uint32_t>(std::min<std::size_t>(expired_url.size(), 0xffffffff)));
        out += expired_url;
    }
    // The checker is the definition: what it refuses, the encoder never writes.
    std::uint64_t size = 0;
    if (Status st = check_list(reinterpret_cast<const std::uint8_t*>(out.data()), out.size(), "rule list", size);
        !st || size != out.size()) {
        return Status::invalid_argument(st ? "rule list: trailing bytes" : st.message());
    }
    return out;
}

std::string encode_rules_section(const std::vector<std::string>& lists) {
    std::uint64_t lists_length = 0;
    for (const std::string& l : lists) {
        lists_length += l.size();
    }
    std::string out(k_rules_section_header, '\0');
    bytes::store<std::uint64_t>(reinterpret_cast<std::uint8_t*>(out.data()), lists.size());
    bytes::store<std::uint64_t>(reinterpret_cast<std::uint8_t*>(out.data()) + 8, lists_length);
    std::uint64_t offset = 0;
    for (const std::string& l : lists) {
        bytes::append<std::uint64_t>(out, offset);
        offset += l.size();
    }
    for (const std::string& l : lists) {
        out += l;
    }
    return out;
}

Status check_rules_section(const std::uint8_t* p, std::uint64_t length, const std::string& where,
                           std::uint64_t& list_count) {
    if (length < k_rules_section_header) {
        return Status::corruption(where + ": shorter than its " + std::to_string(k_rules_section_header) +
                                  "-byte header");
    }
    for (std::size_t i = 16; i < k_rules_section_header; ++i) {
        if (p[i] != 0) {
            return Status::corruption(where + ": reserved byte " + std::to_string(i) + " is not zero");
        }
    }
    const std::uint64_t count = bytes::load<std::uint64_t>(p);
    const std::uint64_t lists_length = bytes::load<std::uint64_t>(p + 8);
    const std::uint64_t room = length - k_rules_section_header;
    if (count > k_max_lists || count > room / 8 || lists_length != room - count * 8) {
        return Status::corruption(where + ": " + std::to_string(count) + " lists and " +
                                  std::to_string(lists_length) + " bytes of lists do not make " +
                                  std::to_string(length) + " bytes");
    }
    const std::uint8_t* offsets = p + k_rules_section_header;
    const std::uint8_t* lists = offsets + count * 8;
    std::uint64_t pos = 0;
    for (std::uint64_t i = 0; i < count; ++i) {
        const std::string list = where + ": list " + std::to_string(i);
        if (bytes::load<std::uint64_t>(offsets + i * 8) != pos) {
            return Status::corruption(list + ": offset is not where the list before it ends");
        }
        std::uint64_t size = 0;
        if (Status st = check_list(lists + pos, lists_length - pos, list, size); !st) {
            return st;
        }
        pos += size;
    }
    if (pos != lists_length) {
        return Status::corruption(where + ": " + std::to_string(lists_length - pos) + " bytes after the last list");
    }
    list_count = count;
    return Status::ok();
}

std::string condition_text(const RuleConditionView& c) {
    std::string out(rule_kind_name(c.kind));
    out += '=';
    switch (c.kind) {
    case RuleKind::device: {
        bool first = true;
        for (std::size_t bit = 0; bit < k_device_classes.size(); ++bit) {
            if ((c.device_mask() >> bit) & 1u) {
                out += first ? "" : ",";
                out += k_device_classes[bit];
                first = false;
            }
        }
        break;
    }
    case RuleKind::lang:
    case RuleKind::country:
        for (std::size_t i = 0; i < c.count; ++i) {
            out += i == 0 ? "" : ",";
            out += c.value(i);
        }
        break;
    case RuleKind::ip:
        for (std::size_t i = 0; i < c.count; ++i) {
            const std::uint8_t* n = c.network(i);
            static constexpr std::uint8_t k_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
            const bool v4 = std::memcmp(n, k_mapped, sizeof k_mapped) == 0 && n[16] >= 96;
            char text[INET6_ADDRSTRLEN] = {};
            ::inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? n + 12 : n, text, sizeof text);
            const unsigned prefix = v4 ? n[16] - 96u : n[16];
            out += i == 0 ? "" : ",";
            out += text;
            if (prefix != (v4 ? 32u : 128u)) {
                out += "/" + std::to_string(prefix);
            }
        }
        break;
    case RuleKind::query:
        out += c.query_name();
        if (c.has_query_value()) {
            out += '=';
            out += c.query_value();
        }
        break;
    case RuleKind::after:
    case RuleKind::before: {
        const std::time_t t = static_cast<std::time_t>(c.time());
        std::tm tm{};
        char text[32] = {};
        if (::gmtime_r(&t, &tm) != nullptr) {
            std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
        }
        out += text;
        break;
    }
    case RuleKind::split: out += std::to_string(c.split_to() - c.split_from()); break;
    }
    return out;
}

std::uint16_t RuleConditionView::device_mask() const { return u16(payload); }

std::string_view RuleConditionView::value(std::size_t i) const {
    if (kind == RuleKind::country) {
        return {reinterpret_cast<const char*>(payload + 2 * i), 2};
    }
    const auto* t = reinterpret_cast<const char*>(payload + i * k_lang_tag_size);
    return {t, ::strnlen(t, k_lang_tag_size)};
}

const std::uint8_t* RuleConditionView::network(std::size_t i) const { return payload + i * k_network_size; }

std::string_view RuleConditionView::query_name() const {
    return {reinterpret_cast<const char*>(payload + 4), u16(payload)};
}

std::string_view RuleConditionView::query_value() const {
    return {reinterpret_cast<const char*>(payload + 4 + u16(payload)), u16(payload + 2)};
}

std::int64_t RuleConditionView::time() const { return bytes::load<std::int64_t>(payload); }

std::uint16_t RuleListView::kinds() const { return m_list == nullptr ? 0 : u16(m_list + 2); }

const std::uint8_t* RuleListView::password() const {
    if ((flags() & k_rule_list_password) == 0) {
        return nullptr;
    }
    return rules_end();
}

std::string_view RuleListView::expired_url() const {
    if ((flags() & k_list_has_expired_url) == 0) {
        return {};
    }
    const std::uint8_t* p = rules_end();
    if ((flags() & k_rule_list_password) != 0) {
        p += k_password_block_size;
    }
    return {reinterpret_cast<const char*>(p + 4), u32(p)};
}

std::string_view RuleListView::bytes() const {
    if (m_list == nullptr) {
        return {};
    }
    const std::uint8_t* end = rules_end();
    if ((flags() & k_rule_list_password) != 0) {
        end += k_password_block_size;
    }
    if ((flags() & k_list_has_expired_url) != 0) {
        end += 4 + u32(end);
    }
    return {reinterpret_cast<const char*>(m_list), static_cast<std::size_t>(end - m_list)};
}

const std::uint8_t* RuleListView::rules_end() const {
    const std::uint8_t* end = m_list + k_rule_list_header;
    for_each([&](std::size_t, const RuleView& r) {
        end = r.conditions;
        for (std::uint8_t c = 0; c < r.condition_count; ++c) {
            end += k_condition_header + u16(end + 2);
        }
        return true;
    });
    return end;
}

}  // namespace shortlink::formats
