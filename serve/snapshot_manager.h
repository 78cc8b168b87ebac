// SnapshotManager: finds, verifies and publishes what the request threads answer from: the
// snapshot, the newest patch for it, and the deny overlay beside them.
//
// Publication is lock-free for readers: the current pair sits behind a mutex that only the
// manager and refreshing workers take, plus an atomic generation counter. A request thread keeps
// its own std::shared_ptr copies and, once per batch of requests, compares one relaxed atomic load
// against the generation it holds (a few ns); only when that changed does it take the mutex to
// copy the new pointers. An old snapshot is unmapped when the last holder drops it (leveldb's
// Version::Ref/Unref), which the server arranges to happen off the request threads.
//
// Rules (DESIGN.md "The redirect plane"): at start the highest serial that verifies wins, falling
// back to older files; later only a strictly higher serial is accepted (rollback protection); a
// file that fails verification changes nothing but a counter and a log line, and is not opened
// again until its size, mtime or inode changes. The same rules hold for overlays, separately.
//
// Patches: a patch applies only on top of the snapshot whose serial is its base; one for another
// base waits (unjudged) until that base is served, and publishing a new snapshot drops the patch
// of the old one. Patches take the overlays' path: verified in full on the control thread.
//
// Deny sets: a snapshot and a patch carry the deny set they were compiled with; an overlay
// carries the whole deny set at the time it was written. Serials come from one sequence (SPEC.md
// "Serials"), so the newest of them holds the current deny set: an overlay newer than the
// snapshot wins, and a newer compile, which baked in the same blocks, retires older overlays.
//
// Private copies: every file is read into a sealed memory copy (OpenOptions::private_copy) and
// verified and served from there, so nothing done to the published file afterwards (written in
// place, truncated, replaced) changes an answer or faults a request thread; a changed file is a
// new candidate, judged like any other.
//
// State directory: the highest serials accepted and a copy of the verified bytes of the files
// being served are kept there, so a restart starts from the last good files even if the
// watched directory lost them, and never accepts an older serial than before.
//
// Cold start: with nothing to answer from, scan() opens candidates lazily (formats/snapshot.h:
// header, signature and small sections in milliseconds; every other block proven on first touch)
// and publishes at once; settle() then finishes the verification off the request threads. Should
// that fail, the snapshot is withdrawn (503 until a replacement) and the next best file is
// loaded the same way. Swaps while a snapshot is serving verify the candidate fully first.
//
// Thread-safety: scan() and settle() from one thread (the loader) at a time, or before the
// workers start; scan_overlays() from one thread (the control thread, at normal priority, so a
// block is never queued behind a multi-second snapshot verification); generation(), current()
// and report() from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "formats/deny.h"
#include "formats/snapshot.h"
#include "serve/file_stamp.h"
#include "serve/metrics.h"
#include "serve/patched.h"

namespace shortlink::serve {

struct RefusedCandidate {
    std::string path;
    std::string reason;   // rollback, signature, corrupt, io
    std::string message;  // the verifier's precise error
    std::int64_t at = 0;  // Unix seconds
};

// What the request threads answer from.
struct Serving {
    std::shared_ptr<const formats::Snapshot> snapshot;
    std::shared_ptr<const formats::DenyOverlay> overlay;
    std::shared_ptr<const PatchedSnapshot> patched;  // the snapshot with its patch; may be null

    // The deny set in force: that of the newest of the snapshot, its patch and the overlay;
    // nullptr when there is no snapshot.
    const formats::DenySet* deny() const;
};

// What /readyz shows.
struct SnapshotReport {
    SnapshotMetrics metrics;
    OverlayMetrics overlay;
    std::string path;
    std::string key_id;
    std::string overlay_path;
    PatchMetrics patch;
    std::string patch_path;
    std::int64_t loaded_at = 0;
    RefusedCandidate last_refused;  // path empty: none yet
    std::string state_dir;          // empty: no state directory
    std::string state_error;        // why the state directory is not kept, if it is not
};

class SnapshotManager {
public:
    // `state_dir` empty: no state is kept.
    SnapshotManager(std::string dir, std::string state_dir, formats::TrustedKeys trusted,
                    bool prefault, int log_fd);

    // Looks at every snapshot in the directory (and the state directory) and publishes the best
    // acceptable candidate. Returns true when a new snapshot was published.
    bool scan();
    // Finishes the verification of a lazily loaded snapshot (seconds per GB; on the loader
    // thread). Returns true when the serving snapshot changed (withdrawn or replaced). Stops
    // early when `cancel` is set.
    bool settle(const std::atomic<bool>& cancel);
    // The same as scan() for deny overlays: verified in full (milliseconds) and published.
    bool scan_overlays();
    // The same for patches of the serving snapshot (control thread).
    bool scan_patches();

