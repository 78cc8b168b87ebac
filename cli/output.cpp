// Printing helpers shared by the commands. See output.h.
#include "cli/output.h"

#include <algorithm>
#include <iomanip>
#include <map>
#include <optional>
#include <sstream>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "cli/command_util.h"
#include "store/csv.h"
#include "cli/errors.h"
#include "store/timefmt.h"

namespace shortlink::cli {
namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void key_string(JsonWriter& w, const char* key, std::string_view v) {
    w.Key(key);
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
}

void key_time(JsonWriter& w, const char* key, std::int64_t t) {
    w.Key(key);
    if (t == 0) {
        w.Null();
    } else {
        std::string s = timefmt::format_time(t);
        w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
    }
}

std::string type_text(std::uint16_t type) { return type == 0 ? std::string() : std::to_string(type); }

std::string forward_text(int forward_query) {
    return forward_query < 0 ? std::string() : (forward_query != 0 ? "true" : "false");
}

std::string join_tags(const std::vector<std::string>& tags, char sep) {
    std::string out;
    for (const std::string& t : tags) {
        if (!out.empty()) {
            out.push_back(sep);
        }
        out += t;
    }
    return out;
}

}  // namespace

std::string short_url(std::string_view host, std::string_view code) {
    if (host == store::k_default_host) {
        return "/" + std::string(code);
    }
    return "https://" + std::string(host) + "/" + std::string(code);
}

std::string short_url(const store::Link& link) { return short_url(link.host, link.code); }

namespace {

// What the link does at f.now; a reserved link is not yet valid whenever that is.
formats::EffectiveState state_of(const LinkFields& f) {
    return store::effective_state(f.status, f.reserved ? formats::k_reserved_not_before : f.not_before, f.expires,
                                  f.now);
}

}  // namespace

LinkFields link_fields(const store::Link& link, const store::DomainRecord& domain, std::int64_t now) {
    LinkFields f;
    f.source = LinkFields::Source::stored;
    f.domain = link.host;
    f.code = link.code;
    f.url = link.destination;
    f.status = link.status;
    f.not_before = link.not_before;
    f.expires = link.expires;
    f.type = link.redirect_type;
    f.forward_query = link.forward_query;
    f.effective_type = link.redirect_type != 0 ? link.redirect_type : domain.default_redirect;
    f.effective_forward_query = link.forward_query >= 0 ? link.forward_query != 0 : domain.forward_query;
    f.now = now;
    f.tags = &link.tags;
    f.title = link.title;
    f.rules = &link.rules;
    f.expired_url = link.expired_url;
    f.reserved = link.reserved;
    f.has_password = !link.password_hash.empty();
    f.password_hash = link.password_hash;
    f.version = link.version;
    f.created_at = link.created_at;
    f.updated_at = link.updated_at;
    return f;
}

LinkFields link_fields(const formats::Snapshot& snapshot, const formats::LinkView& link, std::int64_t now) {
    LinkFields f;
    f.source = LinkFields::Source::compiled;
    f.domain = snapshot.domain(link.domain_index).host;
    f.code = link.code;
    f.url = link.destination;
    f.status = link.status;
    f.not_before = link.not_before;
    f.expires = link.expires;
    f.effective_type = link.redirect_type;
    f.effective_forward_query = link.forward_query;
    f.compiled_rules = link.rules;
    f.expired_url = link.rules.expired_url();
    if (link.not_before == formats::k_reserved_not_before) {
        f.reserved = true;
        f.not_before = 0;
    }
    f.has_password = link.rules.password() != nullptr;
    f.now = now;
    return f;
}

