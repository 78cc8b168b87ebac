#include "serve/snapshot_manager.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>
#include <time.h>
#include <limits>
#include <sys/stat.h>
#include <fstream>
#include <sstream>
#include <vector>

#include "formats/clock.h"
#include "formats/file_names.h"
#include "serve/log.h"

namespace shortlink::serve {

namespace {

std::string refusal_reason(const Status& status) {
    switch (status.code()) {
    case Status::Code::permission_denied: return "signature";
    case Status::Code::corruption:
    case Status::Code::unsupported:
    case Status::Code::invalid_argument: return "corrupt";
    default: return "io";
    }
}


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

// The state file inside the state directory: lines "snapshot <serial>" and "overlay <serial>",
// replaced atomically (temp file, fsync, rename).
constexpr const char* k_state_file = "state";

// Replaces `to` with `size` bytes at `data` durably: temp file, fsync, rename, fsync of the
// directory. `pace` runs between 1 MiB pieces (the loader's pacing).
Status write_durably(const std::string& to, const std::uint8_t* data, std::uint64_t size,
                     void (*pace)()) {
    const std::string temp = to + ".tmp";
    const int out = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        return Status::io_error("cannot create " + temp + ": " + std::strerror(errno));
    }
    constexpr std::uint64_t k_piece = std::uint64_t{1} << 20;
    std::uint64_t done = 0;
    bool ok = true;
    while (ok && done < size) {
        const std::uint64_t n = std::min(k_piece, size - done);
        const ssize_t w = ::write(out, data + done, static_cast<std::size_t>(n));
        if (w < 0 && errno == EINTR) {
            continue;
        }
        ok = w > 0;
        done += ok ? static_cast<std::uint64_t>(w) : 0;
        if (pace != nullptr) {
            pace();
        }
    }
    ok = ok && ::fsync(out) == 0;
    const int err = errno;
    ::close(out);
    if (!ok) {
        ::unlink(temp.c_str());
        return Status::io_error("cannot write " + temp + ": " + std::strerror(err));
    }
    if (::rename(temp.c_str(), to.c_str()) != 0) {
        const int rename_err = errno;
        ::unlink(temp.c_str());
        return Status::io_error("cannot rename " + temp + ": " + std::strerror(rename_err));
    }
    const std::string dir = to.substr(0, to.rfind('/'));
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
    return Status::ok();
}

// Every file the server answers from is read into a sealed private copy and verified there:
// a publisher that writes the file in place (cp, rsync --inplace), truncates it or replaces its
// bytes can never make the server answer from unsigned bytes or fault on a vanished page. A
// changed file is simply a new candidate, judged like any other.
formats::OpenOptions served_file_options() {
    formats::OpenOptions options;
    options.private_copy = true;
    return options;
}

// A file that could not be read (descriptors or memory exhausted, a file changing while it was
// copied) is judged again at the next scan even if it has not changed; one whose bytes were
// judged is not, until it changes.
template <class Seen>
void forget_if_transient(Seen& seen, const std::string& path, const Status& status) {
    if (status.code() == Status::Code::io_error || status.code() == Status::Code::not_found) {
        seen.erase(path);
    }
}

// The base serial a patch file's name carries (0 for other names).
std::uint64_t base_of_name(const std::string& path) {
    const std::size_t slash = path.rfind('/');
    const auto parsed =
        formats::parse_published_name(slash == std::string::npos ? path : path.substr(slash + 1));
    return parsed ? parsed->base : 0;
}

}  // namespace

const formats::DenySet* Serving::deny() const {
    if (!snapshot) {
        return nullptr;
    }
    const formats::DenySet* deny = &snapshot->deny();
    std::uint64_t newest = snapshot->serial();
    if (patched && patched->patch().serial() > newest) {
        deny = &patched->patch().deny();
        newest = patched->patch().serial();
    }
    if (overlay && overlay->serial() > newest) {
        deny = &overlay->deny();
    }
    return deny;
}