    std::uint64_t generation() const { return m_generation.load(std::memory_order_acquire); }
    // What to answer from and the generation it belongs to.
    std::pair<Serving, std::uint64_t> current() const;
    SnapshotReport report(std::int64_t now) const;

private:
    struct Candidate {
        std::string path;
        std::uint64_t hint = 0;  // the serial the name promises; max() when it promises none
        std::uint64_t base = 0;  // patches: the base serial the name promises
        FileStamp stamp;
    };
    struct Refusals {  // per file kind
        std::uint64_t rollback = 0;
        std::uint64_t signature = 0;
        std::uint64_t corrupt = 0;
        std::uint64_t io = 0;
    };

    std::vector<Candidate> candidates(formats::format::FileKind kind,
                                      std::map<std::string, FileStamp>& seen) const;
    // The acceptable file with the highest serial among `found` (highest promised serial
    // first): at or above `floor` and above the serving one (`current_path` empty: none), for
    // which `wanted` (before opening) and `applies` (after) hold. Judged files are remembered in
    // `seen`; refusals are counted and logged. Overlays and patches, on the control thread.
    template <class File>
    std::shared_ptr<const File> pick_newest(
        const std::vector<Candidate>& found, std::map<std::string, FileStamp>& seen,
        std::uint64_t current_serial, const std::string& current_path, std::uint64_t floor,
        Refusals& refusals, const char* event, const std::function<bool(const Candidate&)>& wanted,
        const std::function<Result<std::shared_ptr<const File>>(const std::string&)>& open,
        const std::function<bool(const File&)>& applies);
    void refuse(const std::string& path, const std::string& reason, const std::string& message,
                Refusals& counts, const char* event);
    void publish(std::shared_ptr<const formats::Snapshot> snapshot);
    void publish_overlay(std::shared_ptr<const formats::DenyOverlay> overlay);
    bool publish_patch(std::shared_ptr<const PatchedSnapshot> patched);  // false: base replaced
    void withdraw(const std::shared_ptr<const formats::Snapshot>& snapshot);
    void note_missing(const std::string& path, std::uint64_t serial, bool& logged);
    // The serving file changed on disk after it was verified (written in place).
    void note_changed(const std::string& path, std::uint64_t serial);

    // The state directory: load at construction, then keep after every publication.
    void load_state();
    void keep_state(formats::format::FileKind kind, const formats::Container& file);

    const std::string m_dir;
    const std::string m_state_dir;
    const formats::TrustedKeys m_trusted;
    const bool m_prefault;
    const int m_log_fd;

    // Files already judged (loaded, refused or superseded), so a rescan does not repeat work.
    std::map<std::string, FileStamp> m_seen;          // loader thread only
    std::map<std::string, FileStamp> m_seen_overlays; // control thread only
    std::map<std::string, FileStamp> m_seen_patches;  // control thread only
    bool m_missing_logged = false;                    // loader thread only
    bool m_overlay_missing_logged = false;            // control thread only

    std::mutex m_state_mutex;  // one writer of the state file at a time
    // The lowest serials acceptable after a restart (the state file's); never lowered.
    std::atomic<std::uint64_t> m_floor_snapshot{0};
    std::atomic<std::uint64_t> m_floor_overlay{0};
    std::atomic<std::uint64_t> m_floor_patch{0};

    mutable std::mutex m_mutex;
    Serving m_current;                // guarded by m_mutex
    std::int64_t m_loaded_at = 0;     // guarded by m_mutex
    std::int64_t m_overlay_loaded_at = 0;  // guarded by m_mutex
    RefusedCandidate m_last_refused;  // guarded by m_mutex
    SnapshotMetrics m_counts;         // guarded by m_mutex (counters only)
    OverlayMetrics m_overlay_counts;  // guarded by m_mutex (counters only)
    PatchMetrics m_patch_counts;      // guarded by m_mutex (counters only)
    Refusals m_patch_refusals;        // guarded by m_mutex
    Refusals m_snapshot_refusals;     // guarded by m_mutex
    Refusals m_overlay_refusals;      // guarded by m_mutex
    std::string m_state_error;        // guarded by m_mutex
    std::atomic<std::uint64_t> m_generation{0};
};

}  // namespace shortlink::serve