std::string link_json(const LinkFields& f) {
    using Source = LinkFields::Source;
    rapidjson::StringBuffer buf;
    JsonWriter w(buf);
    w.StartObject();
    key_string(w, "domain", f.domain);
    key_string(w, "code", f.code);
    key_string(w, "url", f.url);
    key_string(w, "status", store::link_state_name(f.status));
    if (f.source != Source::audit) {
        key_string(w, "state",
                   formats::effective_state_name(state_of(f)));
    }
    if (f.source != Source::compiled) {
        w.Key("type");
        if (f.type == 0) {
            w.Null();
        } else {
            w.Uint(f.type);
        }
        w.Key("forward_query");
        if (f.forward_query < 0) {
            w.Null();
        } else {
            w.Bool(f.forward_query != 0);
        }
    }
    if (f.source != Source::audit) {
        w.Key("effective_type");
        w.Uint(f.effective_type);
        w.Key("effective_forward_query");
        w.Bool(f.effective_forward_query);
    }
    key_time(w, "not_before", f.not_before);
    key_time(w, "expires", f.expires);
    w.Key("reserved");
    w.Bool(f.reserved);
    w.Key("expired_url");
    if (f.expired_url.empty()) {
        w.Null();
    } else {
        w.String(f.expired_url.data(), static_cast<rapidjson::SizeType>(f.expired_url.size()));
    }
    if (f.tags != nullptr) {
        w.Key("tags");
        w.StartArray();
        for (const std::string& t : *f.tags) {
            w.String(t.c_str(), static_cast<rapidjson::SizeType>(t.size()));
        }
        w.EndArray();
    }
    if (f.source == Source::compiled) {
        // The compiled list in the same shape (formats::condition_text spells each condition).
        w.Key("rules");
        w.StartArray();
        if (!f.compiled_rules.empty()) {
            f.compiled_rules.for_each([&](std::size_t, const formats::RuleView& r) {
                w.StartObject();
                w.Key("if");
                w.StartArray();
                r.all_conditions([&](const formats::RuleConditionView& c) {
                    const std::string text = formats::condition_text(c);
                    w.String(text.c_str(), static_cast<rapidjson::SizeType>(text.size()));
                    return true;
                });
                w.EndArray();
                key_string(w, "to", r.destination);
                w.Key("type");
                if (r.redirect_type == 0) {
                    w.Null();
                } else {
                    w.Uint(r.redirect_type);
                }
                w.EndObject();
                return true;
            });
        }
        w.EndArray();
    }
    if (f.rules != nullptr) {
        // The store's own spelling of a rule list (store/rules.h), so an export imports as is.
        const std::string rules = f.rules->empty() ? "[]" : store::encode_rules(*f.rules);
        w.Key("rules");
        w.RawValue(rules.c_str(), rules.size(), rapidjson::kArrayType);
    }
    // Whether a visitor must give a password; a stored link also carries its hash (never the
    // password), so an export imports with the same password.
    w.Key("password");
    w.Bool(f.has_password);
    if (f.source == Source::stored && !f.password_hash.empty()) {
        key_string(w, "password_hash", f.password_hash);
    }
    if (f.source == Source::audit && !f.password_hash.empty()) {
        key_string(w, "password_fingerprint", f.password_hash);
    }
    if (f.source != Source::compiled) {
        w.Key("title");
        if (f.title.empty()) {
            w.Null();
        } else {
            w.String(f.title.data(), static_cast<rapidjson::SizeType>(f.title.size()));
        }
        w.Key("version");
        w.Int64(f.version);
    }
    if (f.source == Source::stored) {
        key_time(w, "created_at", f.created_at);
        key_time(w, "updated_at", f.updated_at);
    }
    key_string(w, "short_url", short_url(f.domain, f.code));
    w.EndObject();
    return buf.GetString();
}

