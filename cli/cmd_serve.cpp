// shortlink serve: the redirect plane (serve/server.h). This file only turns options (or a
// config file, via CLI11's config support) into a ServeConfig; every limit's default and meaning
// lives in serve/config.h and man/shortlink-serve.1.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "formats/origin_index.h"

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "formats/bytes.h"
#include "formats/sha256.h"
#include "serve/config.h"
#include "serve/server.h"

namespace shortlink::cli {
namespace {

struct ServeOptions {
    serve::ServeConfig config;  // limits are bound straight into it
    std::vector<std::string> trust;
    std::vector<std::string> listen;
    std::vector<std::string> tls_listen;
    std::string admin = "127.0.0.1:9090";
    std::vector<std::string> trusted_proxies;
    std::string config_file;
};

serve::Endpoint endpoint_arg(const std::string& text, const char* option) {
    auto endpoint = serve::parse_endpoint(text);
    if (!endpoint) {
        throw Error(k_exit_usage, std::string(option) + ": " + endpoint.status().message());
    }
    return std::move(endpoint).value();
}

// CLI11 2.1 only reads config files declared on the top-level app, so the serve subcommand
// applies its own: every key names a long option ("max-requests = 100", "trust = [...]"), at the
// top level or in a [serve] section; options given on the command line win.
void apply_config_file(CLI::App* sub, const std::string& path) {
    std::vector<CLI::ConfigItem> items;
    try {
        items = CLI::ConfigTOML().from_file(path);
    } catch (const CLI::Error& e) {
        throw Error(k_exit_usage, "--config " + path + ": " + e.what());
    }
    for (const CLI::ConfigItem& item : items) {
        if (item.name == "++" || item.name == "--") {
            continue;  // section markers
        }
        if (!item.parents.empty() && !(item.parents.size() == 1 && item.parents[0] == "serve")) {
            throw Error(k_exit_usage, "--config " + path + ": unknown section '" + item.parents[0] + "'");
        }
        CLI::Option* opt = sub->get_option_no_throw("--" + item.name);
        if (opt == nullptr || item.name == "config" || item.name == "help") {
            throw Error(k_exit_usage, "--config " + path + ": unknown option '" + item.name + "'");
        }
        if (opt->count() > 0) {
            continue;
        }
        try {
            opt->add_result(item.inputs);
            opt->run_callback();
        } catch (const CLI::Error& e) {
            throw Error(k_exit_usage, "--config " + path + ": " + item.name + ": " + e.what());
        }
    }
}

// The documented default of --state-dir: under $STATE_DIRECTORY (systemd's StateDirectory=),
// else /var/lib/shortlink for root, else $XDG_STATE_HOME/shortlink (~/.local/state/shortlink),
// one subdirectory per snapshot directory ("snapshots-" and 16 hex digits of the SHA-256 of its
// absolute path), so two servers on one host never share serials.
std::string default_state_dir(const std::string& snapshot_dir) {
    std::string base;
    if (const char* systemd = std::getenv("STATE_DIRECTORY"); systemd != nullptr && *systemd != '\0') {
        base = std::string(systemd).substr(0, std::string(systemd).find(':'));
    } else if (::geteuid() == 0) {
        base = "/var/lib/shortlink";
    } else if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg != nullptr && *xdg == '/') {
        base = std::string(xdg) + "/shortlink";
    } else if (const char* home = std::getenv("HOME"); home != nullptr && *home == '/') {
        base = std::string(home) + "/.local/state/shortlink";
    } else {
        throw Error(k_exit_usage, "no default for --state-dir (no $STATE_DIRECTORY or $HOME): "
                                  "give --state-dir DIR, or --state-dir none");
    }
    std::error_code ec;
    std::filesystem::create_directories(base, ec);
    const std::string absolute = std::filesystem::absolute(snapshot_dir).lexically_normal().string();
    const formats::Sha256Digest digest = formats::sha256(absolute.data(), absolute.size());
    return base + "/snapshots-" + formats::bytes::hex_encode(digest.data(), 8);
}

void run_serve(ServeOptions& o, CLI::App* sub) {
    serve::ServeConfig& config = o.config;
    if (!o.config_file.empty()) {
        apply_config_file(sub, o.config_file);
    }
    if (config.snapshot_dir.empty()) {
        throw Error(k_exit_usage, "--snapshots is required (on the command line or in --config)");
    }
    if (o.trust.empty()) {
        throw Error(k_exit_usage, "--trust is required (on the command line or in --config)");
    }
    if (!std::filesystem::is_directory(config.snapshot_dir)) {
        throw Error(k_exit_not_found, "--snapshots: '" + config.snapshot_dir + "' is not a directory");
    }
    config.trusted_keys = unwrap(serve::load_trusted_keys(o.trust));
    if (config.state_dir.empty()) {
        config.state_dir = default_state_dir(config.snapshot_dir);
    } else if (config.state_dir == "none") {
        config.state_dir.clear();
    } else if (std::filesystem::exists(config.state_dir) &&
               !std::filesystem::is_directory(config.state_dir)) {
        throw Error(k_exit_usage, "--state-dir: '" + config.state_dir + "' is not a directory");
    }
    config.inherited = unwrap(serve::inherited_sockets());
    const bool inherited_tls = std::any_of(config.inherited.begin(), config.inherited.end(),
                                           [](const serve::InheritedSocket& s) { return s.name == "tls"; });
    if (!config.inherited.empty()) {
        // The passed sockets are the listeners. An address named here as well must be one of
        // them (an upgrade passes every socket the old process had; a .socket unit and a config
        // that agree): binding it again would take it from the sockets passed.
        for (const auto* list : {&o.listen, &o.tls_listen}) {
            for (const std::string& text : *list) {
                const serve::Endpoint e = endpoint_arg(text, list == &o.listen ? "--listen" : "--tls-listen");
                const bool passed = std::any_of(config.inherited.begin(), config.inherited.end(), [&](const auto& s) {
                    return s.local.port() == e.port && s.local.address().to_string() == e.address &&
                           (s.name == "tls") == (list == &o.tls_listen);
                });
                if (!passed) {
                    throw Error(k_exit_usage, std::string(list == &o.listen ? "--listen " : "--tls-listen ") + text +
                                                  ": the service manager passed listening sockets, and none is "
                                                  "bound to this address; name it in the .socket unit");
                }
            }
        }
        o.listen.clear();
        o.tls_listen.clear();
    } else if (o.listen.empty()) {
        o.listen.push_back("127.0.0.1:8080");
    }
    for (const std::string& l : o.listen) {
        config.listen.push_back(endpoint_arg(l, "--listen"));
    }
    for (const std::string& l : o.tls_listen) {
        config.tls_listen.push_back(endpoint_arg(l, "--tls-listen"));
    }
    if ((!config.tls_listen.empty() || inherited_tls) && config.certs_dir.empty()) {
        throw Error(k_exit_usage, std::string(inherited_tls ? "a socket named tls" : "--tls-listen") +
                                      " needs --certs DIR (the certificates to serve)");
    }
    if (config.tls_listen.empty() && !inherited_tls && !config.certs_dir.empty()) {
        throw Error(k_exit_usage, "--certs is only used with --tls-listen ADDR:PORT");
    }
    if (config.tls_listen.empty() && !inherited_tls && sub->get_option("--tls-ticket-rotation")->count() > 0) {
        throw Error(k_exit_usage, "--tls-ticket-rotation is only used with --tls-listen ADDR:PORT");
    }
    if (!config.certs_dir.empty() && !std::filesystem::is_directory(config.certs_dir)) {
        throw Error(k_exit_not_found, "--certs: '" + config.certs_dir + "' is not a directory");
    }
    if (!config.acme_webroot.empty() && !std::filesystem::is_directory(config.acme_webroot)) {
        throw Error(k_exit_not_found, "--acme-webroot: '" + config.acme_webroot +
                                          "' is not a directory (create it before certbot runs)");
    }
    const bool inherited_admin = std::any_of(config.inherited.begin(), config.inherited.end(),
                                             [](const serve::InheritedSocket& s) { return s.name == "admin"; });
    if (o.admin != "none" && !o.admin.empty() && !inherited_admin) {
        config.admin = endpoint_arg(o.admin, "--admin");
    }
    if (config.clicks_dir.empty()) {
        for (const char* name : {"--clicks-buffer", "--clicks-segment-size", "--clicks-segment-age",
                                 "--clicks-networks"}) {
            if (sub->get_option(name)->count() > 0) {
                throw Error(k_exit_usage, std::string(name) + " is only used with --clicks DIR");
            }
        }
    } else if (!std::filesystem::is_directory(config.clicks_dir)) {
        throw Error(k_exit_not_found, "--clicks: '" + config.clicks_dir + "' is not a directory");
    }
    country_header_arg(config.country_header);
    config.trusted_proxies = trusted_proxies_arg(o.trusted_proxies);
    if (!config.geoip_file.empty() && !std::filesystem::exists(config.geoip_file)) {
        throw Error(k_exit_not_found, "--geoip: '" + config.geoip_file + "' does not exist");
    }
    if (config.pull.origins.empty()) {
        for (const char* name : {"--channel", "--pull-interval", "--pull-snapshot-interval", "--pull-timeout", "--ca"}) {
            if (sub->get_option(name)->count() > 0) {
                throw Error(k_exit_usage, std::string(name) + " is only used with --pull URL");
            }
        }
    }
    for (const std::string& url : config.pull.origins) {
        if (const std::string why = serve::pull_url_problem(url); !why.empty()) {
            throw Error(k_exit_usage, "--pull " + url + ": " + why);
        }
    }
    if (const std::string why = formats::channel_name_problem(config.pull.channel); !why.empty()) {
        throw Error(k_exit_usage, "--channel " + config.pull.channel + ": " + why);
    }
    if (!config.pull.ca_file.empty() && !std::filesystem::is_regular_file(config.pull.ca_file)) {
        throw Error(k_exit_not_found, "--ca: '" + config.pull.ca_file + "' is not a file");
    }
    check(serve::run_server(config));
}

}  // namespace

