// Request-path metrics: one WorkerMetrics per request thread, written only by that thread with
// plain (uncontended) relaxed stores and summed by the admin listener when /metrics is scraped.
// No counter on the request path is shared between threads, so no cache line ping-pongs.
//
// Thread-safety: each Counter has a single writer (its worker thread); any thread may read.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "serve/certificates.h"

namespace shortlink::serve {

// A monotonically increasing count with one writer thread.
class Counter {
public:
    void add(std::uint64_t n = 1) {
        m_value.store(m_value.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    std::uint64_t get() const { return m_value.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> m_value{0};
};

// The status codes counted individually; anything else lands in the last slot ("other").
inline constexpr std::array<std::uint16_t, 15> k_counted_statuses = {
    301, 302, 307, 308, 400, 404, 405, 410, 413, 429, 431, 500, 503, 505, 0};

// Upper bounds of the latency histogram, in microseconds (+Inf is implicit).
inline constexpr std::array<std::uint32_t, 11> k_latency_bounds_us = {
    10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 50000};

std::size_t status_slot(std::uint16_t status);

struct alignas(64) WorkerMetrics {
    std::array<Counter, k_counted_statuses.size()> requests;
    std::array<Counter, k_latency_bounds_us.size() + 1> latency;
    Counter latency_sum_ns;
    Counter connections_opened;
    Counter connections_closed;
    Counter connections_rejected;  // over --max-connections with every connection busy
    Counter connections_evicted;   // closed at --max-connections to make room for a new one
    Counter timeouts_header;
    Counter timeouts_idle;
    Counter timeouts_send;
    Counter unsafe_location;       // Location refused by the response writer
    // accept() failures, indexed by AcceptError (serve/listen_socket.h: EMFILE, ENFILE, ENOBUFS,
    // ENOMEM, other).
    std::array<Counter, 5> accept_errors;
    // ACME challenge requests (serve/acme.h): [0] answered with the file, [1] 404.
    std::array<Counter, 2> acme_challenges;
    // TLS handshakes by how they ended; resumed ones (a session ticket) are also completed.
    Counter tls_handshakes_completed;
    Counter tls_handshakes_resumed;
    Counter tls_handshakes_failed;    // the client's bytes or choices were refused, or it left
    Counter tls_handshakes_timeout;   // --handshake-timeout passed
    Counter tls_handshakes_rejected;  // closed at accept: --max-handshakes in progress
    Counter clicks_dropped;           // click events dropped: this thread's ring was full
    Counter misses_limited;           // misses answered 429: past the client's miss budget
    // Requests from a trusted proxy whose client came from X-Forwarded-For, and those whose
    // walk stopped at an entry that is no address, or after k_max_forwarded_hops addresses.
    Counter forwarded_clients;
    Counter forwarded_malformed;
    Counter forwarded_too_long;
    // Password links: checks done by the pool for this thread's connections, by result; POSTs
    // refused with 429 (too many failures) and with 503 (the pool's queue was full).
    Counter password_checks_ok;
    Counter password_checks_failed;
    Counter password_rate_limited;
    Counter password_busy;

    void count_request(std::uint16_t status) { requests[status_slot(status)].add(); }
    void observe_latency_ns(std::uint64_t ns, std::uint64_t requests_in_batch);
};

// What the snapshot manager reports, copied out under its lock for rendering.
struct SnapshotMetrics {
    bool loaded = false;
    std::uint64_t serial = 0;
    std::int64_t created_at = 0;
    std::int64_t not_after = 0;
    std::uint64_t links = 0;
    bool expired = false;
    bool verified = false;  // false while a cold start's background verification runs
    std::uint64_t swaps = 0;
    std::uint64_t refused_rollback = 0;
    std::uint64_t refused_signature = 0;
    std::uint64_t refused_corrupt = 0;
    std::uint64_t refused_io = 0;
    std::uint64_t deny_entries = 0;  // the deny set baked into the serving snapshot
};

// What the snapshot manager reports of patches.
struct PatchMetrics {
    bool loaded = false;
    std::uint64_t serial = 0;
    std::uint64_t base = 0;
    std::int64_t created_at = 0;
    std::uint64_t links = 0;
    std::uint64_t bytes = 0;
    std::uint64_t swaps = 0;
    std::uint64_t refused_rollback = 0;
    std::uint64_t refused_signature = 0;
    std::uint64_t refused_corrupt = 0;
    std::uint64_t refused_io = 0;
};

// What the snapshot manager reports of deny overlays.
struct OverlayMetrics {
    bool loaded = false;
    bool active = false;  // newer than the serving snapshot: its deny set is the one in force
    std::uint64_t serial = 0;
    std::int64_t created_at = 0;
    std::int64_t loaded_at = 0;
    std::uint64_t links = 0;         // blocked links
    std::uint64_t domains = 0;       // suspended domains
    std::uint64_t destinations = 0;  // blocked destination hosts
    std::uint64_t swaps = 0;
    std::uint64_t refused_rollback = 0;
    std::uint64_t refused_signature = 0;
    std::uint64_t refused_corrupt = 0;
    std::uint64_t refused_io = 0;
};

struct ClickLogMetrics;
class MissBudget;
struct GeoIpReport;

// Prometheus text exposition (version 0.0.4) of everything above; `certificates` is null when
// the server has no TLS listener (the shortlink_tls_* families are then left out), `clicks` null
// without --clicks (the shortlink_clicks_* families are then left out).
// `password_queue`: checks waiting on the password pool now.
std::string render_prometheus(const std::vector<const WorkerMetrics*>& workers,
                              const SnapshotMetrics& snapshot, const OverlayMetrics& overlay,
                              const PatchMetrics& patch, const CertificateReport* certificates,
                              std::int64_t now, const ClickLogMetrics* clicks = nullptr,
                              std::uint64_t password_queue = 0);

// The miss budget's table (serve --miss-budget N, N > 0) at Unix time `now`.
std::string render_miss_budget_metrics(const MissBudget& table, std::uint32_t budget, std::int64_t now);
// The GeoIP database (serve --geoip FILE).
std::string render_geoip_metrics(const GeoIpReport& geoip);

}  // namespace shortlink::serve