std::string domain_json(const store::DomainRecord& d, std::optional<bool> complete) {
    rapidjson::StringBuffer buf;
    JsonWriter w(buf);
    w.StartObject();
    key_string(w, "host", d.host);
    w.Key("is_default");
    w.Bool(d.is_default);
    w.Key("default_type");
    w.Uint(d.default_redirect);
    key_string(w, "root_url", d.root_url);
    w.Key("case_insensitive");
    w.Bool(d.case_insensitive);
    w.Key("forward_query");
    w.Bool(d.forward_query);
    w.Key("cache_max_age");
    w.Uint(d.cache_max_age_s);
    w.Key("negative_max_age");
    w.Uint(d.negative_max_age_s);
    w.Key("https_redirect");
    w.Bool(d.https_redirect);
    w.Key("hsts_max_age");
    w.Uint(d.hsts_max_age_s);
    w.Key("hsts_include_subdomains");
    w.Bool(d.hsts_include_subdomains);
    key_string(w, "not_found_url", d.not_found_url);
    key_string(w, "expired_url", d.expired_url);
    key_string(w, "not_found_text", d.not_found_text);
    key_string(w, "gone_text", d.gone_text);
    w.Key("permanent_max_age");
    w.Uint(d.permanent_max_age_s);
    w.Key("stale_while_revalidate");
    w.Uint(d.stale_while_revalidate_s);
    w.Key("stale_if_error");
    w.Uint(d.stale_if_error_s);
    key_string(w, "cache_scope", d.cache_scope.empty() ? std::string_view("none") : std::string_view(d.cache_scope));
    w.Key("miss_budget");
    w.Uint(d.miss_budget);
    key_string(w, "country_header", d.country_header);
    if (complete) {
        w.Key("complete");
        w.Bool(*complete);
    }
    w.EndObject();
    return buf.GetString();
}

store::DomainRecord domain_record(const formats::DomainView& v) {
    store::DomainRecord d;
    d.host = std::string(v.host);
    d.is_default = v.is_default;
    d.default_redirect = v.default_redirect;
    d.root_url = std::string(v.root_url);
    d.case_insensitive = v.case_insensitive;
    d.forward_query = v.forward_query;
    d.cache_max_age_s = v.cache_max_age_s;
    d.negative_max_age_s = v.negative_max_age_s;
    d.https_redirect = v.https_redirect;
    d.hsts_max_age_s = v.hsts_max_age_s;
    d.hsts_include_subdomains = v.hsts_include_subdomains;
    d.not_found_url = std::string(v.not_found_url);
    d.expired_url = std::string(v.expired_url);
    d.not_found_text = std::string(v.not_found_text);
    d.gone_text = std::string(v.gone_text);
    // A file without section 8 caps nothing: the compiler left it out because the domain's cap
    // did not reach its cache lifetime, so the default cap (or that lifetime) answers the same.
    d.permanent_max_age_s = v.permanent_max_age_s == formats::format::k_no_permanent_cap
                                ? std::max(v.cache_max_age_s, store::k_default_permanent_max_age_s)
                                : v.permanent_max_age_s;
    d.stale_while_revalidate_s = v.stale_while_revalidate_s;
    d.stale_if_error_s = v.stale_if_error_s;
    d.cache_scope = v.cache_scope == formats::format::k_cache_scope_public    ? "public"
                    : v.cache_scope == formats::format::k_cache_scope_private ? "private"
                                                                             : "";
    d.miss_budget = v.miss_budget;
    d.country_header = std::string(v.country_header);
    return d;
}

std::map<std::int64_t, store::DomainRecord> domains_by_id(store::Store& store) {
    std::map<std::int64_t, store::DomainRecord> out;
    for (store::DomainRecord& d : unwrap(store.list_domains())) {
        const std::int64_t id = d.id;
        out.emplace(id, std::move(d));
    }
    return out;
}

std::string json_value_text(std::string_view json) {
    rapidjson::Document v;
    v.Parse(json.data(), json.size());
    if (v.HasParseError()) {
        return std::string(json);
    }
    auto text = [](const rapidjson::Value& x) -> std::string {
        if (x.IsNull() || (x.IsString() && x.GetStringLength() == 0)) {
            return "-";
        }
        if (x.IsString()) {
            return std::string(x.GetString(), x.GetStringLength());
        }
        rapidjson::StringBuffer buf;
        JsonWriter w(buf);
        x.Accept(w);
        return buf.GetString();
    };
    if (!v.IsArray()) {
        return text(v);
    }
    std::string out;
    for (const rapidjson::Value& x : v.GetArray()) {
        out += (out.empty() ? "" : ",") + text(x);
    }
    return out.empty() ? "-" : out;
}