void setup_serve(CLI::App& app, const GlobalOptions& /*globals*/) {
    auto o = std::make_shared<ServeOptions>();
    serve::ServeConfig& c = o->config;
    CLI::App* sub = add_command(app, "serve");
    sub->add_option("--config", o->config_file,
                    "Read any of these options from a TOML or INI file (command line wins)");
    sub->add_option("--snapshots", c.snapshot_dir, "Directory of links-<serial>.slsnap files (required)");
    sub->add_option("--trust", o->trust, "Trusted public key file (repeat for key rotation; required)")
        ->allow_extra_args(false);
    sub->add_option("--listen", o->listen, "Public listener ADDR:PORT (repeatable; default 127.0.0.1:8080)")
        ->allow_extra_args(false);
    sub->add_option("--tls-listen", o->tls_listen,
                    "Public TLS listener ADDR:PORT (repeatable; needs --certs)")
        ->allow_extra_args(false);
    sub->add_option("--certs", c.certs_dir,
                    "Directory of HOST.crt + HOST.key or HOST.pem files for --tls-listen");
    sub->add_option("--acme-webroot", c.acme_webroot,
                    "Answer /.well-known/acme-challenge/TOKEN on --listen from the file DIR/TOKEN");
    sub->add_option("--handshake-timeout", c.handshake_timeout_s, "Seconds a TLS handshake may take (10)")
        ->check(CLI::Range(0.01, 3600.0));
    sub->add_option("--max-handshakes", c.max_handshakes, "TLS handshakes in progress, all threads (1000)")
        ->check(CLI::Range(1u, 10000000u));
    sub->add_option("--tls-ticket-rotation", c.ticket_rotation_s,
                    "Seconds between new TLS session ticket keys (3600; the previous key still resumes)")
        ->check(CLI::Range(1.0, 604800.0));
    sub->add_option("--cert-warn-days", c.cert_warn_days,
                    "/readyz warns about a certificate expiring within this many days (14)")
        ->check(CLI::Range(0.0, 3650.0));
    sub->add_option("--admin", o->admin, "Admin listener ADDR:PORT, or 'none' (default 127.0.0.1:9090)");
    sub->add_option("--threads", c.threads, "Request threads (default: one per core)")
        ->check(CLI::Range(0u, 1024u));
    sub->add_option("--max-header-bytes", c.max_header_bytes, "Request line plus headers, bytes (8192)")
        ->check(CLI::Range(256u, 1u << 20));
    sub->add_option("--max-headers", c.max_header_count, "Header fields per request (100)")
        ->check(CLI::Range(1u, 10000u));
    sub->add_option("--max-body-bytes", c.max_body_bytes, "Request body, read and discarded (1048576)");
    sub->add_option("--header-timeout", c.header_timeout_s, "Seconds to receive a request's headers (60)")
        ->check(CLI::Range(0.01, 86400.0));
    sub->add_option("--keepalive-timeout", c.keepalive_timeout_s, "Seconds an idle connection stays open (75)")
        ->check(CLI::Range(0.01, 86400.0));
    sub->add_option("--send-timeout", c.send_timeout_s, "Seconds a response write may stall (60)")
        ->check(CLI::Range(0.01, 86400.0));
    sub->add_option("--max-requests", c.max_requests_per_connection, "Requests per connection (1000)")
        ->check(CLI::Range(1u, 100000000u));
    sub->add_option("--max-connections", c.max_connections, "Open client connections, all threads (10000)")
        ->check(CLI::Range(1u, 10000000u));
    sub->add_option("--state-dir", c.state_dir,
                    "Where the highest accepted serials and the served files are kept across "
                    "restarts, or 'none' (default: see shortlink-serve(1))");
    sub->add_option("--rescan-interval", c.rescan_interval_s, "Seconds between directory rescans (10)")
        ->check(CLI::Range(0.05, 86400.0));
    sub->add_option("--drain-timeout", c.drain_timeout_s, "Seconds SIGTERM waits for in-flight requests (10)")
        ->check(CLI::Range(0.0, 3600.0));
    sub->add_option("--clicks", c.clicks_dir,
                    "Record a click event per answered request into segment files in DIR");
    sub->add_option("--clicks-buffer", c.clicks_buffer_bytes,
                    "Bytes of click events each request thread buffers; more are dropped (16777216)")
        ->check(CLI::Range(std::uint64_t{65536}, std::uint64_t{1} << 30));
    sub->add_option("--clicks-segment-size", c.clicks_segment_bytes,
                    "Seal a click segment at this many compressed bytes (16777216)")
        ->check(CLI::Range(std::uint64_t{4096}, std::uint64_t{1} << 34));
    sub->add_option("--clicks-segment-age", c.clicks_segment_age_s,
                    "Seal a click segment after this many seconds (300)")
        ->check(CLI::Range(1.0, 86400.0));
    sub->add_flag("--clicks-networks", c.clicks_networks,
                  "Also record the client's network (/24 for IPv4, /48 for IPv6); never its address");
    sub->add_option("--country-header", c.country_header,
                    "Request header a trusted proxy sets to the client's country (e.g. CF-IPCountry)");
    add_query_params_option(sub, c.keep_both_params);
    sub->add_option("--geoip", c.geoip_file,
                    "MaxMind DB file giving the client's country when the country header is absent "
                    "(reloaded when it changes)");
    sub->add_option("--trusted-proxy", o->trusted_proxies,
                    "Proxy address or CIDR whose X-Forwarded-For names the client (repeatable)")
        ->allow_extra_args(false);
    sub->add_option("--miss-budget", c.miss_budget,
                    "Misses (unknown codes and hosts) a client address may have a minute before they are "
                    "answered 429 (120; 0: no limit)")
        ->check(CLI::NonNegativeNumber);
    sub->add_option("--pull", c.pull.origins,
                    "Poll this origin (a directory laid out by publish) for new files; repeat for mirrors, tried in order");
    sub->add_option("--channel", c.pull.channel, "With --pull: the channel whose index to follow (stable)");
    sub->add_option("--pull-interval", c.pull.interval_s, "With --pull: seconds between polls of the index, which bring overlays and patches (1)")
        ->check(CLI::Range(0.05, 3600.0));
    sub->add_option("--pull-snapshot-interval", c.pull.snapshot_interval_s,
                    "With --pull: at least this many seconds between two snapshot fetches; overlays and "
                    "patches do not wait (2)")
        ->check(CLI::Range(0.0, 86400.0));
    sub->add_option("--pull-timeout", c.pull.timeout_s,
                    "With --pull: seconds a request may take; a file gets one more per MiB (10)")
        ->check(CLI::Range(0.1, 3600.0));
    sub->add_option("--ca", c.pull.ca_file, "With --pull over HTTPS: CA certificates to trust (default: the system's)");
    sub->add_option("--cookie-key", c.cookie_key_path,
                    "File of 32+ random bytes (mode 600) signing password and split cookies; share it across a fleet "
                    "(default: STATE_DIR/cookie.key, created on first start)");
    sub->add_option("--password-cookie-max-age", c.password_cookie_max_age_s,
                    "Seconds the cookie set after a right password lets the visitor through (43200)")
        ->check(CLI::Range(60u, 31536000u));
    sub->add_option("--password-threads", c.password_threads, "Threads checking passwords, apart from the request threads (2)")
        ->check(CLI::Range(1u, 64u));
    sub->add_option("--password-queue", c.password_queue,
                    "Password checks waiting for a thread; more are answered 503 (64)")
        ->check(CLI::Range(1u, 100000u));
    sub->add_option("--password-attempts", c.password_attempts_per_client,
                    "Failed password attempts a client address may make in a minute before 429, or 0 (10)")
        ->check(CLI::Range(0u, 1000000u));
    sub->add_option("--password-link-attempts", c.password_attempts_per_link,
                    "Failed password attempts on one link in a minute, from anywhere, before 429, or 0 (100)")
        ->check(CLI::Range(0u, 1000000u));
    sub->callback([o, sub] { run_serve(*o, sub); });
}

}  // namespace shortlink::cli
