// UniqueFd: owns one file descriptor and closes it when it goes, as std::unique_ptr owns memory.
// Move-only. For code that opens a descriptor, may leave at several points, and must not leak it
// (an ACME challenge file, a probe's socket).
//
// Thread-safety: one owner at a time, like any value.
#pragma once

#include <unistd.h>

namespace shortlink::formats {

class UniqueFd {
public:
    explicit UniqueFd(int fd = -1) : m_fd(fd) {}
    ~UniqueFd() {
        if (m_fd >= 0) {
            ::close(m_fd);
        }
    }
    UniqueFd(UniqueFd&& other) noexcept : m_fd(other.m_fd) { other.m_fd = -1; }
    UniqueFd& operator=(UniqueFd&& other) noexcept {
        if (this != &other) {
            UniqueFd gone(m_fd);
            m_fd = other.m_fd;
            other.m_fd = -1;
        }
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;

    int get() const { return m_fd; }
    bool valid() const { return m_fd >= 0; }

private:
    int m_fd;
};

}  // namespace shortlink::formats