namespace {

// A JSON value of `image` or nullptr.
const rapidjson::Value* member(const rapidjson::Value& image, const char* key) {
    auto it = image.FindMember(key);
    return it == image.MemberEnd() ? nullptr : &it->value;
}

// The link image an audit row keeps (store/store_links.cpp: host, code, url, status, type,
// forward_query, not_before, expires as Unix seconds, tags, title, version) in the link schema;
// nullopt for an image of another shape, which history then prints as the store wrote it. Images
// written before links had titles have no title: none.
std::optional<std::string> audit_link_json(const rapidjson::Value& image) {
    const rapidjson::Value* host = member(image, "host");
    const rapidjson::Value* code = member(image, "code");
    const rapidjson::Value* url = member(image, "url");
    const rapidjson::Value* status = member(image, "status");
    const rapidjson::Value* type = member(image, "type");
    const rapidjson::Value* forward = member(image, "forward_query");
    const rapidjson::Value* not_before = member(image, "not_before");
    const rapidjson::Value* expires = member(image, "expires");
    const rapidjson::Value* tags = member(image, "tags");
    const rapidjson::Value* version = member(image, "version");
    const rapidjson::Value* title = member(image, "title");
    const rapidjson::Value* rules = member(image, "rules");  // absent: no rules
    const rapidjson::Value* expired_url = member(image, "expired_url");  // absent: none
    const rapidjson::Value* reserved = member(image, "reserved");        // absent: false
    const rapidjson::Value* password = member(image, "password");  // absent: none; else a fingerprint
    if (host == nullptr || !host->IsString() || code == nullptr || !code->IsString() || url == nullptr ||
        !url->IsString() || status == nullptr || !status->IsString() || type == nullptr || !type->IsUint() ||
        type->GetUint() > 0xffff || forward == nullptr || !forward->IsInt() || not_before == nullptr ||
        !not_before->IsInt64() || expires == nullptr || !expires->IsInt64() || tags == nullptr || !tags->IsArray() ||
        version == nullptr || !version->IsInt64() || (title != nullptr && !title->IsString()) ||
        (expired_url != nullptr && !expired_url->IsString()) || (reserved != nullptr && !reserved->IsBool())) {
        return std::nullopt;
    }
    const std::optional<store::LinkState> state =
        store::parse_link_state(std::string_view(status->GetString(), status->GetStringLength()));
    if (!state) {
        return std::nullopt;
    }
    std::vector<std::string> tag_list;
    for (const rapidjson::Value& t : tags->GetArray()) {
        if (!t.IsString()) {
            return std::nullopt;
        }
        tag_list.emplace_back(t.GetString(), t.GetStringLength());
    }
    std::vector<store::Rule> rule_list;
    if (rules != nullptr) {
        rapidjson::StringBuffer buf;
        JsonWriter writer(buf);
        rules->Accept(writer);
        auto decoded = store::decode_rules(std::string_view(buf.GetString(), buf.GetSize()), 0);
        if (!decoded) {
            return std::nullopt;
        }
        rule_list = std::move(decoded).value();
    }
    LinkFields f;
    f.source = LinkFields::Source::audit;
    f.rules = &rule_list;
    f.domain = std::string_view(host->GetString(), host->GetStringLength());
    f.code = std::string_view(code->GetString(), code->GetStringLength());
    f.url = std::string_view(url->GetString(), url->GetStringLength());
    f.status = *state;
    f.type = static_cast<std::uint16_t>(type->GetUint());
    f.forward_query = forward->GetInt();
    f.not_before = not_before->GetInt64();
    f.expires = expires->GetInt64();
    f.tags = &tag_list;
    if (title != nullptr) {
        f.title = std::string_view(title->GetString(), title->GetStringLength());
    }
    if (expired_url != nullptr) {
        f.expired_url = std::string_view(expired_url->GetString(), expired_url->GetStringLength());
    }
    f.reserved = reserved != nullptr && reserved->GetBool();
    f.has_password = password != nullptr;
    if (password != nullptr && password->IsString()) {
        f.password_hash = std::string_view(password->GetString(), password->GetStringLength());
    }
    f.version = version->GetInt64();
    return link_json(f);
}

// The domain image an audit row keeps (store/store_domains.cpp) in the domain schema; nullopt
// for an image of another shape.
std::optional<std::string> audit_domain_json(const rapidjson::Value& image) {
    store::DomainRecord d;
    const rapidjson::Value* host = member(image, "host");
    const rapidjson::Value* root_url = member(image, "root_url");
    if (host == nullptr || !host->IsString() || root_url == nullptr || !root_url->IsString()) {
        return std::nullopt;
    }
    d.host.assign(host->GetString(), host->GetStringLength());
    d.root_url.assign(root_url->GetString(), root_url->GetStringLength());
    d.is_default = d.host == store::k_default_host;
    const std::pair<const char*, std::uint32_t*> numbers[] = {{"cache_max_age_s", &d.cache_max_age_s},
                                                              {"negative_max_age_s", &d.negative_max_age_s},
                                                              {"hsts_max_age_s", &d.hsts_max_age_s}};
    for (const auto& [key, out] : numbers) {
        const rapidjson::Value* v = member(image, key);
        if (v == nullptr || !v->IsUint()) {
            return std::nullopt;
        }
        *out = v->GetUint();
    }
    const rapidjson::Value* type = member(image, "default_redirect");
    if (type == nullptr || !type->IsUint() || type->GetUint() > 0xffff) {
        return std::nullopt;
    }
    d.default_redirect = static_cast<std::uint16_t>(type->GetUint());
    const std::pair<const char*, bool*> flags[] = {{"case_insensitive", &d.case_insensitive},
                                                   {"forward_query", &d.forward_query},
                                                   {"https_redirect", &d.https_redirect},
                                                   {"hsts_include_subdomains", &d.hsts_include_subdomains}};
    for (const auto& [key, out] : flags) {
        const rapidjson::Value* v = member(image, key);
        if (v == nullptr || !v->IsBool()) {
            return std::nullopt;
        }
        *out = v->GetBool();
    }
    // Images written before domains had policies lack these: the defaults they had.
    for (const auto& [key, field] : store::k_domain_policy_texts) {
        if (const rapidjson::Value* v = member(image, key); v != nullptr && v->IsString()) {
            (d.*field).assign(v->GetString(), v->GetStringLength());
        }
    }
    for (const auto& [key, field] : store::k_domain_policy_numbers) {
        if (const rapidjson::Value* v = member(image, key); v != nullptr && v->IsUint()) {
            d.*field = v->GetUint();
        }
    }
    return domain_json(d);
}

// An audit row's before or after image as history prints it: a link's or a domain's in the
// schema every command shares, anything else (blocks, rollbacks, restores) as stored.
void key_audit_image(JsonWriter& w, const char* key, const store::AuditRecord& r, const std::string& image) {
    w.Key(key);
    if (image.empty()) {
        w.Null();
        return;
    }
    rapidjson::Document doc;
    doc.Parse(image.c_str(), image.size());
    std::optional<std::string> rendered;
    if (!doc.HasParseError() && doc.IsObject()) {
        rendered = r.action.starts_with("domain-") ? audit_domain_json(doc) : audit_link_json(doc);
    }
    const std::string& out = rendered ? *rendered : image;
    w.RawValue(out.c_str(), out.size(), rapidjson::kObjectType);
}

}  // namespace

