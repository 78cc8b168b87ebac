#include "serve/snapshot_manager.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <ctime>
#include <dirent.h>
#include <time.h>
#include <limits>
#include <sys/stat.h>
#include <vector>

#include "serve/log.h"

namespace shortlink::serve {

namespace {

constexpr std::string_view k_suffix = ".slsnap";
constexpr std::string_view k_prefix = "links-";

// The serial a file name promises ("links-42.slsnap" -> 42); max() when the name does not follow
// the pattern, so such files are opened and judged by their header.
std::uint64_t name_serial(std::string_view name) {
    if (name.size() <= k_prefix.size() + k_suffix.size() || name.substr(0, k_prefix.size()) != k_prefix) {
        return std::numeric_limits<std::uint64_t>::max();
    }
    const std::string_view digits =
        name.substr(k_prefix.size(), name.size() - k_prefix.size() - k_suffix.size());
    std::uint64_t v = 0;
    const auto res = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (res.ec != std::errc() || res.ptr != digits.data() + digits.size()) {
        return std::numeric_limits<std::uint64_t>::max();
    }
    return v;
}

std::string refusal_reason(const Status& status) {
    switch (status.code()) {
    case Status::Code::permission_denied: return "signature";
    case Status::Code::corruption:
    case Status::Code::unsupported:
    case Status::Code::invalid_argument: return "corrupt";
    default: return "io";
    }
}

std::int64_t unix_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

// The loader's passes over a snapshot (verifying, prefaulting, unmapping: seconds of CPU at 10M
// links) sleep 50 us after every 200 us of work. SCHED_IDLE alone does not keep them off a busy
// core: the kernel weighs the loader against other processes (the load generator, a proxy on
// the host, anything in another session or cgroup) through the server's task group, which is
// not idle, and a loader once picked ran until the next tick. During a 10M-link swap under load
// that held the load generator off its core for 4 to 12 ms at a time (perf sched timehist), and
// p99 rose 2.4x to 4.8x; the pauses bound each such stall to about 200 us.
constexpr auto k_loader_burst = std::chrono::microseconds(200);
constexpr timespec k_loader_pause{0, 50'000};

void pace_loader() {
    thread_local auto burst_start = std::chrono::steady_clock::now();
    if (std::chrono::steady_clock::now() - burst_start >= k_loader_burst) {
        ::nanosleep(&k_loader_pause, nullptr);
        burst_start = std::chrono::steady_clock::now();
    }
}

}  // namespace

SnapshotManager::SnapshotManager(std::string dir, formats::TrustedKeys trusted, bool prefault,
                                 int log_fd)
    : m_dir(std::move(dir)), m_trusted(std::move(trusted)), m_prefault(prefault), m_log_fd(log_fd) {}

std::pair<std::shared_ptr<const formats::Snapshot>, std::uint64_t> SnapshotManager::current() const {
    std::lock_guard lock(m_mutex);
    return {m_current, m_generation.load(std::memory_order_relaxed)};
}

SnapshotReport SnapshotManager::report(std::int64_t now) const {
    std::lock_guard lock(m_mutex);
    SnapshotReport r;
    r.metrics = m_counts;
    r.last_refused = m_last_refused;
    r.loaded_at = m_loaded_at;
    if (m_current) {
        r.metrics.loaded = true;
        r.metrics.serial = m_current->serial();
        r.metrics.created_at = m_current->created_at();
        r.metrics.not_after = m_current->not_after();
        r.metrics.links = m_current->link_count();
        r.metrics.expired = m_current->not_after() != 0 && now > m_current->not_after();
        r.metrics.verified = m_current->fully_verified();
        r.path = m_current->path();
        r.key_id = std::string(m_current->key_id());
    }
    return r;
}

void SnapshotManager::refuse(const std::string& path, const std::string& reason,
                             const std::string& message) {
    {
        std::lock_guard lock(m_mutex);
        m_last_refused = RefusedCandidate{path, reason, message, unix_now()};
        if (reason == "rollback") {
            ++m_counts.refused_rollback;
        } else if (reason == "signature") {
            ++m_counts.refused_signature;
        } else if (reason == "corrupt") {
            ++m_counts.refused_corrupt;
        } else {
            ++m_counts.refused_io;
        }
    }
    LogLine("warn", "snapshot_refused").str("path", path).str("reason", reason)
        .str("detail", message).emit(m_log_fd);
}

void SnapshotManager::publish(std::shared_ptr<const formats::Snapshot> snapshot) {
    const std::uint64_t serial = snapshot->serial();
    const std::uint64_t links = snapshot->link_count();
    const std::string path = snapshot->path();
    std::shared_ptr<const formats::Snapshot> old;
    {
        std::lock_guard lock(m_mutex);
        old = std::move(m_current);
        m_current = std::move(snapshot);
        m_loaded_at = unix_now();
        ++m_counts.swaps;
        m_generation.fetch_add(1, std::memory_order_release);
    }
    LogLine("info", "snapshot_loaded").str("path", path).num("serial", static_cast<std::int64_t>(serial))
        .num("links", static_cast<std::int64_t>(links)).emit(m_log_fd);
    // `old` is released here, on the control thread, unless a worker still holds it.
}

bool SnapshotManager::scan() {
    struct Candidate {
        std::string name;
        std::uint64_t hint;
        FileStamp stamp;
    };
    std::vector<Candidate> candidates;
    DIR* dir = ::opendir(m_dir.c_str());
    if (dir == nullptr) {
        LogLine("error", "snapshot_dir_unreadable").str("dir", m_dir).emit(m_log_fd);
        return false;
    }
    while (const dirent* entry = ::readdir(dir)) {
        const std::string_view name(entry->d_name);
        if (name.empty() || name.front() == '.' || name.size() <= k_suffix.size() ||
            name.substr(name.size() - k_suffix.size()) != k_suffix) {
            continue;
        }
        struct stat st {};
        const std::string path = m_dir + "/" + std::string(name);
        if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
            continue;
        }
        candidates.push_back({std::string(name), name_serial(name),
                              FileStamp{static_cast<std::uint64_t>(st.st_size),
                                        static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 +
                                            st.st_mtim.tv_nsec,
                                        static_cast<std::uint64_t>(st.st_ino)}});
    }
    ::closedir(dir);

