#include "store/rules.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <iterator>
#include <optional>
#include <cstring>
#include <utility>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "formats/password.h"
#include "formats/rules.h"
#include "store/timefmt.h"
#include "store/validate.h"

namespace shortlink::store {
namespace {

using validate::printable;

// ISO 3166-1 alpha-2, the officially assigned codes, and XK (Kosovo: user-assigned, but what
// MaxMind and the CDNs' country headers send for it). Sorted, for a binary search.
constexpr std::string_view k_countries =
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV "
    "BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES "
    "ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE "
    "IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY "
    "MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU "
    "NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM "
    "SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE "
    "VG VI VN VU WF WS XK YE YT ZA ZM ZW";

bool is_country(std::string_view code) {
    // Every entry is 2 letters and a space: entry i is at 3 * i.
    std::size_t lo = 0;
    std::size_t hi = (k_countries.size() + 1) / 3;
    while (lo < hi) {
        std::size_t mid = (lo + hi) / 2;
        std::string_view entry = k_countries.substr(3 * mid, 2);
        if (entry == code) {
            return true;
        }
        if (entry < code) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return false;
}

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
char upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

Status bad(std::string_view condition, const std::string& why) {
    return Status::invalid_argument("condition '" + printable(condition) + "': " + why);
}

// The comma-separated alternatives of a list condition; empty items are an error.
Result<std::vector<std::string_view>> split_values(std::string_view condition, std::string_view value) {
    std::vector<std::string_view> out;
    std::size_t pos = 0;
    while (true) {
        std::size_t comma = value.find(',', pos);
        std::string_view item = value.substr(pos, comma == std::string_view::npos ? value.npos : comma - pos);
        if (item.empty()) {
            return bad(condition, "an empty value in the list (write values separated by single commas)");
        }
        out.push_back(item);
        if (out.size() > k_max_condition_values) {
            return bad(condition, "more than " + std::to_string(k_max_condition_values) + " values");
        }
        if (comma == std::string_view::npos) {
            break;
        }
        pos = comma + 1;
    }
    return out;
}

Result<std::string> device_value(std::string_view condition, std::string_view item) {
    std::string name;
    for (char c : item) {
        name += lower(c);
    }
    for (std::string_view known : k_device_names) {
        if (name == known) {
            return name;
        }
    }
    std::string list;
    for (std::string_view known : k_device_names) {
        list += list.empty() ? "" : ", ";
        list += known;
    }
    return bad(condition, "unknown device '" + printable(item) + "' (known: " + list + ")");
}

// A language (2 or 3 letters, ISO 639) or a language and a region (2 letters, ISO 3166, or 3
// digits, UN M.49): "fr", "en-US", "es-419". Lowercase language, uppercase region.
Result<std::string> lang_value(std::string_view condition, std::string_view item) {
    std::size_t dash = item.find_first_of("-_");
    std::string_view language = item.substr(0, dash);
    if (language.size() < 2 || language.size() > 3 || !std::all_of(language.begin(), language.end(), is_alpha)) {
        return bad(condition, "'" + printable(item) + "' is not a language (2 or 3 letters, as 'fr' or 'en-US')");
    }
    std::string out;
    for (char c : language) {
        out += lower(c);
    }
    if (dash == std::string_view::npos) {
        return out;
    }
    std::string_view region = item.substr(dash + 1);
    const bool letters = region.size() == 2 && std::all_of(region.begin(), region.end(), is_alpha);
    const bool digits = region.size() == 3 && std::all_of(region.begin(), region.end(), is_digit);
    if (!letters && !digits) {
        return bad(condition, "'" + printable(item) +
                                  "': the region after the language must be 2 letters or 3 digits (as 'en-US', 'es-419')");
    }
    out += '-';
    for (char c : region) {
        out += upper(c);
    }
    if (letters && !is_country(out.substr(out.size() - 2))) {
        return bad(condition, "'" + printable(item) + "': " + out.substr(out.size() - 2) + " is not an ISO 3166 country");
    }
    return out;
}

Result<std::string> country_value(std::string_view condition, std::string_view item) {
    if (item.size() != 2 || !is_alpha(item[0]) || !is_alpha(item[1])) {
        return bad(condition, "'" + printable(item) + "' is not a country code (2 letters, ISO 3166-1, as 'FR')");
    }
    std::string code{upper(item[0]), upper(item[1])};
    if (!is_country(code)) {
        return bad(condition, "'" + printable(item) + "' is not an ISO 3166-1 country code");
    }
    return code;
}

// An address ("192.0.2.7", "2001:db8::1") or a network ("10.0.0.0/8"), as inet_ntop spells it;
// a network with bits set after its prefix is refused (it names another network than meant).
Result<std::string> ip_value(std::string_view condition, std::string_view item) {
    std::size_t slash = item.find('/');
    std::string address(item.substr(0, slash));
    std::array<unsigned char, 16> bytes{};
    int family = address.find(':') != std::string::npos ? AF_INET6 : AF_INET;
    if (address.empty() || address.size() > INET6_ADDRSTRLEN || inet_pton(family, address.c_str(), bytes.data()) != 1) {
        return bad(condition, "'" + printable(address) + "' is not an IPv4 or IPv6 address");
    }
    const unsigned bits = family == AF_INET ? 32 : 128;
    unsigned prefix = bits;
    if (slash != std::string_view::npos) {
        std::string_view p = item.substr(slash + 1);
        auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
        if (p.empty() || ec != std::errc() || end != p.data() + p.size() || prefix > bits || (p.size() > 1 && p[0] == '0')) {
            return bad(condition, "'" + printable(item) + "': the prefix length must be 0 to " + std::to_string(bits));
        }
    }
    std::array<unsigned char, 16> network = bytes;
    for (unsigned bit = prefix; bit < bits; ++bit) {
        network[bit / 8] = static_cast<unsigned char>(network[bit / 8] & ~(0x80u >> (bit % 8)));
    }
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(family, network.data(), text, sizeof text);
    if (network != bytes) {
        return bad(condition, "'" + printable(item) + "' has bits set after its /" + std::to_string(prefix) +
                                  " prefix (the network is " + text + "/" + std::to_string(prefix) + ")");
    }
    std::string out = text;
    if (prefix != bits) {
        out += "/" + std::to_string(prefix);
    }
    return out;
}

// Bytes a query name or value may hold: printable ASCII except the separators of a query
// ('&', '#', and '=' in a name) and the space, so the condition is matched against the bytes
// a request sends.
bool query_byte(char c, bool name) {
    auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f && c != '&' && c != '#' && (!name || c != '=');
}

}  // namespace

std::string_view condition_kind_name(ConditionKind kind) {
    switch (kind) {
    case ConditionKind::device: return "device";
    case ConditionKind::lang: return "lang";
    case ConditionKind::country: return "country";
    case ConditionKind::ip: return "ip";
    case ConditionKind::query: return "query";
    case ConditionKind::after: return "after";
    case ConditionKind::before: return "before";
    case ConditionKind::split: return "split";
    }
    return "unknown";
}

Result<Condition> parse_condition(std::string_view text, std::int64_t now) {
    std::size_t eq = text.find('=');
    if (eq == std::string_view::npos) {
        return bad(text, "expected KIND=VALUE (device, lang, country, ip, query, after, before or split)");
    }
    std::string_view name = text.substr(0, eq);
    std::string_view value = text.substr(eq + 1);
    Condition c;
    bool known = false;
    for (auto kind : {ConditionKind::device, ConditionKind::lang, ConditionKind::country, ConditionKind::ip,
                      ConditionKind::query, ConditionKind::after, ConditionKind::before, ConditionKind::split}) {
        if (name == condition_kind_name(kind)) {
            c.kind = kind;
            known = true;
        }
    }
    if (!known) {
        return bad(text, "unknown condition '" + printable(name) +
                             "' (known: device, lang, country, ip, query, after, before, split)");
    }
    if (value.empty()) {
        return bad(text, "no value after '='");
    }
    c.text = std::string(name) + "=";
    switch (c.kind) {
    case ConditionKind::device:
    case ConditionKind::lang:
    case ConditionKind::country:
    case ConditionKind::ip: {
        auto items = split_values(text, value);
        if (!items) {
            return items.status();
        }
        for (std::string_view item : *items) {
            Result<std::string> v = c.kind == ConditionKind::device    ? device_value(text, item)
                                    : c.kind == ConditionKind::lang    ? lang_value(text, item)
                                    : c.kind == ConditionKind::country ? country_value(text, item)
                                                                       : ip_value(text, item);
            if (!v) {
                return v.status();
            }
            if (std::find(c.values.begin(), c.values.end(), *v) != c.values.end()) {
                return bad(text, "'" + *v + "' appears twice");
            }
            c.values.push_back(std::move(v).value());
        }
        for (std::size_t i = 0; i < c.values.size(); ++i) {
            c.text += (i == 0 ? "" : ",") + c.values[i];
        }
        return c;
    }
    case ConditionKind::query: {
        std::size_t sep = value.find('=');
        std::string_view qname = value.substr(0, sep);
        if (qname.empty() || qname.size() > k_max_query_name_bytes ||
            !std::all_of(qname.begin(), qname.end(), [](char ch) { return query_byte(ch, true); })) {
            return bad(text, "the parameter name must be 1 to " + std::to_string(k_max_query_name_bytes) +
                                 " printable ASCII bytes without space, '&', '#' or '='");
        }
        c.values.emplace_back(qname);
        c.text.append(qname);
        if (sep != std::string_view::npos) {
            std::string_view qvalue = value.substr(sep + 1);
            if (qvalue.size() > k_max_query_value_bytes ||
                !std::all_of(qvalue.begin(), qvalue.end(), [](char ch) { return query_byte(ch, false); })) {
                return bad(text, "the parameter value must be at most " + std::to_string(k_max_query_value_bytes) +
                                     " printable ASCII bytes without space, '&' or '#'");
            }
            c.has_query_value = true;
            c.values.emplace_back(qvalue);
            c.text += '=';
            c.text.append(qvalue);
        }
        return c;
    }
    case ConditionKind::after:
    case ConditionKind::before: {
        auto when = timefmt::parse_time(value, now);
        if (!when) {
            return bad(text, when.status().message());
        }
        c.time = *when;
        c.text += timefmt::format_time(c.time);
        return c;
    }
    case ConditionKind::split: {
        unsigned percent = 0;
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), percent);
        if (ec != std::errc() || end != value.data() + value.size() || percent < 1 || percent > 100 ||
            value[0] == '0') {
            return bad(text, "a split is a whole percentage of visitors, 1 to 100");
        }
        c.percent = percent;
        c.text += std::to_string(percent);
        return c;
    }
    }
    return bad(text, "unknown condition");
}