std::string audit_json(const store::AuditRecord& r) {
    rapidjson::StringBuffer buf;
    JsonWriter w(buf);
    w.StartObject();
    w.Key("id");
    w.Int64(r.id);
    key_time(w, "at", r.at);
    key_string(w, "actor", r.actor);
    key_string(w, "action", r.action);
    key_string(w, "domain", r.host);
    key_string(w, "code", r.code);
    key_audit_image(w, "before", r, r.before_json);
    key_audit_image(w, "after", r, r.after_json);
    w.EndObject();
    return buf.GetString();
}

std::string block_json(const store::BlockRecord& b) {
    rapidjson::StringBuffer buf;
    JsonWriter w(buf);
    w.StartObject();
    key_string(w, "kind", store::block_kind_name(b.kind));
    key_string(w, "host", b.host);
    key_string(w, "code", b.code);
    key_string(w, "reason", b.reason);
    key_string(w, "actor", b.actor);
    key_time(w, "created_at", b.created_at);
    w.EndObject();
    return buf.GetString();
}

std::string block_target(const store::BlockRecord& b) {
    return b.kind == store::BlockKind::link ? b.host + "/" + b.code : b.host;
}

const std::vector<std::string>& link_csv_header() {
    static const std::vector<std::string> k_header = {"domain", "code", "url", "type", "expires",
                                                      "not_before", "tags", "status", "forward_query", "title"};
    return k_header;
}