SnapshotManager::SnapshotManager(std::string dir, std::string state_dir,
                                 formats::TrustedKeys trusted, bool prefault, int log_fd)
    : m_dir(std::move(dir)),
      m_state_dir(std::move(state_dir)),
      m_trusted(std::move(trusted)),
      m_prefault(prefault),
      m_log_fd(log_fd) {
    load_state();
}

void SnapshotManager::load_state() {
    if (m_state_dir.empty()) {
        return;
    }
    if (::mkdir(m_state_dir.c_str(), 0755) != 0 && errno != EEXIST) {
        std::lock_guard lock(m_mutex);
        m_state_error = "cannot create " + m_state_dir + ": " + std::strerror(errno);
        LogLine("error", "state_dir_unusable").str("dir", m_state_dir).str("detail", m_state_error)
            .emit(m_log_fd);
        return;
    }
    std::ifstream in(m_state_dir + "/" + k_state_file);
    std::string key;
    std::uint64_t serial = 0;
    while (in >> key >> serial) {
        if (key == "snapshot") {
            m_floor_snapshot.store(serial);
        } else if (key == "overlay") {
            m_floor_overlay.store(serial);
        } else if (key == "patch") {
            m_floor_patch.store(serial);
        }
    }
    if (m_floor_snapshot.load() != 0 || m_floor_overlay.load() != 0) {
        LogLine("info", "state_loaded").str("dir", m_state_dir)
            .num("snapshot_serial", static_cast<std::int64_t>(m_floor_snapshot.load()))
            .num("overlay_serial", static_cast<std::int64_t>(m_floor_overlay.load()))
            .emit(m_log_fd);
    }
}

void SnapshotManager::keep_state(formats::format::FileKind kind, const formats::Container& file) {
    const std::string& path = file.path();
    const std::uint64_t serial = file.serial();
    if (m_state_dir.empty()) {
        return;
    }
    std::lock_guard state_lock(m_state_mutex);
    std::atomic<std::uint64_t>& floor = kind == formats::format::FileKind::snapshot ? m_floor_snapshot
                                        : kind == formats::format::FileKind::deny   ? m_floor_overlay
                                                                                    : m_floor_patch;
    if (serial > floor.load()) {
        floor.store(serial);
    }
    Status status;
    const std::string kept =
        m_state_dir + "/" + formats::published_file_name(kind, serial, base_of_name(path));
    if (path != kept) {
        // The verified bytes, not the published file: a restart then finds exactly what was
        // verified even if the published file was later changed in place or removed.
        status = write_durably(kept, file.base(), file.size(),
                               kind == formats::format::FileKind::snapshot ? pace_loader : nullptr);
    }
    if (status) {
        // Older kept files of this kind go: only the serving one is needed after a restart.
        if (DIR* dir = ::opendir(m_state_dir.c_str())) {
            std::vector<std::string> stale;
            while (const dirent* e = ::readdir(dir)) {
                const auto parsed = formats::parse_published_name(e->d_name);
                if (parsed && parsed->kind == kind && parsed->serial != serial) {
                    stale.emplace_back(e->d_name);
                }
            }
            ::closedir(dir);
            for (const std::string& name : stale) {
                ::unlink((m_state_dir + "/" + name).c_str());
            }
        }
        const std::string text = "snapshot " + std::to_string(m_floor_snapshot.load()) +
                                 "\noverlay " + std::to_string(m_floor_overlay.load()) +
                                 "\npatch " + std::to_string(m_floor_patch.load()) + "\n";
        status = write_durably(m_state_dir + "/" + k_state_file,
                               reinterpret_cast<const std::uint8_t*>(text.data()), text.size(), nullptr);
    }
    std::lock_guard lock(m_mutex);
    if (!status) {
        m_state_error = status.message();
        LogLine("error", "state_not_kept").str("dir", m_state_dir).str("detail", status.message())
            .emit(m_log_fd);
    } else {
        m_state_error.clear();
    }
}

