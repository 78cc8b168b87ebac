#include "compiler/publish.h"

#include <set>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

#include <signal.h>

#include <openssl/rand.h>

#include "formats/bytes.h"
#include "formats/fd_io.h"

namespace shortlink::compiler {

namespace {

std::string errno_text() { return std::strerror(errno); }

std::string dir_of(const std::string& path) {
    const auto slash = path.rfind('/');
    if (slash == std::string::npos) {
        return ".";
    }
    return slash == 0 ? "/" : path.substr(0, slash);
}

std::string base_of(const std::string& path) {
    const auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Removes a published file and its compressed transport form (<path>.zst, written by publish
// --zstd), if one is there: pruning a file prunes its compressed form with it.
Status remove_with_transport_form(const std::string& path) {
    for (const std::string& p : {path, path + ".zst"}) {
        if (::unlink(p.c_str()) != 0 && errno != ENOENT) {
            return Status::io_error("cannot remove " + p + ": " + errno_text());
        }
    }
    return Status::ok();
}

}  // namespace

AtomicFile::AtomicFile(int fd, std::string temp_path, std::string final_path)
    : m_fd(fd), m_temp_path(std::move(temp_path)), m_final_path(std::move(final_path)) {}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : m_fd(other.m_fd),
      m_temp_path(std::move(other.m_temp_path)),
      m_final_path(std::move(other.m_final_path)),
      m_committed(other.m_committed) {
    other.m_fd = -1;
    other.m_committed = true;  // the moved-from object owns nothing to clean up
}

AtomicFile::~AtomicFile() {
    if (m_fd >= 0) {
        ::close(m_fd);
    }
    if (!m_committed && !m_temp_path.empty()) {
        ::unlink(m_temp_path.c_str());
    }
}

Status AtomicFile::named(Status status) const {
    if (status.code() != Status::Code::io_error || status.message().find(m_final_path) != std::string::npos ||
        status.message().find(m_temp_path) != std::string::npos) {
        return status;
    }
    return Status::io_error(m_final_path + ": " + status.message());
}

Result<AtomicFile> AtomicFile::create(const std::string& final_path) {
    unsigned char rnd[6];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return Status::io_error("no randomness for a temporary file name");
    }
    // The writer's PID is in the name so that a later run can tell a file whose writer died
    // (kill -9, a crash) from one still being written (remove_stale_temp_files).
    const std::string temp = dir_of(final_path) + "/." + base_of(final_path) + ".tmp." +
                             std::to_string(::getpid()) + "." +
                             formats::bytes::hex_encode(rnd, sizeof(rnd));
    const int fd = ::open(temp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        return Status::io_error("cannot create " + temp + ": " + errno_text());
    }
    return AtomicFile(fd, temp, final_path);
}

Status AtomicFile::commit() { return commit(true); }

Status AtomicFile::commit_new() { return commit(false); }

Status AtomicFile::commit(bool replace) {
    if (m_committed || m_fd < 0) {
        return Status::invalid_argument("AtomicFile committed twice");
    }
    if (::fsync(m_fd) != 0) {
        return Status::io_error("cannot fsync " + m_temp_path + ": " + errno_text());
    }
    ::close(m_fd);
    m_fd = -1;
    const int err = replace ? (::rename(m_temp_path.c_str(), m_final_path.c_str()) == 0 ? 0 : errno)
                            : formats::rename_no_replace(m_temp_path, m_final_path);
    if (err != 0) {
        if (err == EEXIST) {
            return Status::conflict(m_final_path + " already exists");
        }
        return Status::io_error("cannot rename " + m_temp_path + " to " + m_final_path + ": " +
                                std::strerror(err));
    }
    m_committed = true;
    return fsync_directory(dir_of(m_final_path));
}

Status fsync_directory(const std::string& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return Status::io_error("cannot open directory " + dir + ": " + errno_text());
    }
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) {
        return Status::io_error("cannot fsync directory " + dir + ": " + std::strerror(err));
    }
    return Status::ok();
}

std::vector<formats::PublishedName> list_published(const std::string& dir) {
    std::vector<formats::PublishedName> out;
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
        return out;  // a directory that does not exist holds nothing yet
    }
    while (const dirent* e = ::readdir(d)) {
        if (auto parsed = formats::parse_published_name(e->d_name)) {
            out.push_back(*parsed);
        }
    }
    ::closedir(d);
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
        return a.serial != b.serial ? a.serial < b.serial : a.kind < b.kind;
    });
    return out;
}

