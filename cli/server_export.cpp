#include "cli/server_export.h"

#include <algorithm>
#include <set>
#include <unordered_map>
#include <utility>

#include "cli/command_util.h"
#include "cli/errors.h"
#include "formats/deny.h"
#include "serve/request_target.h"
#include "store/csv.h"
#include "store/timefmt.h"

namespace shortlink::cli {
namespace {

// One answer of `shortlink serve` that the export writes.
struct Redirect {
    std::string host;         // the domain's host; "*" the default domain (any other host)
    std::string code;         // empty: the domain's root URL
    std::string destination;
    std::uint16_t status = 302;
    bool forward_query = true;
    bool case_insensitive = false;

    std::string short_name() const { return host + "/" + code; }
};

// Counts per reason, reported once each in the order first seen, with the first example.
class Tally {
public:
    void add(const std::string& reason, const std::string& example) {
        auto it = std::find_if(m_rows.begin(), m_rows.end(), [&](const Row& r) { return r.reason == reason; });
        if (it == m_rows.end()) {
            m_rows.push_back({reason, 1, example});
        } else {
            ++it->count;
        }
    }
    // "left out 2 links: disabled (first: go.example.com/old)"
    void report(std::vector<std::string>& out) const {
        for (const Row& r : m_rows) {
            out.push_back(std::to_string(r.count) + (r.count == 1 ? " link " : " links ") + r.reason +
                          " (first: " + r.example + ")");
        }
    }

private:
    struct Row {
        std::string reason;
        std::uint64_t count = 0;
        std::string example;
    };
    std::vector<Row> m_rows;
};

// The deny set as `serve` applies it: domains, links, and destination hosts with their subdomains.
struct DenyLookup {
    std::set<std::string> domains;
    std::set<std::pair<std::string, std::string>> links;
    std::set<std::string> destinations;