std::pair<Serving, std::uint64_t> SnapshotManager::current() const {
    std::lock_guard lock(m_mutex);
    return {m_current, m_generation.load(std::memory_order_relaxed)};
}

SnapshotReport SnapshotManager::report(std::int64_t now) const {
    std::lock_guard lock(m_mutex);
    SnapshotReport r;
    r.metrics = m_counts;
    r.metrics.refused_rollback = m_snapshot_refusals.rollback;
    r.metrics.refused_signature = m_snapshot_refusals.signature;
    r.metrics.refused_corrupt = m_snapshot_refusals.corrupt;
    r.metrics.refused_io = m_snapshot_refusals.io;
    r.overlay = m_overlay_counts;
    r.overlay.refused_rollback = m_overlay_refusals.rollback;
    r.overlay.refused_signature = m_overlay_refusals.signature;
    r.overlay.refused_corrupt = m_overlay_refusals.corrupt;
    r.overlay.refused_io = m_overlay_refusals.io;
    r.last_refused = m_last_refused;
    r.loaded_at = m_loaded_at;
    r.state_dir = m_state_dir;
    r.state_error = m_state_error;
    if (const auto& snap = m_current.snapshot) {
        r.metrics.loaded = true;
        r.metrics.serial = snap->serial();
        r.metrics.created_at = snap->created_at();
        r.metrics.not_after = snap->not_after();
        r.metrics.links = snap->link_count();
        r.metrics.expired = snap->not_after() != 0 && now > snap->not_after();
        r.metrics.verified = snap->fully_verified();
        r.metrics.deny_entries = snap->deny().size();
        r.path = snap->path();
        r.key_id = std::string(snap->key_id());
    }
    r.patch = m_patch_counts;
    r.patch.refused_rollback = m_patch_refusals.rollback;
    r.patch.refused_signature = m_patch_refusals.signature;
    r.patch.refused_corrupt = m_patch_refusals.corrupt;
    r.patch.refused_io = m_patch_refusals.io;
    if (const auto& patched = m_current.patched) {
        r.patch.loaded = true;
        r.patch.serial = patched->patch().serial();
        r.patch.base = patched->patch().base_serial();
        r.patch.created_at = patched->patch().created_at();
        r.patch.links = patched->patch().link_count();
        r.patch.bytes = patched->patch().file_size();
        r.patch_path = patched->patch().path();
    }
    if (const auto& overlay = m_current.overlay) {
        r.overlay.loaded = true;
        r.overlay.active = m_current.deny() == &overlay->deny();
        r.overlay.serial = overlay->serial();
        r.overlay.created_at = overlay->created_at();
        r.overlay.loaded_at = m_overlay_loaded_at;
        r.overlay.links = overlay->deny().link_count();
        r.overlay.domains = overlay->deny().domain_count();
        r.overlay.destinations = overlay->deny().destination_count();
        r.overlay_path = overlay->path();
    }
    return r;
}

void SnapshotManager::refuse(const std::string& path, const std::string& reason,
                             const std::string& message, Refusals& counts, const char* event) {
    {
        std::lock_guard lock(m_mutex);
        m_last_refused = RefusedCandidate{path, reason, message, clock::unix_seconds()};
        if (reason == "rollback") {
            ++counts.rollback;
        } else if (reason == "signature") {
            ++counts.signature;
        } else if (reason == "corrupt") {
            ++counts.corrupt;
        } else {
            ++counts.io;
        }
    }
    LogLine("warn", event).str("path", path).str("reason", reason).str("detail", message)
        .emit(m_log_fd);
}