    // Forget files that disappeared so the map stays the size of the directory.
    for (auto it = m_seen.begin(); it != m_seen.end();) {
        const bool present = std::any_of(candidates.begin(), candidates.end(),
                                         [&](const Candidate& c) { return c.name == it->first; });
        it = present ? std::next(it) : m_seen.erase(it);
    }
    std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
        return a.hint != b.hint ? a.hint > b.hint : a.name > b.name;
    });

    const auto [current, generation] = SnapshotManager::current();
    (void)generation;
    const std::uint64_t current_serial = current ? current->serial() : 0;
    // The best acceptable candidate. File names only order the search: a name can lie, so the
    // search goes on while a name promises more than the best serial found so far.
    std::shared_ptr<const formats::Snapshot> best;
    for (const Candidate& c : candidates) {
        const auto seen = m_seen.find(c.name);
        if (seen != m_seen.end() && seen->second == c.stamp) {
            continue;
        }
        m_seen[c.name] = c.stamp;
        const std::string path = m_dir + "/" + c.name;
        const bool named = c.hint != std::numeric_limits<std::uint64_t>::max();
        if (best && named && c.hint <= best->serial()) {
            continue;  // older than what is about to be published: superseded, not an attack
        }
        if (current && named && c.hint <= current_serial) {
            refuse(path, "rollback", "file name serial " + std::to_string(c.hint) +
                                         " is not above the serving serial " +
                                         std::to_string(current_serial));
            continue;
        }
        formats::OpenOptions options;
        options.lazy_content = !current;  // cold start: answer first, finish in settle()
        options.pace = pace_loader;
        auto opened = formats::Snapshot::open(path, m_trusted, options);
        if (!opened) {
            refuse(path, refusal_reason(opened.status()), opened.status().to_string());
            continue;
        }
        std::shared_ptr<const formats::Snapshot> snapshot = std::move(opened).value();
        if (current && snapshot->serial() <= current_serial) {
            refuse(path, "rollback", "serial " + std::to_string(snapshot->serial()) +
                                         " is not above the serving serial " +
                                         std::to_string(current_serial));
            continue;
        }
        if (!best || snapshot->serial() > best->serial()) {
            best = std::move(snapshot);
        }
    }
    if (!best) {
        return false;
    }
    if (m_prefault && best->fully_verified()) {
        best->prefault();  // a lazy load faults pages in as settle() reads them instead
    }
    publish(std::move(best));
    return true;
}

void SnapshotManager::withdraw(const std::shared_ptr<const formats::Snapshot>& snapshot) {
    std::shared_ptr<const formats::Snapshot> old;
    {
        std::lock_guard lock(m_mutex);
        if (m_current != snapshot) {
            return;
        }
        old = std::move(m_current);
        m_current = nullptr;
        m_generation.fetch_add(1, std::memory_order_release);
    }
    LogLine("error", "snapshot_withdrawn").str("path", snapshot->path())
        .num("serial", static_cast<std::int64_t>(snapshot->serial())).emit(m_log_fd);
}

bool SnapshotManager::settle(const std::atomic<bool>& cancel) {
    bool changed = false;
    while (!cancel.load()) {
        const auto [snapshot, generation] = current();
        (void)generation;
        if (!snapshot || snapshot->fully_verified()) {
            return changed;
        }
        const auto started = std::chrono::steady_clock::now();
        const Status status = snapshot->finish_verification(&cancel);
        if (cancel.load()) {
            return changed;
        }
        if (status) {
            const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
            LogLine("info", "snapshot_verified").str("path", snapshot->path())
                .num("serial", static_cast<std::int64_t>(snapshot->serial()))
                .real("seconds", took.count()).emit(m_log_fd);
            return changed;
        }
        // Damage in a deferred block: stop serving it and load the next best file. Files judged
        // so far were skipped as superseded by this one; only the damaged one stays judged.
        refuse(snapshot->path(), refusal_reason(status), status.to_string());
        withdraw(snapshot);
        changed = true;
        const std::string name = snapshot->path().substr(m_dir.size() + 1);
        for (auto it = m_seen.begin(); it != m_seen.end();) {
            it = it->first == name ? std::next(it) : m_seen.erase(it);
        }
        scan();
    }
    return changed;
}

}  // namespace shortlink::serve