Status normalize_rule(Rule& rule, std::int64_t now) {
    if (rule.conditions.empty()) {
        return Status::invalid_argument("a rule needs at least one condition");
    }
    if (rule.conditions.size() > k_max_conditions) {
        return Status::invalid_argument("a rule has at most " + std::to_string(k_max_conditions) + " conditions");
    }
    std::array<const Condition*, 9> seen{};
    std::vector<Condition> parsed;
    parsed.reserve(rule.conditions.size());
    for (const std::string& text : rule.conditions) {
        auto c = parse_condition(text, now);
        if (!c) {
            return c.status();
        }
        parsed.push_back(std::move(c).value());
    }
    for (const Condition& c : parsed) {
        const Condition*& first = seen[static_cast<std::size_t>(c.kind)];
        if (c.kind != ConditionKind::query && first != nullptr) {
            return Status::invalid_argument("conditions '" + first->text + "' and '" + c.text + "': a rule has one " +
                                            std::string(condition_kind_name(c.kind)) +
                                            " condition (list alternatives in one, or write two rules)");
        }
        if (c.kind == ConditionKind::query &&
            std::any_of(std::as_const(parsed).data(), &c, [&](const Condition& o) { return o.text == c.text; })) {
            return Status::invalid_argument("condition '" + c.text + "' appears twice");
        }
        first = &c;
    }
    const Condition* after = seen[static_cast<std::size_t>(ConditionKind::after)];
    const Condition* before = seen[static_cast<std::size_t>(ConditionKind::before)];
    if (after != nullptr && before != nullptr && after->time >= before->time) {
        return Status::invalid_argument("conditions '" + after->text + "' and '" + before->text +
                                        "' never hold together (after must be earlier than before)");
    }
    for (std::size_t i = 0; i < parsed.size(); ++i) {
        rule.conditions[i] = std::move(parsed[i].text);
    }
    auto destination = validate::normalize_destination(rule.destination);
    if (!destination) {
        return destination.status();
    }
    rule.destination = std::move(destination).value();
    if (rule.redirect_type != 0 && rule.redirect_type != 301 && rule.redirect_type != 302 &&
        rule.redirect_type != 307 && rule.redirect_type != 308) {
        return Status::invalid_argument("redirect type " + std::to_string(rule.redirect_type) +
                                        " is not 301, 302, 307 or 308");
    }
    return Status::ok();
}