std::uint64_t highest_published_serial(const std::string& dir) {
    const auto names = list_published(dir);
    return names.empty() ? 0 : names.back().serial;
}

std::uint64_t next_serial(const std::string& dir, std::uint64_t issued, std::int64_t now_ms) {
    const std::uint64_t clock = now_ms > 0 ? static_cast<std::uint64_t>(now_ms) : 0;
    return std::max({clock, issued + 1, highest_published_serial(dir) + 1});
}

Result<std::vector<std::string>> prune_published(const std::string& dir, formats::format::FileKind kind,
                                                 std::uint32_t keep, const std::set<std::string>& protect) {
    if (keep == 0) {
        return Status::invalid_argument("--keep must be at least 1");
    }
    std::vector<std::uint64_t> serials;
    for (const formats::PublishedName& n : list_published(dir)) {
        if (n.kind == kind) {
            serials.push_back(n.serial);
        }
    }
    std::vector<std::string> removed;
    if (serials.size() <= keep) {
        return removed;
    }
    const std::size_t drop = serials.size() - keep;
    for (std::size_t i = 0; i < drop; ++i) {
        const std::string name = formats::published_file_name(kind, serials[i]);
        if (protect.contains(name)) {
            continue;
        }
        const std::string path = dir + "/" + name;
        if (Status s = remove_with_transport_form(path); !s) {
            return s;
        }
        removed.push_back(path);
    }
    if (Status s = fsync_directory(dir); !s) {
        return s;
    }
    return removed;
}

Result<std::vector<std::string>> prune_patches(const std::string& dir, std::uint32_t keep,
                                              const std::set<std::string>& protect) {
    if (keep == 0) {
        return Status::invalid_argument("--keep must be at least 1");
    }
    const std::vector<formats::PublishedName> names = list_published(dir);
    std::vector<std::string> removed;
    std::uint32_t kept = 0;
    for (auto it = names.rbegin(); it != names.rend(); ++it) {  // newest first
        if (it->kind != formats::format::FileKind::patch) {
            continue;
        }
        const bool has_base = std::any_of(names.begin(), names.end(), [&](const auto& n) {
            return n.kind == formats::format::FileKind::snapshot && n.serial == it->base;
        });
        if (has_base && kept < keep) {
            ++kept;
            continue;
        }
        const std::string name = formats::published_file_name(it->kind, it->serial, it->base);
        if (protect.contains(name)) {
            continue;
        }
        const std::string path = dir + "/" + name;
        if (Status s = remove_with_transport_form(path); !s) {
            return s;
        }
        removed.push_back(path);
    }
    if (!removed.empty()) {
        if (Status s = fsync_directory(dir); !s) {
            return s;
        }
    }
    return removed;
}

Result<std::vector<std::string>> remove_stale_temp_files(const std::string& dir) {
    std::vector<std::string> removed;
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
        return removed;
    }
    std::vector<std::string> stale;
    while (const dirent* e = ::readdir(d)) {
        const std::string_view name = e->d_name;
        // ".<published name>[.zst].tmp.<pid>.<random>", as AtomicFile::create names them.
        const std::size_t tmp = name.find(".tmp.");
        if (!name.starts_with(".") || tmp == std::string_view::npos) {
            continue;
        }
        std::string_view published = name.substr(1, tmp - 1);
        if (published.ends_with(".zst")) {
            published.remove_suffix(4);
        }
        if (!formats::parse_published_name(published)) {
            continue;
        }
        const std::string_view rest = name.substr(tmp + 5);
        const std::size_t dot = rest.find('.');
        int pid = 0;
        const auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), pid);
        if (dot == std::string_view::npos || ec != std::errc() || ptr != rest.data() + dot ||
            pid <= 0) {
            continue;
        }
        // Alive (or not ours to signal, EPERM): still being written, or nothing we can tell.
        if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) {
            continue;
        }
        stale.emplace_back(name);
    }
    ::closedir(d);
    for (const std::string& name : stale) {
        const std::string path = dir + "/" + name;
        if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
            return Status::io_error("cannot remove " + path + ": " + errno_text());
        }
        removed.push_back(path);
    }
    return removed;
}

}  // namespace shortlink::compiler