std::vector<std::string> link_csv_fields(const store::Link& link) {
    return {link.host,
            link.code,
            link.destination,
            type_text(link.redirect_type),
            timefmt::format_time(link.expires),
            timefmt::format_time(link.not_before),
            join_tags(link.tags, ';'),
            std::string(store::link_state_name(link.status)),
            forward_text(link.forward_query),
            link.title};
}

std::uint64_t write_links(store::Store& store, const store::LinkFilter& filter, std::string_view format,
                          std::FILE* out_file, bool titles) {
    OutputSink out(out_file);
    std::uint64_t passwords = 0;
    std::string line;
    if (format == "table") {
        std::ostringstream header;
        print_link_table_header(header, titles);
        out.raw(header.str());
    } else if (format == "csv") {
        csv::append_record(line, link_csv_header());
        out.raw(line);
    }
    const std::map<std::int64_t, store::DomainRecord> domains = domains_by_id(store);
    check(store.list_links(filter, [&](const store::Link& link) {
        passwords += link.password_hash.empty() ? 0 : 1;
        if (format == "csv") {
            line.clear();
            csv::append_record(line, link_csv_fields(link));
            out.raw(line);
            return true;
        }
        const auto domain = domains.find(link.domain_id);
        if (domain == domains.end()) {
            throw Error(k_exit_runtime, "link " + short_url(link) + " has no domain record");
        }
        const LinkFields fields = link_fields(link, domain->second, filter.now);
        if (format == "json") {
            out.line(link_json(fields));
        } else {
            std::ostringstream row;
            print_link_table_row(row, fields, titles);
            out.raw(row.str());
        }
        return true;
    }));
    out.flush();
    return passwords;
}

void print_link_details(std::ostream& out, const LinkFields& link) {
    auto row = [&](const char* name, const std::string& value) {
        out << std::left << std::setw(14) << name << (value.empty() ? "-" : value) << '\n';
    };
    row("short url", short_url(link.domain, link.code));
    row("domain", std::string(link.domain));
    row("code", std::string(link.code));
    row("url", std::string(link.url));
    row("status", std::string(store::link_state_name(link.status)));
    row("state", std::string(formats::effective_state_name(
                     state_of(link))));
    row("type", std::to_string(link.effective_type) + (link.type == 0 ? " (domain default)" : ""));
    row("forward query",
        std::string(link.effective_forward_query ? "true" : "false") + (link.forward_query < 0 ? " (domain default)" : ""));
    row("not before", link.reserved ? std::string("reserved (no start time yet)") : timefmt::format_time(link.not_before));
    row("expired url", std::string(link.expired_url));
    row("expires", timefmt::format_time(link.expires));
    row("tags", link.tags != nullptr ? join_tags(*link.tags, ' ') : std::string());
    row("title", std::string(link.title));
    row("password", link.has_password ? "yes" : "no");
    if (link.rules != nullptr) {
        row("rules", link.rules->empty() ? std::string() : std::to_string(link.rules->size()));
        for (std::size_t i = 0; i < link.rules->size(); ++i) {
            out << "  " << (i + 1) << ". " << store::rule_text((*link.rules)[i]) << '\n';
        }
    }
    row("version", std::to_string(link.version));
    row("created", timefmt::format_time(link.created_at));
    row("updated", timefmt::format_time(link.updated_at));
}

namespace {

// Characters of the TITLE column: a page title's first words; `show` prints it whole.
constexpr std::size_t k_title_column_chars = 24;

// `title` in exactly k_title_column_chars characters (code points, as a terminal shows most
// text): padded with spaces, or cut with "..." at a character boundary. "-" for none.
std::string title_cell(std::string_view title) {
    std::string text = title.empty() ? std::string("-") : std::string(title);
    std::size_t chars = 0;
    std::size_t cut = text.size();
    for (std::size_t i = 0; i < text.size(); ++i) {
        if ((static_cast<unsigned char>(text[i]) & 0xc0) == 0x80) {
            continue;  // a continuation byte: part of the character before
        }
        if (chars == k_title_column_chars - 3) {
            cut = i;
        }
        ++chars;
    }
    if (chars > k_title_column_chars) {
        text.resize(cut);
        text += "...";
        chars = k_title_column_chars;
    }
    return text + std::string(k_title_column_chars - chars, ' ');
}

}  // namespace