Status check_rule_list(const std::vector<Rule>& rules) {
    if (rules.size() > k_max_rules) {
        return Status::invalid_argument("a link has at most " + std::to_string(k_max_rules) + " rules");
    }
    unsigned total = 0;
    std::string splits;
    for (std::size_t i = 0; i < rules.size(); ++i) {
        for (const std::string& c : rules[i].conditions) {
            unsigned percent = 0;
            if (c.starts_with("split=") &&
                std::from_chars(c.data() + 6, c.data() + c.size(), percent).ec == std::errc()) {
                total += percent;
                splits += (splits.empty() ? "" : ", ") + c + " (rule " + std::to_string(i + 1) + ")";
            }
        }
    }
    if (total > 100) {
        return Status::invalid_argument("the splits add up to " + std::to_string(total) + "%, more than 100%: " + splits);
    }
    return Status::ok();
}

std::string encode_rules(const std::vector<Rule>& rules) {
    if (rules.empty()) {
        return {};
    }
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartArray();
    for (const Rule& r : rules) {
        w.StartObject();
        write_rule_members(w, r);
        w.EndObject();
    }
    w.EndArray();
    return std::string(buf.GetString(), buf.GetSize());
}

void write_rule_members(rapidjson::Writer<rapidjson::StringBuffer>& w, const Rule& r) {
    w.Key("if");
    w.StartArray();
    for (const std::string& c : r.conditions) {
        w.String(c.data(), static_cast<rapidjson::SizeType>(c.size()));
    }
    w.EndArray();
    w.Key("to");
    w.String(r.destination.data(), static_cast<rapidjson::SizeType>(r.destination.size()));
    w.Key("type");
    if (r.redirect_type == 0) {
        w.Null();
    } else {
        w.Uint(r.redirect_type);
    }
}

