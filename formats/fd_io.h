// Whole writes and reads on a file descriptor, retried across EINTR and short transfers, with the
// failure named after the file. For the writers and readers that stream a file through a buffer
// (click segments, backups) rather than map it.
#pragma once

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "formats/status.h"

namespace shortlink::formats {

// Writes all `n` bytes at the file offset; io_error "PATH: write: REASON" otherwise.
inline Status write_all(int fd, const char* p, std::size_t n, const std::string& path) {
    while (n > 0) {
        const ssize_t w = ::write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return Status::io_error(path + ": write: " + std::strerror(errno));
        }
        p += w;
        n -= static_cast<std::size_t>(w);
    }
    return Status::ok();
}

// Reads `n` bytes at `offset`; returns how many it got (fewer only at the end of the file).
inline Result<std::size_t> read_at(int fd, char* p, std::size_t n, std::uint64_t offset, const std::string& path) {
    std::size_t got = 0;
    while (got < n) {
        const ssize_t r = ::pread(fd, p + got, n - got, static_cast<off_t>(offset + got));
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            return Status::io_error(path + ": read: " + std::strerror(errno));
        }
        if (r == 0) {
            break;
        }
        got += static_cast<std::size_t>(r);
    }
    return got;
}

// rename() that never replaces an existing file (RENAME_NOREPLACE; link() and unlink() where the
// file system lacks it). 0, or the errno: EEXIST when `to` exists.
inline int rename_no_replace(const std::string& from, const std::string& to) {
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) {
        return 0;
    }
    if (errno != EINVAL && errno != ENOSYS) {
        return errno;
    }
    if (::link(from.c_str(), to.c_str()) != 0) {
        return errno;
    }
    ::unlink(from.c_str());
    return 0;
}

}  // namespace shortlink::formats