void print_link_table_header(std::ostream& out, bool titles) {
    out << std::left << std::setw(20) << "DOMAIN" << ' ' << std::setw(16) << "CODE" << ' ' << std::setw(13)
        << "STATE" << ' ' << std::setw(4) << "TYPE" << ' ';
    if (titles) {
        out << title_cell("TITLE") << ' ';
    }
    out << "URL" << '\n';
}

void print_link_table_row(std::ostream& out, const LinkFields& link, bool titles) {
    out << std::left << std::setw(20) << link.domain << ' ' << std::setw(16) << link.code << ' ' << std::setw(13)
        << formats::effective_state_name(state_of(link))
        << ' ' << std::setw(4) << link.effective_type << ' ';
    if (titles) {
        out << title_cell(link.title) << ' ';
    }
    out << link.url << '\n';
}

namespace {

// "-" without HSTS, else the max-age, with "+sub" for includeSubDomains.
std::string hsts_text(const store::DomainRecord& d) {
    if (d.hsts_max_age_s == 0) {
        return "-";
    }
    return std::to_string(d.hsts_max_age_s) + (d.hsts_include_subdomains ? "+sub" : "");
}

}  // namespace

void print_domain_table(std::ostream& out, const std::vector<store::DomainRecord>& domains) {
    out << std::left << std::setw(28) << "HOST" << ' ' << std::setw(4) << "TYPE" << ' ' << std::setw(5) << "CASE"
        << ' ' << std::setw(5) << "QUERY" << ' ' << std::setw(6) << "CACHE" << ' ' << std::setw(6) << "NEG"
        << ' ' << std::setw(5) << "HTTPS" << ' ' << std::setw(13) << "HSTS" << ' ' << "ROOT URL" << '\n';
    for (const store::DomainRecord& d : domains) {
        out << std::left << std::setw(28) << (d.is_default ? d.host + " (default)" : d.host) << ' ' << std::setw(4)
            << d.default_redirect << ' ' << std::setw(5) << (d.case_insensitive ? "ci" : "cs") << ' '
            << std::setw(5) << (d.forward_query ? "yes" : "no") << ' ' << std::setw(6) << d.cache_max_age_s
            << ' ' << std::setw(6) << d.negative_max_age_s << ' ' << std::setw(5)
            << (d.https_redirect ? "308" : "no") << ' ' << std::setw(13) << hsts_text(d) << ' '
            << (d.root_url.empty() ? "-" : d.root_url) << '\n';
    }
}

void print_domain_settings(std::ostream& out, const store::DomainRecord& d) {
    out << "host:                 " << d.host << (d.is_default ? " (default domain)" : "") << '\n'
        << "default type:         " << d.default_redirect << '\n'
        << "root url:             " << (d.root_url.empty() ? "- (/ answers 404)" : d.root_url) << '\n'
        << "codes:                " << (d.case_insensitive ? "case-insensitive" : "case-sensitive") << '\n'
        << "forward query:        " << (d.forward_query ? "yes" : "no") << '\n'
        << "cache max-age:        " << d.cache_max_age_s << " s\n"
        << "negative max-age:     " << d.negative_max_age_s << " s\n"
        << "https redirect:       "
        << (d.https_redirect ? "yes (plain HTTP answers 308 to https://)" : "no") << '\n'
        << "hsts:                 ";
    if (d.hsts_max_age_s == 0) {
        out << "no\n";
    } else {
        out << "max-age=" << d.hsts_max_age_s << (d.hsts_include_subdomains ? "; includeSubDomains" : "")
            << '\n';
    }
    out << "not-found url:        " << (d.not_found_url.empty() ? "- (unknown codes answer 404)" : d.not_found_url)
        << '\n'
        << "expired url:          " << (d.expired_url.empty() ? "- (ended links answer 410)" : d.expired_url) << '\n'
        << "404 text:             " << (d.not_found_text.empty() ? "- (Not Found)" : d.not_found_text) << '\n'
        << "410 text:             " << (d.gone_text.empty() ? "- (Gone)" : d.gone_text) << '\n'
        << "permanent max-age:    " << d.permanent_max_age_s << " s (cap on 301 and 308 answers)\n"
        << "stale-while-revalidate: " << d.stale_while_revalidate_s << " s\n"
        << "stale-if-error:       " << d.stale_if_error_s << " s\n"
        << "cache scope:          " << (d.cache_scope.empty() ? "none" : d.cache_scope) << '\n'
        << "miss budget:          "
        << (d.miss_budget == 0 ? std::string("server default") : std::to_string(d.miss_budget) + " a minute") << '\n'
        << "country header:       "
        << (d.country_header.empty() ? std::string("- (the server's --country-header)") : d.country_header) << '\n';
}