Result<std::vector<Rule>> decode_rules(std::string_view json, std::int64_t now) {
    std::vector<Rule> rules;
    if (json.empty()) {
        return rules;
    }
    rapidjson::Document doc;
    doc.Parse(json.data(), json.size());
    if (doc.HasParseError()) {
        return Status::invalid_argument(std::string("rules: invalid JSON: ") + rapidjson::GetParseError_En(doc.GetParseError()));
    }
    if (!doc.IsArray()) {
        return Status::invalid_argument("rules: expected a JSON array of rules");
    }
    if (doc.Size() > k_max_rules) {
        return Status::invalid_argument("a link has at most " + std::to_string(k_max_rules) + " rules");
    }
    for (const rapidjson::Value& v : doc.GetArray()) {
        const std::string where = "rule " + std::to_string(rules.size() + 1) + ": ";
        if (!v.IsObject()) {
            return Status::invalid_argument(where + "expected an object {\"if\": [...], \"to\": URL, \"type\": N}");
        }
        Rule r;
        for (const auto& m : v.GetObject()) {
            std::string_view key(m.name.GetString(), m.name.GetStringLength());
            if (key == "if" && m.value.IsArray()) {
                for (const rapidjson::Value& c : m.value.GetArray()) {
                    if (!c.IsString()) {
                        return Status::invalid_argument(where + "\"if\" holds strings (KIND=VALUE)");
                    }
                    if (r.conditions.size() == k_max_conditions) {
                        return Status::invalid_argument(where + "a rule has at most " +
                                                        std::to_string(k_max_conditions) + " conditions");
                    }
                    r.conditions.emplace_back(c.GetString(), c.GetStringLength());
                }
            } else if (key == "to" && m.value.IsString()) {
                r.destination.assign(m.value.GetString(), m.value.GetStringLength());
            } else if (key == "type" && (m.value.IsNull() || m.value.IsUint())) {
                unsigned type = m.value.IsNull() ? 0 : m.value.GetUint();
                if (type > 0xffff) {
                    return Status::invalid_argument(where + "redirect type " + std::to_string(type) +
                                                    " is not 301, 302, 307 or 308");
                }
                r.redirect_type = static_cast<std::uint16_t>(type);
            } else if (key == "if" || key == "to" || key == "type") {
                return Status::invalid_argument(where + "\"" + std::string(key) + "\" has the wrong type");
            } else {
                return Status::invalid_argument(where + "unknown key '" + printable(key) + "'");
            }
        }
        if (r.destination.empty()) {
            return Status::invalid_argument(where + "no destination (\"to\")");
        }
        if (Status st = normalize_rule(r, now); !st) {
            return Status::invalid_argument(where + st.message());
        }
        rules.push_back(std::move(r));
    }
    if (Status st = check_rule_list(rules); !st) {
        return st;
    }
    return rules;
}