std::vector<SnapshotManager::Candidate> SnapshotManager::candidates(
    formats::format::FileKind kind, std::map<std::string, FileStamp>& seen) const {
    std::vector<Candidate> out;
    const auto list = [&](const std::string& dir, bool state) {
        DIR* d = ::opendir(dir.c_str());
        if (d == nullptr) {
            if (!state) {
                LogLine("error", "snapshot_dir_unreadable").str("dir", dir).emit(m_log_fd);
            }
            return;
        }
        while (const dirent* entry = ::readdir(d)) {
            const std::string_view name(entry->d_name);
            // Hidden files are temporary files of a writer (AtomicFile) or of rsync.
            if (name.empty() || name.front() == '.' || formats::kind_of_suffix(name) != kind) {
                continue;
            }
            const auto parsed = formats::parse_published_name(name);
            if (state && !parsed) {
                continue;  // the state directory holds only files it named itself
            }
            struct stat st {};
            const std::string path = dir + "/" + std::string(name);
            if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
                continue;
            }
            out.push_back({path,
                           parsed ? parsed->serial : std::numeric_limits<std::uint64_t>::max(),
                           parsed ? parsed->base : 0,
                           FileStamp::of(st)});
        }
        ::closedir(d);
    };
    list(m_dir, false);
    if (!m_state_dir.empty()) {
        list(m_state_dir, true);
    }
    // Forget files that disappeared so the map stays the size of the directories.
    for (auto it = seen.begin(); it != seen.end();) {
        const bool present = std::any_of(out.begin(), out.end(),
                                         [&](const Candidate& c) { return c.path == it->first; });
        it = present ? std::next(it) : seen.erase(it);
    }
    // The highest promised serial first; for equal serials the watched directory's file first.
    std::sort(out.begin(), out.end(), [&](const Candidate& a, const Candidate& b) {
        if (a.hint != b.hint) {
            return a.hint > b.hint;
        }
        const bool a_watched = a.path.compare(0, m_dir.size() + 1, m_dir + "/") == 0;
        const bool b_watched = b.path.compare(0, m_dir.size() + 1, m_dir + "/") == 0;
        return a_watched != b_watched ? a_watched : a.path > b.path;
    });
    return out;
}

void SnapshotManager::note_missing(const std::string& path, std::uint64_t serial, bool& logged) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
        logged = false;
        return;
    }
    if (!logged) {
        logged = true;
        LogLine("warn", "serving_file_removed").str("path", path)
            .num("serial", static_cast<std::int64_t>(serial))
            .str("detail", "still served from its verified copy; the state directory keeps a reference")
            .emit(m_log_fd);
    }
}

void SnapshotManager::note_changed(const std::string& path, std::uint64_t serial) {
    LogLine("warn", "serving_file_changed").str("path", path)
        .num("serial", static_cast<std::int64_t>(serial))
        .str("detail", "changed after it was verified; answers still come from the verified copy, "
                       "and a restart starts from the state directory's; publish by rename")
        .emit(m_log_fd);
}

void SnapshotManager::publish(std::shared_ptr<const formats::Snapshot> snapshot) {
    const bool verified = snapshot->fully_verified();
    const std::uint64_t serial = snapshot->serial();
    const std::uint64_t links = snapshot->link_count();
    const std::string path = snapshot->path();
    const std::shared_ptr<const formats::Snapshot> kept = snapshot;
    std::shared_ptr<const formats::Snapshot> old;
    {
        std::lock_guard lock(m_mutex);
        old = std::move(m_current.snapshot);
        m_current.snapshot = std::move(snapshot);
        // A newer full snapshot retires the patch of the old one (scan_patches() then looks for
        // one for the new base).
        if (m_current.patched && m_current.patched->base().serial() != serial) {
            m_current.patched.reset();
        }
        m_loaded_at = clock::unix_seconds();
        ++m_counts.swaps;
        m_generation.fetch_add(1, std::memory_order_release);
    }
    m_missing_logged = false;
    LogLine("info", "snapshot_loaded").str("path", path).num("serial", static_cast<std::int64_t>(serial))
        .num("links", static_cast<std::int64_t>(links)).emit(m_log_fd);
    // A lazily loaded snapshot is kept once settle() has verified it: a file that turns out
    // damaged must not become the floor a restart cannot go below.
    if (verified) {
        keep_state(formats::format::FileKind::snapshot, kept->file());
    }
    // `old` is released here, on the loader thread, unless a worker still holds it.
}

