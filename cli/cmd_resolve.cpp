// shortlink resolve FILE URL: what a server answering from FILE would say to a GET of URL,
// computed by the same function the server calls (serve/answer.h), with the deny overlay the
// server would load beside it (or --overlay FILE), for a client described by --header and
// --client-ip (what a link's rules read). The tool for CI checks.
#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/snapshot_cli.h"
#include "compiler/publish.h"
#include "formats/clock.h"
#include "formats/file_names.h"
#include "formats/snapshot.h"
#include "serve/patched.h"
#include "serve/snapshot_manager.h"
#include "serve/answer.h"
#include "serve/client_address.h"
#include "serve/cookies.h"
#include "serve/config.h"
#include "serve/geoip.h"
#include "serve/log.h"

namespace shortlink::cli {
namespace {

struct ResolveOptions {
    std::string file;
    std::vector<std::string> urls;
    std::vector<std::string> trust;
    std::string at;
    std::string overlay;
    bool no_overlay = false;
    std::string patch;
    bool no_patch = false;
    bool head = false;
    bool json = false;
    bool keep_both_params = false;
    std::vector<std::string> headers;
    std::string client_ip;
    std::string country_header;
    std::string geoip;
    std::vector<std::string> trusted_proxies;
    std::string cookie_key;
};

bool is_token_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool same_name(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

// The request headers of --header "Name: value" as the server's parser keeps them: the first
// non-empty value of a name counts, without surrounding spaces. Headers no answer reads are accepted and
// ignored, as the server ignores them.
struct ClientHeaders {
    std::vector<std::pair<std::string, std::string>> fields;

    std::string_view get(std::string_view name) const {
        for (const auto& [n, v] : fields) {
            if (!v.empty() && same_name(n, name)) {
                return v;
            }
        }
        return {};
    }
    // Every non-empty value of `name`, in order (X-Forwarded-For's lines).
    std::vector<std::string_view> all(std::string_view name) const {
        std::vector<std::string_view> out;
        for (const auto& [n, v] : fields) {
            if (!v.empty() && same_name(n, name)) {
                out.emplace_back(v);
            }
        }
        return out;
    }
};

ClientHeaders headers_arg(const std::vector<std::string>& headers) {
    ClientHeaders out;
    for (const std::string& h : headers) {
        const std::size_t colon = h.find(':');
        const std::string name = h.substr(0, colon);
        if (colon == std::string::npos || name.empty() || !std::all_of(name.begin(), name.end(), is_token_char)) {
            throw Error(k_exit_usage, "--header: '" + h + "' is not 'Name: value'");
        }
        std::string value = h.substr(colon + 1);
        if (std::any_of(value.begin(), value.end(), [](char c) {
                return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f;
            })) {
            throw Error(k_exit_usage, "--header: the value of '" + name + "' holds a control character");
        }
        const std::size_t first = value.find_first_not_of(" \t");
        value = first == std::string::npos ? std::string() : value.substr(first, value.find_last_not_of(" \t") - first + 1);
        out.fields.emplace_back(name, value);
    }
    return out;
}

// --client-ip: an IPv4 or IPv6 address, as rules compare it (IPv4 as ::ffff:a.b.c.d).
void client_ip_arg(const std::string& text, serve::ClientInput& client) {
    if (text.empty()) {
        return;
    }
    in_addr v4{};
    in6_addr v6{};
    if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) {
        client.address = {};
        client.address[10] = 0xff;
        client.address[11] = 0xff;
        std::memcpy(client.address.data() + 12, &v4, 4);
    } else if (::inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
        std::memcpy(client.address.data(), &v6, 16);
    } else {
        throw Error(k_exit_usage, "--client-ip: '" + text + "' is not an IPv4 or IPv6 address");
    }
    client.has_address = true;
}

std::string json_string(std::string_view s) {
    std::string out;
    serve::append_json_string(out, s);
    return out;
}

std::string directory_of(const std::string& path) {
    const std::size_t slash = path.rfind('/');
    return slash == std::string::npos ? "." : path.substr(0, slash);
}

void run_resolve(const ResolveOptions& o) {
    formats::OpenOptions open_options;
    formats::TrustedKeys keys = unwrap(serve::load_trusted_keys(o.trust));
    if (keys.empty()) {
        open_options.verify_signature = false;  // structure and checksums are still verified
    }
    const auto snapshot = unwrap(formats::Snapshot::open(o.file, keys, open_options));
    for (const std::string& url : o.urls) {
        if (url.find("://") == std::string::npos) {
            throw Error(k_exit_usage, "URL must be absolute (http://host/code), got '" + url + "'");
        }
    }
    const std::int64_t now = o.at.empty() ? clock::unix_seconds() : time_arg(o.at, "--at");
    country_header_arg(o.country_header);
    const ClientHeaders headers = headers_arg(o.headers);
    serve::ClientInput client;
    client_ip_arg(o.client_ip, client);
    client.user_agent = headers.get("User-Agent");
    client.accept_language = headers.get("Accept-Language");
    client.ch_mobile = headers.get("Sec-CH-UA-Mobile");
    client.ch_platform = headers.get("Sec-CH-UA-Platform");
    if (!o.country_header.empty()) {
        client.country = headers.get(o.country_header);
    }
    // The client behind a trusted proxy, as serve reads it (serve/client_address.h): --client-ip
    // is then the proxy's address, the connection's peer.
    const serve::TrustedProxies trusted(trusted_proxies_arg(o.trusted_proxies));
    const std::vector<std::string_view> forwarded = headers.all("X-Forwarded-For");
    if (!trusted.empty() && !forwarded.empty()) {
        if (!client.has_address) {
            throw Error(k_exit_usage, "--trusted-proxy with an X-Forwarded-For --header needs --client-ip "
                                      "(the address of the proxy the request comes from)");
        }
        client.address = serve::forwarded_client(client.address, trusted, forwarded.data(), forwarded.size()).address;
    }
    std::shared_ptr<const serve::GeoIpDatabase> geoip;
    if (!o.geoip.empty()) {
        geoip = unwrap(serve::GeoIpDatabase::open(o.geoip));
        client.country_source = geoip.get();
    }
    // Cookies are checked against the key a server would use: --cookie-key FILE; without it no
    // cookie is valid, and a password link answers with its form.
    std::optional<serve::CookieKey> cookie_key;
    if (!o.cookie_key.empty()) {
        cookie_key = unwrap(serve::CookieKey::load(o.cookie_key));
    }
    const std::string_view cookie = headers.get("Cookie");
    // The head a server would have read them from, for a domain that trusts a country header of
    // its own (serve/answer.h head_field()).
    std::string head = "GET / HTTP/1.1\r\n";
    for (const auto& [name, value] : headers.fields) {
        head += name + ": " + value + "\r\n";
    }
    head += "\r\n";
    serve::Serving serving;
    serving.snapshot = snapshot;
    // The patch and the overlay the server would hold: given, else the newest valid ones beside
    // FILE.
    if (!o.patch.empty()) {
        auto patch = unwrap(formats::Snapshot::open_patch(o.patch, keys, open_options));
        serving.patched = serve::PatchedSnapshot::make(snapshot, patch);
        if (!serving.patched) {
            throw Error(k_exit_usage, o.patch + " is a patch for serial " +
                                          std::to_string(patch->base_serial()) + ", not for " +
                                          std::to_string(snapshot->serial()));
        }
    } else if (!o.no_patch) {
        if (auto patch = newest_patch(directory_of(o.file), *snapshot, keys)) {
            serving.patched = serve::PatchedSnapshot::make(snapshot, std::move(patch));
        }
    }
    if (!o.overlay.empty()) {
        serving.overlay = unwrap(formats::DenyOverlay::open(o.overlay, keys, open_options));
    } else if (!o.no_overlay) {
        serving.overlay = newest_overlay(directory_of(o.file), keys, !keys.empty());
    }
    const formats::DenySet* deny = serving.deny();
    const char* deny_from = deny == &snapshot->deny() ? "snapshot"
                            : serving.overlay && deny == &serving.overlay->deny() ? "overlay"
                                                                                   : "patch";
    if (keys.empty()) {
        std::cerr << "shortlink: warning: signature not checked (no --trust given)\n";
    }
    for (const std::string& url : o.urls) {
        // An absolute-form request-target carries its own authority, exactly as a proxy sends it.
        serve::Request request;
        request.method = o.head ? serve::Method::head : serve::Method::get;
        request.target = url;
        request.keep_both_params = o.keep_both_params;
        request.client = client;
        request.country_header = o.country_header;
        request.head = head;
        request.cookie = cookie;
        request.cookie_key = cookie_key ? &*cookie_key : nullptr;
        // An https:// URL is answered as the TLS listener would (HSTS), http:// as a plain one.
        request.tls = url.size() >= 8 && (url.compare(0, 8, "https://") == 0 || url.compare(0, 8, "HTTPS://") == 0);
        const serve::Response r = serving.patched ? serve::answer(serving.patched.get(), deny, request, now)
                                                  : serve::answer(snapshot.get(), deny, request, now);
        if (r.status == 400) {
            throw Error(k_exit_usage, "URL is not a valid http(s) URL: '" + url + "'");
        }
        const std::string location = serve::location_string(r);
        const std::string cache = serve::cache_control_string(r);
        const std::string hsts = serve::hsts_string(r);
        const std::string vary = serve::vary_string(r);
        if (o.json) {
            std::cout << "{\"url\":" << json_string(url) << ",\"status\":" << r.status
                      << ",\"reason\":" << json_string(serve::reason_name(r.reason))
                      << ",\"location\":" << (location.empty() ? "null" : json_string(location))
                      << ",\"cache_control\":" << (cache.empty() ? "null" : json_string(cache))
                      << ",\"strict_transport_security\":" << (hsts.empty() ? "null" : json_string(hsts))
                      << ",\"vary\":" << (vary.empty() ? "null" : json_string(vary))
                      << ",\"rule\":" << (r.rule == 0 ? std::string("null") : std::to_string(r.rule))
                      << ",\"serial\":" << snapshot->serial() << ",\"patch_serial\":"
                      << (serving.patched ? std::to_string(serving.patched->patch().serial())
                                          : std::string("null"))
                      << ",\"overlay_serial\":"
                      << (serving.overlay ? std::to_string(serving.overlay->serial()) : std::string("null"))
                      << ",\"deny_from\":\"" << deny_from << "\""
                      << ",\"signature_checked\":" << (keys.empty() ? "false" : "true") << "}\n";
            continue;
        }
        if (o.urls.size() > 1) {
            std::cout << url << '\n';
        }
        std::cout << "HTTP/1.1 " << r.status << ' ' << serve::status_text(r.status) << '\n';
        if (!location.empty()) {
            std::cout << "Location: " << location << '\n';
        }
        if (!cache.empty()) {
            std::cout << "Cache-Control: " << cache << '\n';
        }
        if (!vary.empty()) {
            std::cout << "Vary: " << vary << '\n';
        }
        if (!hsts.empty()) {
            std::cout << "Strict-Transport-Security: " << hsts << '\n';
        }
        if (r.status == 405) {
            std::cout << "Allow: GET, HEAD\n";
        }
        if (r.password != nullptr) {
            std::cout << "Referrer-Policy: no-referrer\n";
        }
        if (r.reason == serve::Reason::password_form) {
            std::cout << "Content-Type: text/html; charset=utf-8\n(the password form)\n";
        }
    }
}

}  // namespace

void setup_resolve(CLI::App& app, const GlobalOptions& /*globals*/) {
    auto o = std::make_shared<ResolveOptions>();
    CLI::App* sub = add_command(app, "resolve");
    sub->add_option("FILE", o->file, "Snapshot file (.slsnap)")->required();
    sub->add_option("URL", o->urls,
                    "Absolute URL to resolve, e.g. https://go.example.com/docs (several: one answer each)")
        ->required();
    sub->add_option("--trust", o->trust,
                    "Trusted public key file (repeatable); without it the signature is not checked")
        ->allow_extra_args(false);
    sub->add_option("--at", o->at, "Answer as of this time (RFC 3339, or a duration from now like 7d)");
    sub->add_option("--overlay", o->overlay,
                    "Deny overlay to apply (default: the newest valid deny-<serial>.sldeny beside FILE)");
    sub->add_flag("--no-overlay", o->no_overlay, "Apply no deny overlay, only the snapshot's own deny set");
    sub->add_option("--patch", o->patch,
                    "Patch to apply on FILE (default: the newest valid patch-<FILE's serial>-*.slpatch beside it)");
    sub->add_flag("--no-patch", o->no_patch, "Apply no patch");
    sub->add_flag("--head", o->head, "Resolve a HEAD request instead of GET");
    sub->add_flag("--json", o->json, "Print the answer as one JSON object");
    add_query_params_option(sub, o->keep_both_params);
    sub->add_option("--header", o->headers,
                    "A request header 'Name: value' of the client (repeatable): User-Agent, Accept-Language, "
                    "Sec-CH-UA-Mobile, Sec-CH-UA-Platform, the --country-header")
        ->allow_extra_args(false);
    sub->add_option("--cookie-key", o->cookie_key,
                    "The key serve --cookie-key signs cookies with: a Cookie header's password and split cookies "
                    "count only with it");
    sub->add_option("--client-ip", o->client_ip, "The client's IPv4 or IPv6 address (ip rules, splits)");
    sub->add_option("--country-header", o->country_header,
                    "The request header trusted for the client's country, as serve --country-header");
    sub->add_option("--geoip", o->geoip,
                    "A MaxMind DB file for the client's country when the country header is absent, as serve --geoip");
    sub->add_option("--trusted-proxy", o->trusted_proxies,
                    "A proxy (address or CIDR) whose X-Forwarded-For is believed, as serve --trusted-proxy "
                    "(repeatable); --client-ip is then the proxy's address")
        ->allow_extra_args(false);
    sub->callback([o] { run_resolve(*o); });
}

}  // namespace shortlink::cli
