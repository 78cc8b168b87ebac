#include "compiler/publish.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include <openssl/rand.h>

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

constexpr std::string_view k_prefix = "links-";
constexpr std::string_view k_suffix = ".slsnap";

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

Result<AtomicFile> AtomicFile::create(const std::string& final_path) {
    unsigned char rnd[6];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return Status::io_error("no randomness for a temporary file name");
    }
    static constexpr char k_hex[] = "0123456789abcdef";
    std::string suffix;
    for (unsigned char c : rnd) {
        suffix += k_hex[c >> 4];
        suffix += k_hex[c & 15];
    }
    const std::string temp =
        dir_of(final_path) + "/." + base_of(final_path) + ".tmp." + suffix;
    const int fd = ::open(temp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        return Status::io_error("cannot create " + temp + ": " + errno_text());
    }
    return AtomicFile(fd, temp, final_path);
}

Status AtomicFile::commit() {
    if (m_committed || m_fd < 0) {
        return Status::invalid_argument("AtomicFile committed twice");
    }
    if (::fsync(m_fd) != 0) {
        return Status::io_error("cannot fsync " + m_temp_path + ": " + errno_text());
    }
    ::close(m_fd);
    m_fd = -1;
    if (::rename(m_temp_path.c_str(), m_final_path.c_str()) != 0) {
        return Status::io_error("cannot rename " + m_temp_path + " to " + m_final_path + ": " +
                                errno_text());
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

std::string snapshot_file_name(std::uint64_t serial) {
    return std::string(k_prefix) + std::to_string(serial) + std::string(k_suffix);
}

Result<std::vector<std::uint64_t>> list_snapshot_serials(const std::string& dir) {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
        return Status::io_error("cannot list " + dir + ": " + errno_text());
    }
    std::vector<std::uint64_t> serials;
    while (const dirent* e = ::readdir(d)) {
        const std::string_view name = e->d_name;
        if (name.size() <= k_prefix.size() + k_suffix.size() || !name.starts_with(k_prefix) ||
            !name.ends_with(k_suffix)) {
            continue;
        }
        const std::string_view digits =
            name.substr(k_prefix.size(), name.size() - k_prefix.size() - k_suffix.size());
        std::uint64_t serial = 0;
        const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), serial);
        if (ec == std::errc() && ptr == digits.data() + digits.size() &&
            snapshot_file_name(serial) == name) {
            serials.push_back(serial);
        }
    }
    ::closedir(d);
    std::sort(serials.begin(), serials.end());
    return serials;
}

Result<std::vector<std::string>> prune_snapshots(const std::string& dir, std::uint32_t keep) {
    if (keep == 0) {
        return Status::invalid_argument("--keep must be at least 1");
    }
    auto serials = list_snapshot_serials(dir);
    if (!serials) {
        return serials.status();
    }
    std::vector<std::string> removed;
    if (serials->size() <= keep) {
        return removed;
    }
    const std::size_t drop = serials->size() - keep;
    for (std::size_t i = 0; i < drop; ++i) {
        const std::string path = dir + "/" + snapshot_file_name((*serials)[i]);
        if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
            return Status::io_error("cannot remove " + path + ": " + errno_text());
        }
        removed.push_back(path);
    }
    if (Status s = fsync_directory(dir); !s) {
        return s;
    }
    return removed;
}

}  // namespace shortlink::compiler