void SnapshotManager::publish_overlay(std::shared_ptr<const formats::DenyOverlay> overlay) {
    const std::uint64_t serial = overlay->serial();
    const std::uint64_t entries = overlay->deny().size();
    const std::string path = overlay->path();
    const std::shared_ptr<const formats::DenyOverlay> kept_overlay = overlay;
    std::shared_ptr<const formats::DenyOverlay> old;
    bool active = false;
    {
        std::lock_guard lock(m_mutex);
        old = std::move(m_current.overlay);
        m_current.overlay = std::move(overlay);
        m_overlay_loaded_at = clock::unix_seconds();
        ++m_overlay_counts.swaps;
        active = m_current.deny() == &m_current.overlay->deny();
        m_generation.fetch_add(1, std::memory_order_release);
    }
    m_overlay_missing_logged = false;
    LogLine("info", "overlay_loaded").str("path", path).num("serial", static_cast<std::int64_t>(serial))
        .num("entries", static_cast<std::int64_t>(entries))
        .str("in_force", active ? "yes" : "no: the snapshot is newer").emit(m_log_fd);
    keep_state(formats::format::FileKind::deny, kept_overlay->file());
}

bool SnapshotManager::publish_patch(std::shared_ptr<const PatchedSnapshot> patched) {
    const formats::Snapshot& patch = patched->patch();
    const std::uint64_t serial = patch.serial();
    const std::string path = patch.path();
    const std::shared_ptr<const PatchedSnapshot> kept_patch = patched;
    std::shared_ptr<const PatchedSnapshot> old;
    {
        std::lock_guard lock(m_mutex);
        // The loader may have published another base while the patch was verified.
        if (m_current.snapshot == nullptr || m_current.snapshot->serial() != patch.base_serial()) {
            return false;
        }
        old = std::move(m_current.patched);
        m_current.patched = std::move(patched);
        ++m_patch_counts.swaps;
        m_generation.fetch_add(1, std::memory_order_release);
    }
    LogLine("info", "patch_loaded").str("path", path).num("serial", static_cast<std::int64_t>(serial))
        .num("base", static_cast<std::int64_t>(patch.base_serial()))
        .num("links", static_cast<std::int64_t>(patch.link_count())).emit(m_log_fd);
    keep_state(formats::format::FileKind::patch, kept_patch->patch().file());
    return true;
}

template <class File>
std::shared_ptr<const File> SnapshotManager::pick_newest(
    const std::vector<Candidate>& found, std::map<std::string, FileStamp>& seen,
    std::uint64_t current_serial, const std::string& current_path, std::uint64_t floor,
    Refusals& refusals, const char* event, const std::function<bool(const Candidate&)>& wanted,
    const std::function<Result<std::shared_ptr<const File>>(const std::string&)>& open,
    const std::function<bool(const File&)>& applies) {
    const std::uint64_t least = std::max(current_serial + (current_path.empty() ? 0 : 1), floor);
    const auto rollback = [&](const std::string& path, const std::string& what, std::uint64_t serial) {
        // The serving file itself (or its copy in the state directory) is not a rollback.
        if (current_path.empty() || serial < current_serial) {
            refuse(path, "rollback",
                   what + std::to_string(serial) + " is below serial " + std::to_string(least) +
                       " (served or accepted before)",
                   refusals, event);
        }
    };
    std::shared_ptr<const File> best;
    for (const Candidate& c : found) {
        if (!wanted(c)) {
            continue;  // not judged: it may apply later (a patch for another base)
        }
        const auto it = seen.find(c.path);
        if (it != seen.end() && it->second == c.stamp) {
            continue;
        }
        const bool changed = it != seen.end();
        seen[c.path] = c.stamp;
        if (changed && c.path == current_path) {
            note_changed(c.path, current_serial);
        }
        const bool named = c.hint != std::numeric_limits<std::uint64_t>::max();
        if (best && named && c.hint <= best->serial()) {
            continue;  // superseded by what is about to be published
        }
        if (named && c.hint < least) {
            rollback(c.path, "file name serial ", c.hint);
            continue;
        }
        auto opened = open(c.path);
        if (!opened) {
            refuse(c.path, refusal_reason(opened.status()), opened.status().to_string(), refusals,
                   event);
            forget_if_transient(seen, c.path, opened.status());
            continue;
        }
        std::shared_ptr<const File> file = std::move(opened).value();
        if (!applies(*file)) {
            seen.erase(c.path);  // a name that lied about what it is for: judge it again later
            continue;
        }
        if (file->serial() < least) {
            if (c.path != current_path) {
                rollback(c.path, "serial ", file->serial());
            }
            continue;
        }
        if (!best || file->serial() > best->serial()) {
            best = std::move(file);
        }
    }
    return best;
}

