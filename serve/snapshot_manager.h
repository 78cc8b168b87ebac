// SnapshotManager: finds, verifies and publishes the snapshot the request threads answer from.
//
// Publication is lock-free for readers: the current snapshot sits behind a mutex that only the
// manager and refreshing workers take, plus an atomic generation counter. A request thread keeps
// its own std::shared_ptr copy and, once per batch of requests, compares one relaxed atomic load
// against the generation it holds (a few ns); only when that changed does it take the mutex to
// copy the new pointer. The old snapshot is unmapped when the last holder drops it (leveldb's
// Version::Ref/Unref), which the server arranges to happen off the request threads.
//
// Rules (DESIGN.md "The redirect plane"): at start the highest serial that verifies wins, falling
// back to older files; later only a strictly higher serial is accepted (rollback protection); a
// file that fails verification changes nothing but a counter and a log line, and is not opened
// again until its size, mtime or inode changes.
//
// Cold start: with nothing to answer from, scan() opens candidates lazily (formats/snapshot.h:
// header, signature and small sections in milliseconds; every other block proven on first touch)
// and publishes at once; settle() then finishes the verification off the request threads. Should
// that fail, the snapshot is withdrawn (503 until a replacement) and the next best file is
// loaded the same way. Swaps while a snapshot is serving verify the candidate fully first.
//
// Thread-safety: scan() and settle() from one thread (the loader) at a time, or before the
// workers start; generation(), current() and report() from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "formats/snapshot.h"
#include "serve/metrics.h"

namespace shortlink::serve {

struct RefusedCandidate {
    std::string path;
    std::string reason;   // rollback, signature, corrupt, io
    std::string message;  // the verifier's precise error
    std::int64_t at = 0;  // Unix seconds
};

// What /readyz shows.
struct SnapshotReport {
    SnapshotMetrics metrics;
    std::string path;
    std::string key_id;
    std::int64_t loaded_at = 0;
    RefusedCandidate last_refused;  // path empty: none yet
};

class SnapshotManager {
public:
    SnapshotManager(std::string dir, formats::TrustedKeys trusted, bool prefault, int log_fd);

    // Looks at every *.slsnap in the directory and publishes the best acceptable candidate.
    // Returns true when a new snapshot was published.
    bool scan();
    // Finishes the verification of a lazily loaded snapshot (seconds per GB; on the loader
    // thread). Returns true when the serving snapshot changed (withdrawn or replaced). Stops
    // early when `cancel` is set.
    bool settle(const std::atomic<bool>& cancel);

    std::uint64_t generation() const { return m_generation.load(std::memory_order_acquire); }
    // The current snapshot (nullptr before the first) and the generation it belongs to.
    std::pair<std::shared_ptr<const formats::Snapshot>, std::uint64_t> current() const;
    SnapshotReport report(std::int64_t now) const;

private:
    struct FileStamp {
        std::uint64_t size = 0;
        std::int64_t mtime_ns = 0;
        std::uint64_t inode = 0;
        bool operator==(const FileStamp&) const = default;
    };

    void refuse(const std::string& path, const std::string& reason, const std::string& message);
    void publish(std::shared_ptr<const formats::Snapshot> snapshot);
    void withdraw(const std::shared_ptr<const formats::Snapshot>& snapshot);

    const std::string m_dir;
    const formats::TrustedKeys m_trusted;
    const bool m_prefault;
    const int m_log_fd;

    // Files already judged (loaded, refused or superseded), so a rescan does not repeat work.
    std::map<std::string, FileStamp> m_seen;  // control thread only

    mutable std::mutex m_mutex;
    std::shared_ptr<const formats::Snapshot> m_current;  // guarded by m_mutex
    std::int64_t m_loaded_at = 0;                         // guarded by m_mutex
    RefusedCandidate m_last_refused;                      // guarded by m_mutex
    SnapshotMetrics m_counts;                             // guarded by m_mutex (counters only)
    std::atomic<std::uint64_t> m_generation{0};
};

}  // namespace shortlink::serve