namespace {

static_assert(std::size(k_device_names) == formats::k_device_classes.size(), "one device list");
static_assert(static_cast<int>(ConditionKind::split) == static_cast<int>(formats::RuleKind::split) &&
                  static_cast<int>(ConditionKind::device) == static_cast<int>(formats::RuleKind::device),
              "one numbering of condition kinds");

// A canonical ip value ("10.0.0.0/8", "2001:db8::1") as 16 address bytes (IPv4 mapped into
// IPv6) and a prefix length counted on them.
std::array<std::uint8_t, 17> network_bytes(std::string_view value) {
    std::array<std::uint8_t, 17> out{};
    const std::size_t slash = value.find('/');
    const std::string address(value.substr(0, slash));
    unsigned prefix = 0;
    if (address.find(':') != std::string::npos) {
        inet_pton(AF_INET6, address.c_str(), out.data());
        prefix = 128;
    } else {
        out[10] = 0xff;
        out[11] = 0xff;
        inet_pton(AF_INET, address.c_str(), out.data() + 12);
        prefix = 32;
    }
    if (slash != std::string_view::npos) {
        std::string_view p = value.substr(slash + 1);
        std::from_chars(p.data(), p.data() + p.size(), prefix);
    }
    out[16] = static_cast<std::uint8_t>(address.find(':') != std::string::npos ? prefix : prefix + 96);
    return out;
}

}  // namespace

Result<std::string> compile_rules(std::string_view json, std::string_view password_hash, std::string_view expired_url) {
    std::optional<formats::PasswordHash> password;
    if (!password_hash.empty()) {
        auto parsed = formats::parse_password_text(password_hash);
        if (!parsed) {
            return parsed.status();
        }
        password = *parsed;
    }
    if (json.empty() && !password && expired_url.empty()) {
        return std::string();
    }
    auto rules = json.empty() ? Result<std::vector<Rule>>(std::vector<Rule>{}) : decode_rules(json, 0);
    if (!rules) {
        return rules.status();
    }
    std::vector<formats::RuleInput> out;
    unsigned split_from = 0;
    for (const Rule& rule : *rules) {
        formats::RuleInput r;
        r.redirect_type = rule.redirect_type;
        r.destination = rule.destination;
        for (const std::string& text : rule.conditions) {
            auto c = parse_condition(text, 0);
            if (!c) {
                return c.status();
            }
            formats::RuleConditionInput in;
            in.kind = static_cast<formats::RuleKind>(c->kind);
            switch (c->kind) {
            case ConditionKind::device:
                for (const std::string& v : c->values) {
                    for (std::size_t bit = 0; bit < std::size(k_device_names); ++bit) {
                        if (k_device_names[bit] == v) {
                            in.device_mask = static_cast<std::uint16_t>(in.device_mask | (1u << bit));
                        }
                    }
                }
                break;
            case ConditionKind::lang:
            case ConditionKind::country: in.values = c->values; break;
            case ConditionKind::ip:
                for (const std::string& v : c->values) {
                    in.networks.push_back(network_bytes(v));
                }
                break;
            case ConditionKind::query:
                in.query_name = c->values[0];
                in.has_query_value = c->has_query_value;
                if (c->has_query_value) {
                    in.query_value = c->values[1];
                }
                break;
            case ConditionKind::after:
            case ConditionKind::before: in.time = c->time; break;
            case ConditionKind::split:
                // check_rule_list() proved the shares add up to at most 100.
                in.split_from = static_cast<std::uint8_t>(split_from);
                split_from += c->percent;
                in.split_to = static_cast<std::uint8_t>(split_from);
                break;
            }
            r.conditions.push_back(std::move(in));
        }
        out.push_back(std::move(r));
    }
    return formats::encode_rule_list(out, password ? &*password : nullptr, expired_url);
}

std::string rule_text(const Rule& rule) {
    std::string out = "if";
    for (const std::string& c : rule.conditions) {
        out += ' ';
        out += c;
    }
    out += " -> ";
    out += rule.destination;
    if (rule.redirect_type != 0) {
        out += " (" + std::to_string(rule.redirect_type) + ")";
    }
    return out;
}

}  // namespace shortlink::store
