// Printing helpers shared by the commands. See output.h.
#include "cli/output.h"

#include <iomanip>
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

std::string short_url(const store::Link& link) {
    if (link.host == store::k_default_host) {
        return "/" + link.code;
    }
    return "https://" + link.host + "/" + link.code;
}

std::string link_json(const store::Link& link) {
    rapidjson::StringBuffer buf;
    JsonWriter w(buf);
    w.StartObject();
    key_string(w, "domain", link.host);
    key_string(w, "code", link.code);
    key_string(w, "url", link.destination);
    key_string(w, "status", store::link_state_name(link.status));
    w.Key("type");
    if (link.redirect_type == 0) {
        w.Null();
    } else {
        w.Uint(link.redirect_type);
    }
    w.Key("forward_query");
    if (link.forward_query < 0) {
        w.Null();
    } else {
        w.Bool(link.forward_query != 0);
    }
    key_time(w, "not_before", link.not_before);
    key_time(w, "expires", link.expires);
    w.Key("tags");
    w.StartArray();
    for (const std::string& t : link.tags) {
        w.String(t.c_str(), static_cast<rapidjson::SizeType>(t.size()));
    }
    w.EndArray();
    w.Key("version");
    w.Int64(link.version);
    key_time(w, "created_at", link.created_at);
    key_time(w, "updated_at", link.updated_at);
    key_string(w, "short_url", short_url(link));
    w.EndObject();
    return buf.GetString();
}

std::string domain_json(const store::DomainRecord& d) {
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
    w.EndObject();
    return buf.GetString();
}

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
    // before/after are JSON already (written by the store); embed them raw.
    w.Key("before");
    if (r.before_json.empty()) {
        w.Null();
    } else {
        w.RawValue(r.before_json.c_str(), r.before_json.size(), rapidjson::kObjectType);
    }
    w.Key("after");
    if (r.after_json.empty()) {
        w.Null();
    } else {
        w.RawValue(r.after_json.c_str(), r.after_json.size(), rapidjson::kObjectType);
    }
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
                                                      "not_before", "tags", "status", "forward_query"};
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
            forward_text(link.forward_query)};
}

void write_links(store::Store& store, const store::LinkFilter& filter, std::string_view format, std::FILE* out_file) {
    OutputSink out(out_file);
    std::string line;
    if (format == "table") {
        std::ostringstream header;
        print_link_table_header(header);
        out.raw(header.str());
    } else if (format == "csv") {
        csv::append_record(line, link_csv_header());
        out.raw(line);
    }
    check(store.list_links(filter, [&](const store::Link& link) {
        if (format == "json") {
            out.line(link_json(link));
        } else if (format == "csv") {
            line.clear();
            csv::append_record(line, link_csv_fields(link));
            out.raw(line);
        } else {
            std::ostringstream row;
            print_link_table_row(row, link);
            out.raw(row.str());
        }
        return true;
    }));
    out.flush();
}

void print_link_details(std::ostream& out, const store::Link& link) {
    auto row = [&](const char* name, const std::string& value) {
        out << std::left << std::setw(14) << name << (value.empty() ? "-" : value) << '\n';
    };
    row("short url", short_url(link));
    row("domain", link.host);
    row("code", link.code);
    row("url", link.destination);
    row("status", std::string(store::link_state_name(link.status)));
    row("type", link.redirect_type == 0 ? "domain default" : std::to_string(link.redirect_type));
    row("forward query", link.forward_query < 0 ? "domain default" : forward_text(link.forward_query));
    row("not before", timefmt::format_time(link.not_before));
    row("expires", timefmt::format_time(link.expires));
    row("tags", join_tags(link.tags, ' '));
    row("version", std::to_string(link.version));
    row("created", timefmt::format_time(link.created_at));
    row("updated", timefmt::format_time(link.updated_at));
}

void print_link_table_header(std::ostream& out) {
    out << std::left << std::setw(20) << "DOMAIN" << ' ' << std::setw(16) << "CODE" << ' ' << std::setw(8)
        << "STATUS" << ' ' << std::setw(4) << "TYPE" << ' ' << "URL" << '\n';
}

void print_link_table_row(std::ostream& out, const store::Link& link) {
    out << std::left << std::setw(20) << link.host << ' ' << std::setw(16) << link.code << ' ' << std::setw(8)
        << store::link_state_name(link.status) << ' ' << std::setw(4)
        << (link.redirect_type == 0 ? std::string("-") : std::to_string(link.redirect_type)) << ' '
        << link.destination << '\n';
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