    bool blocks_destination(std::string_view url) const {
        std::string_view host = formats::destination_host(url);
        while (!host.empty()) {
            if (destinations.count(std::string(host)) != 0) {
                return true;
            }
            const std::size_t dot = host.find('.');
            if (dot == std::string_view::npos) {
                break;
            }
            host.remove_prefix(dot + 1);
        }
        return false;
    }
};

struct Collected {
    std::vector<Redirect> redirects;  // by domain, then code as the store orders them; roots first
    Tally left_out;                   // not redirects now: serve answers 404 or 410
    Tally not_expressible;            // written, but the target cannot say everything serve does
    std::vector<std::string> https_domains;  // serve redirects their plain HTTP to https://
};

std::string ascii_lower(std::string_view text) {
    std::string out;
    serve::append_lowercase(out, text);
    return out;
}

Collected collect(store::Store& store, const ServerExport& options) {
    Collected c;
    DenyLookup deny;
    check(store.read_deny_set([&](store::BlockKind kind, std::string_view host, std::string_view code) {
        switch (kind) {
        case store::BlockKind::domain: deny.domains.emplace(host); break;
        case store::BlockKind::link: deny.links.emplace(std::string(host), std::string(code)); break;
        case store::BlockKind::destination: deny.destinations.emplace(host); break;
        }
    }));
    std::unordered_map<std::int64_t, store::DomainRecord> domains;
    for (store::DomainRecord& d : unwrap(store.list_domains())) {
        if (!options.host.empty() && d.host != options.host) {
            continue;
        }
        if (!d.root_url.empty()) {
            if (deny.domains.count(d.host) != 0 || deny.blocks_destination(d.root_url)) {
                c.left_out.add("left out: blocked", d.host + "/");
            } else {
                c.redirects.push_back({d.host, "", d.root_url, d.default_redirect, d.forward_query, d.case_insensitive});
            }
        }
        if (d.https_redirect) {
            c.https_domains.push_back(d.host);
        }
        domains.emplace(d.id, std::move(d));
    }
    store::LinkFilter filter;
    filter.host = options.host;
    check(store.list_links(filter, [&](const store::Link& link) {
        const std::string name = link.host + "/" + link.code;
        const auto domain = domains.find(link.domain_id);
        if (domain == domains.end()) {
            return true;  // a removed domain: serve has no such domain
        }
        const store::DomainRecord& d = domain->second;
        // As the snapshot stores it and the server looks it up: folded on a case-insensitive domain.
        const std::string code = d.case_insensitive ? ascii_lower(link.code) : link.code;
        if (deny.domains.count(d.host) != 0 || deny.links.count({d.host, code}) != 0 ||
            deny.blocks_destination(link.destination)) {
            c.left_out.add("left out: blocked", name);
        } else if (link.status != store::LinkState::active) {
            c.left_out.add(std::string("left out: ") + std::string(store::link_state_name(link.status)), name);
        } else if (link.not_before != 0 && options.now < link.not_before) {
            c.left_out.add("left out: not yet valid", name);
        } else if (link.expires != 0 && options.now >= link.expires) {
            c.left_out.add("left out: expired", name);
        } else if (!link.password_hash.empty()) {
            // A map would redirect everyone: the link would become public.
            c.left_out.add("left out: password-protected", name);
        } else {
            if (link.expires != 0) {
                c.not_expressible.add("kept with an expiry the target cannot enforce: it keeps redirecting after " +
                                          timefmt::format_time(link.expires),
                                      name);
            }
            c.redirects.push_back({d.host, code, link.destination,
                                   link.redirect_type != 0 ? link.redirect_type : d.default_redirect,
                                   link.forward_query < 0 ? d.forward_query : link.forward_query == 1,
                                   d.case_insensitive});
        }
        return true;
    }));
    return c;
}

// A link's destination split around where a forwarded query goes, as serve's set_location()
// does: before any '#fragment', after '?' when the destination has no query, '&' when it has one,
// nothing when it already ends in '?' or '&'.
struct SplitDestination {
    std::string before;
    std::string separator;  // "?", "&" or ""
    std::string fragment;   // "#..." or ""
};

SplitDestination split_for_query(const std::string& destination) {
    SplitDestination s;
    const std::size_t hash = destination.find('#');
    s.before = destination.substr(0, hash);
    s.fragment = hash == std::string::npos ? "" : destination.substr(hash);
    if (s.before.find('?') == std::string::npos) {
        s.separator = "?";
    } else if (s.before.back() != '?' && s.before.back() != '&') {
        s.separator = "&";
    }
    return s;
}

std::string header_comment(std::string_view format, std::size_t count, const ServerExport& options) {
    return "# shortlink export --format " + std::string(format) + ": " + std::to_string(count) +
           (count == 1 ? " redirect" : " redirects") + " from " + options.source + " at " +
           timefmt::format_time(options.now) + (options.host.empty() ? "" : ", domain " + options.host) + ".\n";
}

// A double-quoted nginx string whose content is taken literally once the map is evaluated:
// '"' and '\' are escaped for the configuration parser, '$' (which a map value would read as a
// variable, with no escape in nginx 1.22) becomes the variable the export defines as "$".
std::string nginx_quoted(std::string_view text, bool& escaped_dollar) {
    std::string out = "\"";
    for (char ch : text) {
        if (ch == '"' || ch == '\\') {
            out += '\\';
            out += ch;
        } else if (ch == '$') {
            out += "${shortlink_dollar}";
            escaped_dollar = true;
        } else {
            out += ch;
        }
    }
    out += '"';
    return out;
}

// The fixed part of the nginx export: every variable the link map feeds, documented where it is
// defined. The link values are "STATUS FORWARD KEY LOCATION[ #FRAGMENT]" (see write_nginx_map).
constexpr std::string_view k_nginx_derived = R"nginx(# nginx matches map keys regardless of case: on a case-sensitive domain the request must spell
# the key as it is stored (KEY "-": a case-insensitive domain, any spelling).
map $shortlink_link $shortlink_stored_key {
    default "";
    "~^\d{3} \S (\S+)" $1;
}
map "$shortlink_stored_key $shortlink_key" $shortlink_case_ok {
    default 0;
    "~^- " 1;
    "~^(\S+) \1$" 1;
}
# Location: LOCATION, then the request's query after the separator if FORWARD says so and there
# is one, then FRAGMENT.
map "$shortlink_case_ok $shortlink_link |$args" $shortlink_location {
    default "";
    "~^1 \d{3} \? \S+ (\S+)(?: (#\S*))? \|(.+)$" "$1?$3$2";
    "~^1 \d{3} & \S+ (\S+)(?: (#\S*))? \|(.+)$" "$1&$3$2";
    "~^1 \d{3} \+ \S+ (\S+)(?: (#\S*))? \|(.+)$" "$1$3$2";
    "~^1 \d{3} \S \S+ (\S+)(?: (#\S*))? \|" "$1$2";
}
# The redirect status (301, 302, 307 or 308); empty: no link, answer 404.
map "$shortlink_case_ok $shortlink_link" $shortlink_status {
    default "";
    "~^1 (\d{3}) " $1;
}
)nginx";

std::size_t nginx_bucket_size(std::size_t longest_key) {
    std::size_t size = 64;
    while (size < longest_key + 16) {  // a key shares its bucket with a pointer and a length
        size *= 2;
    }
    return size;
}

void write_nginx_map(const Collected& c, const ServerExport& options, OutputSink& out,
                     std::vector<std::string>& report) {
    const bool one_domain = !options.host.empty();
    // nginx folds every key to lower case: on a case-sensitive domain, of codes that differ only
    // in case the first (in the store's order) is kept and the others dropped.
    std::vector<const Redirect*> kept;
    std::set<std::string> folded_keys;
    Tally collisions;
    std::size_t longest_key = 0;
    for (const Redirect& r : c.redirects) {
        const std::string key = (one_domain ? "" : r.host) + "/" + r.code;
        if (!folded_keys.insert(ascii_lower(key)).second) {
            collisions.add("dropped: the code differs only in case from another on a case-sensitive domain, and "
                           "nginx map keys ignore case",
                           r.short_name());
            continue;
        }
        longest_key = std::max(longest_key, key.size());
        kept.push_back(&r);
    }
    std::string text = header_comment("nginx-map", kept.size(), options);
    text += "# Include at nginx's http level; a server block answers from $shortlink_status and\n"
            "# $shortlink_location (docs/fallback-servers.md). Keys are ";
    text += one_domain ? "the path (domain " + options.host + " only).\n"
                       : "HOST/PATH; HOST \"*\" is the default domain (any other host).\n";
    text += "# Needs map_hash_bucket_size " + std::to_string(nginx_bucket_size(longest_key)) +
            " or more and map_hash_max_size " + std::to_string(std::max<std::size_t>(kept.size(), 2048)) +
            " or more.\n\n";
    text += "# A literal '$' for destinations that hold one: nginx reads '$' in a map value as a variable.\n"
            "geo $shortlink_dollar {\n    default \"$\";\n}\n"
            "# The request path with one trailing '/' removed, as shortlink serve tolerates it.\n"
            "map $uri $shortlink_path {\n    default $uri;\n    \"~^(/.+)/$\" $1;\n}\n";
    if (one_domain) {
        text += "map $shortlink_path $shortlink_key {\n    default $shortlink_path;\n}\n";
    } else {
        text += "map $host $shortlink_domain {\n    default \"*\";\n";
        std::set<std::string> hosts;
        for (const Redirect* r : kept) {
            if (r->host != "*" && hosts.insert(r->host).second) {
                text += "    \"" + r->host + "\" \"" + r->host + "\";\n";
            }
        }
        text += "}\nmap $shortlink_domain$shortlink_path $shortlink_key {\n    default $shortlink_domain$shortlink_path;\n}\n";
    }
    text += "# STATUS FORWARD KEY LOCATION[ #FRAGMENT]. FORWARD: \"-\" the query is not forwarded, \"?\" or \"&\"\n"
            "# it is, after that separator, \"+\" it is, with none. KEY: as stored, \"-\" on a case-insensitive\n"
            "# domain.\n"
            "map $shortlink_key $shortlink_link {\n    default \"\";\n";
    out.raw(text);
    Tally escaped;
    for (const Redirect* r : kept) {
        const std::string key = (one_domain ? "" : r->host) + "/" + r->code;
        std::string value = std::to_string(r->status) + " ";
        if (r->forward_query) {
            const SplitDestination s = split_for_query(r->destination);
            value += (s.separator.empty() ? "+" : s.separator) + " " + (r->case_insensitive ? "-" : key) + " " +
                     s.before + (s.fragment.empty() ? "" : " " + s.fragment);
        } else {
            value += "- " + (r->case_insensitive ? "-" : key) + " " + r->destination;
        }
        bool dollar = false;
        out.raw("    " + nginx_quoted(key, dollar) + " " + nginx_quoted(value, dollar) + ";\n");
        if (dollar) {
            escaped.add("written with '$' as ${shortlink_dollar} (nginx reads '$' in a map value as a variable)",
                        r->short_name());
        }
    }
    out.raw("}\n");
    out.raw(k_nginx_derived);
    collisions.report(report);
    escaped.report(report);
}

// A map line's key and value must not hold whitespace (the key ends at the first blank) and the
// value's fields are split on '|'.
bool haproxy_safe(std::string_view text) {
    return text.find_first_of(" \t\r\n|") == std::string_view::npos;
}

void write_haproxy_map(const Collected& c, const ServerExport& options, OutputSink& out,
                       std::vector<std::string>& report) {
    std::string text = header_comment("haproxy-map", c.redirects.size(), options);
    text += "# Load with map() in an HAProxy frontend (docs/fallback-servers.md). Rows:\n"
            "#   @HOST     MODE|HOST: a domain; MODE c: codes are case-sensitive, i: they are not.\n"
            "#             @* is the default domain, which answers any other host.\n"
            "#   HOST/CODE STATUS|FORWARD|SEPARATOR|LOCATION|FRAGMENT: a link (HOST alone: the root URL).\n"
            "#             FORWARD f: the request's query goes after LOCATION and SEPARATOR (\"?\", \"&\" or\n"
            "#             nothing) and before FRAGMENT; n: it does not.\n";
    std::set<std::string> hosts;
    for (const Redirect& r : c.redirects) {
        if (hosts.insert(r.host).second) {
            text += "@" + r.host + " " + (r.case_insensitive ? "i|" : "c|") + r.host + "\n";
        }
    }
    out.raw(text);
    Tally dropped;
    for (const Redirect& r : c.redirects) {
        if (!haproxy_safe(r.destination)) {
            dropped.add("dropped: the destination holds '|' or a blank, which an HAProxy map value cannot",
                        r.short_name());
            continue;
        }
        std::string line = r.host + (r.code.empty() ? "" : "/" + r.code) + " " + std::to_string(r.status) + "|";
        if (r.forward_query) {
            const SplitDestination s = split_for_query(r.destination);
            line += "f|" + s.separator + "|" + s.before + "|" + s.fragment;
        } else {
            line += "n||" + r.destination + "|";
        }
        out.raw(line + "\n");
    }
    dropped.report(report);
}

void write_cloudflare_csv(const Collected& c, OutputSink& out, std::vector<std::string>& report) {
    // Cloudflare's Bulk Redirects list items (API field names, in the order of its CSV import).
    std::string line;
    csv::append_record(line, {"source_url", "target_url", "status_code", "preserve_query_string",
                              "include_subdomains", "subpath_matching", "preserve_path_suffix"});
    out.raw(line);
    Tally dropped;
    Tally inexact;
    for (const Redirect& r : c.redirects) {
        if (r.host == "*") {
            dropped.add("dropped: on the default domain, which answers any host; a Cloudflare source URL needs one",
                        r.short_name());
            continue;
        }
        if (r.case_insensitive) {
            inexact.add("written in its stored (lowercase) spelling only: Cloudflare matches the source URL as written, "
                        "not case-insensitively",
                        r.short_name());
        }
        line.clear();
        // No scheme: the redirect answers both http and https, as serve's plain and TLS listeners do.
        csv::append_record(line, {r.host + "/" + r.code, r.destination, std::to_string(r.status),
                                  r.forward_query ? "true" : "false", "false", "false", "false"});
        out.raw(line);
    }
    dropped.report(report);
    inexact.report(report);
}

}  // namespace

std::optional<ServerFormat> parse_server_format(std::string_view name) {
    if (name == "nginx-map") {
        return ServerFormat::nginx_map;
    }
    if (name == "haproxy-map") {
        return ServerFormat::haproxy_map;
    }
    if (name == "cloudflare-csv") {
        return ServerFormat::cloudflare_csv;
    }
    return std::nullopt;
}

void write_server_export(store::Store& store, const ServerExport& options, std::FILE* out_file,
                         std::vector<std::string>& report) {
    Collected c = collect(store, options);
    OutputSink out(out_file);
    switch (options.format) {
    case ServerFormat::nginx_map: write_nginx_map(c, options, out, report); break;
    case ServerFormat::haproxy_map: write_haproxy_map(c, options, out, report); break;
    case ServerFormat::cloudflare_csv: write_cloudflare_csv(c, out, report); break;
    }
    out.flush();
    c.left_out.report(report);
    c.not_expressible.report(report);
    for (const std::string& host : c.https_domains) {
        report.push_back("domain " + host +
                         " redirects plain HTTP to HTTPS in serve: the target's configuration must do that itself");
    }
}

}  // namespace shortlink::cli
