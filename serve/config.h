// ServeConfig: every knob of `shortlink serve`, with defaults modelled on nginx's where nginx
// has an equivalent (named beside each one). cli/cmd_serve.cpp fills it from options or a config
// file; serve/server.h consumes it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "formats/snapshot.h"
#include "formats/status.h"
#include "serve/client_address.h"
#include "serve/listen_socket.h"
#include "serve/miss_budget.h"
#include "serve/puller.h"

namespace shortlink::serve {

struct Endpoint {
    std::string address;  // numeric IPv4 or IPv6 address
    std::uint16_t port = 0;
};

// Parses "ADDR:PORT" or "[V6ADDR]:PORT" (numeric addresses only: a server binds, it does not
// resolve names).
Result<Endpoint> parse_endpoint(const std::string& text);

// Loads every public key file (`shortlink keygen`'s .pub); the first failure is returned as is.
Result<formats::TrustedKeys> load_trusted_keys(const std::vector<std::string>& paths);

struct ServeConfig {
    std::string snapshot_dir;
    // Where the highest accepted serials and references to the served files are kept across
    // restarts (serve/snapshot_manager.h); empty: nothing is kept. cli/cmd_serve.cpp picks the
    // documented default.
    std::string state_dir;
    formats::TrustedKeys trusted_keys;
    std::vector<Endpoint> listen;      // public listeners; default 127.0.0.1:8080
    std::vector<Endpoint> tls_listen;  // public TLS listeners; none by default
    // Listening sockets passed by the service manager (systemd socket activation): named "tls"
    // for TLS, "admin" for the admin listener, else plain. They replace listen and tls_listen.
    std::vector<InheritedSocket> inherited;
    std::string certs_dir;             // HOST.crt + HOST.key or HOST.pem files (serve/certificates.h)
    // ACME HTTP-01 challenge files answered on the plain listeners (serve/acme.h); empty: none.
    std::string acme_webroot;
    Endpoint admin;                    // admin listener; port 0 disables it
    unsigned threads = 0;              // request threads; 0: one per core

    std::uint32_t max_header_bytes = 8192;   // request line + headers (nginx large_client_header_buffers 8k)
    std::uint32_t max_header_count = 100;    // header fields per request
    std::uint64_t max_body_bytes = 1 << 20;  // bodies are read and discarded (nginx client_max_body_size 1m)
    double header_timeout_s = 60;            // first byte to end of headers (nginx client_header_timeout 60s)
    double keepalive_timeout_s = 75;         // idle between requests (nginx keepalive_timeout 75s)
    double send_timeout_s = 60;              // a write that makes no progress (nginx send_timeout 60s)
    std::uint32_t max_requests_per_connection = 1000;  // nginx keepalive_requests 1000
    std::uint32_t max_connections = 10000;   // all threads together; more are accepted and closed
    double rescan_interval_s = 10;           // backstop for missed inotify events
    double drain_timeout_s = 10;             // SIGTERM: time given to in-flight requests
    bool prefault = true;                    // touch every page of a new snapshot before publishing
    // TLS: a handshake takes two round trips; ten seconds covers a slow mobile link many times
    // over and frees a stalled one long before --header-timeout would (nginx uses its header
    // timeout, 60s).
    double handshake_timeout_s = 10;
    // TLS handshakes in progress, all threads together: bounds the memory and the CPU (about a
    // millisecond of one core per full RSA-2048 handshake) a flood of new connections can take.
    std::uint32_t max_handshakes = 1000;
    // /readyz warns about a certificate this close to its expiry (Let's Encrypt renews at 30).
    double cert_warn_days = 14;
    // TLS: how often the session ticket keys rotate (serve/ticket_keys.h); a ticket resumes for
    // one to two of these periods (nginx leaves rotation to the operator; an hour is common).
    double ticket_rotation_s = 3600;
    // Click log (serve/click_log.h): where segments go; empty: no clicks are recorded.
    std::string clicks_dir;
    std::uint64_t clicks_buffer_bytes = 16u << 20;    // per request thread
    std::uint64_t clicks_segment_bytes = 16u << 20;  // seal a segment at this much payload
    double clicks_segment_age_s = 300;               // or this old
    bool clicks_networks = false;                    // keep the client's /24 or /48
    // A request header a trusted proxy in front sets to the client's ISO 3166 country
    // (Cloudflare's CF-IPCountry); recorded in click events. Empty: none is trusted.
    std::string country_header;
    // A MaxMind DB file for the country of clients without the trusted country header
    // (serve/geoip.h); empty: none. Reloaded when it changes.
    std::string geoip_file;
    // Proxies whose X-Forwarded-For is believed (serve/client_address.h); none by default: the
    // client is the connection's peer.
    std::vector<Network> trusted_proxies;
    // Misses (404s) a client address may have a minute before its misses are answered 429
    // (serve/miss_budget.h); 0: no budget.
    std::uint32_t miss_budget = MissBudget::k_default_budget;
    // A forwarded query's parameter replaces the destination's parameter of the same name
    // (false), or both are kept (true: --query-params keep-both).
    bool keep_both_params = false;
    // --pull: an origin (or mirrors) to poll for published files; none by default.
    PullConfig pull;

    // Password links (serve/password_check.h, serve/cookies.h).
    // --cookie-key: the key signing password and split cookies, shared by a fleet; empty: the
    // key kept in state_dir (created on first start), or without one a key for this process.
    std::string cookie_key_path;
    std::uint32_t password_cookie_max_age_s = 12 * 3600;  // a working day on one password
    // Threads checking passwords: two scrypt checks at a time (~60 a second) without taking a
    // request thread's core away on a small host.
    unsigned password_threads = 2;
    // Checks waiting for a thread; beyond, 503 with Retry-After (about a second of work).
    std::uint32_t password_queue = 64;
    // Failed attempts per client address and per link in a minute before 429 (0: no limit).
    std::uint32_t password_attempts_per_client = 10;
    std::uint32_t password_attempts_per_link = 100;
};

// The largest password form body read (a 1024-byte password percent-encoded is at most 3 KiB
// plus "password="); more is answered 413.
inline constexpr std::size_t k_max_password_body = 4096;

}  // namespace shortlink::serve