namespace {

// A block or unblock row names its target by the block image it carries (a destination block
// has no domain or code of its own): "link go.example.com/spring (phishing)".
bool print_block_audit_target(std::ostream& out, const store::AuditRecord& r) {
    if (r.action != "block" && r.action != "unblock") {
        return false;
    }
    rapidjson::Document image;
    const std::string& json = r.action == "block" ? r.after_json : r.before_json;
    image.Parse(json.c_str(), json.size());
    auto text = [&](const char* key) -> std::string {
        auto it = image.IsObject() ? image.FindMember(key) : image.MemberEnd();
        return it != image.MemberEnd() && it->value.IsString()
                   ? std::string(it->value.GetString(), it->value.GetStringLength())
                   : std::string();
    };
    std::optional<store::BlockKind> kind = store::parse_block_kind(text("kind"));
    if (!kind) {
        return false;
    }
    store::BlockRecord b;
    b.kind = *kind;
    b.host = text("host");
    b.code = text("code");
    out << store::block_kind_name(b.kind) << ' ' << block_target(b);
    if (std::string reason = text("reason"); !reason.empty()) {
        out << " (" << reason << ')';
    }
    return true;
}

// A rollback row: "serial 1764670005678 = the content of 1764670001234".
bool print_rollback_audit_target(std::ostream& out, const store::AuditRecord& r) {
    if (r.action != "rollback") {
        return false;
    }
    rapidjson::Document image;
    image.Parse(r.after_json.c_str(), r.after_json.size());
    auto number = [&](const char* key) -> std::uint64_t {
        auto it = image.IsObject() ? image.FindMember(key) : image.MemberEnd();
        return it != image.MemberEnd() && it->value.IsUint64() ? it->value.GetUint64() : 0;
    };
    out << "serial " << number("serial") << " = the content of " << number("content_of");
    return true;
}

}  // namespace

void print_audit_row(std::ostream& out, const store::AuditRecord& r) {
    out << timefmt::format_time(r.at) << "  " << std::left << std::setw(12) << r.actor << ' ' << std::setw(14)
        << r.action << ' ';
    if (!print_block_audit_target(out, r) && !print_rollback_audit_target(out, r)) {
        out << r.host;
        if (!r.code.empty()) {
            out << '/' << r.code;
        }
    }
    out << '\n';
}

void print_block_table(std::ostream& out, const std::vector<store::BlockRecord>& blocks) {
    out << std::left << std::setw(11) << "KIND" << ' ' << std::setw(32) << "TARGET" << ' ' << std::setw(20) << "SINCE"
        << ' ' << std::setw(12) << "BY" << ' ' << "REASON" << '\n';
    for (const store::BlockRecord& b : blocks) {
        out << std::left << std::setw(11) << store::block_kind_name(b.kind) << ' ' << std::setw(32) << block_target(b)
            << ' ' << std::setw(20) << timefmt::format_time(b.created_at) << ' ' << std::setw(12) << b.actor << ' '
            << (b.reason.empty() ? "-" : b.reason) << '\n';
    }
}

}  // namespace shortlink::cli