bool SnapshotManager::scan_patches() {
    const std::vector<Candidate> found = candidates(formats::format::FileKind::patch, m_seen_patches);
    const auto [serving, generation] = SnapshotManager::current();
    (void)generation;
    if (!serving.snapshot) {
        return false;
    }
    const std::uint64_t base = serving.snapshot->serial();
    const formats::Snapshot* current = serving.patched ? &serving.patched->patch() : nullptr;
    std::shared_ptr<const formats::Snapshot> best = pick_newest<formats::Snapshot>(
        found, m_seen_patches, current ? current->serial() : 0, current ? current->path() : "",
        m_floor_patch.load(), m_patch_refusals, "patch_refused",
        [&](const Candidate& c) { return c.hint == std::numeric_limits<std::uint64_t>::max() || c.base == base; },
        [&](const std::string& path) {
            return formats::Snapshot::open_patch(path, m_trusted, served_file_options());
        },
        [&](const formats::Snapshot& patch) { return patch.base_serial() == base; });
    return best && publish_patch(PatchedSnapshot::make(serving.snapshot, std::move(best)));
}

bool SnapshotManager::scan() {
    const std::vector<Candidate> found = candidates(formats::format::FileKind::snapshot, m_seen);
    const auto [serving, generation] = SnapshotManager::current();
    (void)generation;
    const std::shared_ptr<const formats::Snapshot>& current = serving.snapshot;
    const std::uint64_t current_serial = current ? current->serial() : 0;
    if (current) {
        note_missing(current->path(), current_serial, m_missing_logged);
    }
    const std::uint64_t floor = m_floor_snapshot.load();
    // The best acceptable candidate. File names only order the search: a name can lie, so the
    // search goes on while a name promises more than the best serial found so far.
    std::shared_ptr<const formats::Snapshot> best;
    for (const Candidate& c : found) {
        const auto seen = m_seen.find(c.path);
        if (seen != m_seen.end() && seen->second == c.stamp) {
            continue;
        }
        const bool changed = seen != m_seen.end();
        m_seen[c.path] = c.stamp;
        if (changed && current && c.path == current->path()) {
            note_changed(c.path, current_serial);
        }
        const bool named = c.hint != std::numeric_limits<std::uint64_t>::max();
        if (best && named && c.hint <= best->serial()) {
            continue;  // older than what is about to be published: superseded, not an attack
        }
        if (current && named && c.hint <= current_serial) {
            if (c.path != current->path() && c.hint < current_serial) {
                refuse(c.path, "rollback",
                       "file name serial " + std::to_string(c.hint) +
                           " is not above the serving serial " + std::to_string(current_serial),
                       m_snapshot_refusals, "snapshot_refused");
            }
            continue;
        }
        if (named && c.hint < floor) {
            refuse(c.path, "rollback",
                   "file name serial " + std::to_string(c.hint) + " is below serial " +
                       std::to_string(floor) + ", which this server accepted before (state " +
                       m_state_dir + ")",
                   m_snapshot_refusals, "snapshot_refused");
            continue;
        }
        formats::OpenOptions options = served_file_options();
        options.lazy_content = !current;  // cold start: answer first, finish in settle()
        options.pace = pace_loader;
        auto opened = formats::Snapshot::open(c.path, m_trusted, options);
        if (!opened) {
            refuse(c.path, refusal_reason(opened.status()), opened.status().to_string(),
                   m_snapshot_refusals, "snapshot_refused");
            forget_if_transient(m_seen, c.path, opened.status());
            continue;
        }
        std::shared_ptr<const formats::Snapshot> snapshot = std::move(opened).value();
        if ((current && snapshot->serial() <= current_serial) || snapshot->serial() < floor) {
            if (!current || snapshot->serial() < current_serial || c.path != current->path()) {
                refuse(c.path, "rollback",
                       "serial " + std::to_string(snapshot->serial()) + " is not above serial " +
                           std::to_string(std::max(current_serial, floor)) +
                           " (served or accepted before)",
                       m_snapshot_refusals, "snapshot_refused");
            }
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

bool SnapshotManager::scan_overlays() {
    const std::vector<Candidate> found = candidates(formats::format::FileKind::deny, m_seen_overlays);
    const auto [serving, generation] = SnapshotManager::current();
    (void)generation;
    const std::shared_ptr<const formats::DenyOverlay>& current = serving.overlay;
    if (current) {
        note_missing(current->path(), current->serial(), m_overlay_missing_logged);
    }
    std::shared_ptr<const formats::DenyOverlay> best = pick_newest<formats::DenyOverlay>(
        found, m_seen_overlays, current ? current->serial() : 0, current ? current->path() : "",
        m_floor_overlay.load(), m_overlay_refusals, "overlay_refused",
        [](const Candidate&) { return true; },
        [&](const std::string& path) {
            return formats::DenyOverlay::open(path, m_trusted, served_file_options());
        },
        [](const formats::DenyOverlay&) { return true; });
    if (!best) {
        return false;
    }
    publish_overlay(std::move(best));
    return true;
}

void SnapshotManager::withdraw(const std::shared_ptr<const formats::Snapshot>& snapshot) {
    std::shared_ptr<const formats::Snapshot> old;
    {
        std::lock_guard lock(m_mutex);
        if (m_current.snapshot != snapshot) {
            return;
        }
        old = std::move(m_current.snapshot);
        m_current.snapshot = nullptr;
        m_generation.fetch_add(1, std::memory_order_release);
    }
    LogLine("error", "snapshot_withdrawn").str("path", snapshot->path())
        .num("serial", static_cast<std::int64_t>(snapshot->serial())).emit(m_log_fd);
}

bool SnapshotManager::settle(const std::atomic<bool>& cancel) {
    bool changed = false;
    while (!cancel.load()) {
        const auto [serving, generation] = current();
        (void)generation;
        const std::shared_ptr<const formats::Snapshot>& snapshot = serving.snapshot;
        if (!snapshot || snapshot->fully_verified()) {
            return changed;
        }
        const auto started = std::chrono::steady_clock::now();
        const Status status = snapshot->finish_verification(&cancel);
        if (status.code() == Status::Code::cancelled) {
            return changed;
        }
        if (status) {
            const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
            LogLine("info", "snapshot_verified").str("path", snapshot->path())
                .num("serial", static_cast<std::int64_t>(snapshot->serial()))
                .real("seconds", took.count()).emit(m_log_fd);
            keep_state(formats::format::FileKind::snapshot, snapshot->file());
            return changed;
        }
        // Damage in a deferred block: stop serving it and load the next best file. Files judged
        // so far were skipped as superseded by this one; only the damaged one stays judged.
        refuse(snapshot->path(), refusal_reason(status), status.to_string(), m_snapshot_refusals,
               "snapshot_refused");
        withdraw(snapshot);
        changed = true;
        const std::string damaged = snapshot->path();
        for (auto it = m_seen.begin(); it != m_seen.end();) {
            it = it->first == damaged ? std::next(it) : m_seen.erase(it);
        }
        scan();
    }
    return changed;
}

}  // namespace shortlink::serve
