// Puller: `shortlink serve --pull URL`. A thread of its own polls an origin laid out by
// `shortlink publish` (formats/origin_index.h) over HTTP or HTTPS, and drops the files its signed
// index names into the snapshot directory, where the server's watcher loads them as it loads any
// file (serve/snapshot_manager.h). Nothing of the request path waits for it.
//
// The origin is never trusted, only the keys are. An index must verify against the trusted keys,
// must not have expired and must not go back in serial; a file must have the size and SHA-256 the
// index gives (checked while it streams into a temporary file, never past the promised size) and
// a signature by a trusted key before it is renamed into place. Anything else is refused, counted
// by reason and logged, and what is served does not change. Mirrors are tried in order; failures
// back off with jitter; conditional requests (ETag) make an unchanged index cost a 304.
//
// Two paces: the index is polled every interval_s (it names the deny overlay and the patch, which
// carry blocks and edits and are small), while a new full snapshot is fetched at most once every
// snapshot_interval_s (a snapshot that arrives sooner waits, with its patch, and is fetched at the
// first poll after that, 304 or not). Where the origin offers a file's zstd form (<name>.zst) it
// is fetched instead and decompressed as it streams; a form that fails any check is refused and
// the plain file fetched in the same poll.
//
// Thread-safety: start() and stop() from the control thread; report() from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ssl/context.hpp>

#include "formats/container.h"
#include "formats/origin_index.h"
#include "formats/status.h"

namespace shortlink::serve {

struct PullConfig {
    std::vector<std::string> origins;  // base URLs (http:// or https://), tried in order
    std::string channel = "stable";
    double interval_s = 1;      // between polls of the index
    double snapshot_interval_s = 2;  // at least this long between the starts of two snapshot fetches
                                     // that succeeded (failures back off on their own)
    double timeout_s = 10;      // a request's deadline; a file gets size / k_min_rate more
    std::string ca_file;        // HTTPS trust anchors; empty: the system's
    std::uint64_t max_file_bytes = std::uint64_t{16} << 30;
};

// Why a pull was refused, the label of shortlink_pull_refused_total.
inline constexpr const char* k_pull_reasons[] = {
    "unreachable",     // connection, TLS or name lookup failed, or the deadline passed
    "http_status",     // an answer other than 200 or 304 (or a redirect that leads nowhere)
    "redirect_loop",   // more redirects than a request follows
    "bad_index",       // the index does not verify: damaged, truncated, another key
    "expired_index",   // its expiry has passed: a frozen origin
    "older_index",     // its serial is below one already accepted: a replayed origin
    "too_large",       // a body longer than allowed or than the index says
    "size_mismatch",   // a file that ended short or whose length header disagrees
    "digest_mismatch", // a file whose SHA-256 is not the index's
    "bad_file",        // a file whose own checks or signature fail
    "local_io",        // writing into the snapshot directory failed
    "bad_compression", // a .zst that is not one sound zstd frame within a 16 MiB window
    "decompressed_too_large",  // a .zst that decompresses past the file's size (a zstd bomb)
};

struct PullReport {
    bool enabled = false;
    std::int64_t last_success = 0;      // Unix seconds of the last index fetched or confirmed
    std::int64_t last_attempt = 0;
    std::uint64_t index_serial = 0;     // of the last accepted index
    std::int64_t index_expires_at = 0;
    std::string origin;                 // the mirror that last answered
    std::string last_error;
    std::uint64_t polls = 0;
    std::uint64_t not_modified = 0;
    std::uint64_t indexes_accepted = 0;
    std::uint64_t files_fetched = 0;
    std::uint64_t bytes_fetched = 0;     // of the files placed, as they are on disk
    std::uint64_t received_bytes = 0;    // of every body received: indexes, files, compressed or not, refused too
    std::uint64_t zstd_files = 0;        // files fetched in their compressed form
    std::uint64_t zstd_fallbacks = 0;    // compressed forms refused, the plain file fetched instead
    std::uint64_t snapshots_deferred = 0;  // new snapshots that waited for snapshot_interval_s
    std::map<std::string, std::uint64_t> refused;  // by reason
};

class Puller {
public:
    Puller(PullConfig config, std::string snapshot_dir, formats::TrustedKeys trusted, int log_fd);
    ~Puller();
    Puller(const Puller&) = delete;
    Puller& operator=(const Puller&) = delete;

    void start();
    void stop();
    PullReport report() const;

private:
    struct Origin;
    void run();
    // One poll over the mirrors; true when one of them answered with a usable index.
    bool poll();
    Status poll_origin(Origin& origin, std::string& reason);
    // Fetches what `c` names and the directory lacks; false when a snapshot waits for its interval.
    bool fetch_named(Origin& origin, const formats::OriginIndex::Contents& c, boost::asio::ssl::context& tls);
    // One file: its compressed form first when offered, then the plain file if that was refused.
    void fetch_file(Origin& origin, const formats::IndexedFile& f, boost::asio::ssl::context& tls);
    void fetch_form(Origin& origin, const formats::IndexedFile& f, bool compressed, boost::asio::ssl::context& tls);
    // Whether the directory holds f with the index's bytes.
    bool held(const formats::IndexedFile& f);
    void received(std::size_t bytes);
    void refuse(const std::string& reason, const std::string& detail);

    PullConfig m_config;
    std::string m_dir;
    formats::TrustedKeys m_trusted;
    int m_log_fd;
    std::vector<Origin> m_origins;
    std::unique_ptr<boost::asio::ssl::context> m_tls;  // made on the puller's thread at its first poll

    // Files known to be in the directory with the index's bytes: name -> SHA-256 (hex).
    std::map<std::string, std::string> m_have;
    // The accepted index while a snapshot it names waits for snapshot_interval_s.
    std::optional<formats::OriginIndex::Contents> m_pending;
    std::optional<std::chrono::steady_clock::time_point> m_last_snapshot;  // start of the last snapshot fetched
    std::uint64_t m_deferred_serial = 0;  // the last snapshot counted as deferred

    mutable std::mutex m_mutex;  // guards m_report and m_stop
    std::condition_variable m_wake;
    PullReport m_report;
    bool m_stop = false;
    std::atomic<bool> m_cancel{false};  // m_stop, for the transfer in progress
    std::thread m_thread;
};

// The Prometheus lines of a report (every refusal reason, zero ones too).
std::string render_pull_metrics(const PullReport& report);

// The "pull" member of /readyz: where from, how stale, the index in force and the last error.
std::string readyz_pull(const PullReport& report, std::int64_t now);

// Why a pull URL cannot be used (empty when it can): http or https, a host, no query or fragment.
std::string pull_url_problem(const std::string& url);

}  // namespace shortlink::serve
