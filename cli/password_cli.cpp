#include "cli/password_cli.h"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "cli/errors.h"
#include "formats/password.h"

namespace shortlink::cli {
namespace {

// Whatever a check refuses, it says so without echoing the password.
void check_password(std::string_view password, const std::string& from) {
    if (password.empty()) {
        throw Error(k_exit_usage, from + ": the password is empty");
    }
    if (password.size() > formats::k_max_password_size) {
        throw Error(k_exit_usage, from + ": the password is longer than " +
                                      std::to_string(formats::k_max_password_size) + " bytes");
    }
    if (password.find('\0') != std::string_view::npos) {
        throw Error(k_exit_usage, from + ": the password holds a NUL byte (is this a binary file?)");
    }
}

// Reads one line from `fd` (at most `limit` + 2 bytes, so "too long" is still seen); `eof`
// tells whether the input ended before a newline.
std::string read_line(int fd, std::size_t limit, bool& eof, const std::string& from) {
    std::string line;
    eof = false;
    char c = 0;
    while (line.size() <= limit + 1) {
        const ssize_t n = ::read(fd, &c, 1);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            throw Error(k_exit_runtime, from + ": cannot read: " + std::strerror(errno));
        }
        if (n == 0) {
            eof = true;
            break;
        }
        if (c == '\n') {
            break;
        }
        line.push_back(c);
    }
    if (!line.empty() && line.back() == '\r') {
        line.pop_back();
    }
    return line;
}

class EchoOff {
public:
    explicit EchoOff(int fd) : m_fd(fd) {
        if (::tcgetattr(fd, &m_saved) == 0) {
            termios quiet = m_saved;
            quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
            quiet.c_lflag |= ECHONL;
            m_restore = ::tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
        }
    }
    ~EchoOff() {
        if (m_restore) {
            ::tcsetattr(m_fd, TCSAFLUSH, &m_saved);
        }
    }
    EchoOff(const EchoOff&) = delete;
    EchoOff& operator=(const EchoOff&) = delete;

private:
    int m_fd;
    termios m_saved{};
    bool m_restore = false;
};

}  // namespace

std::string read_password_file(const std::string& path) {
    const std::string from = "--password-file " + path;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        throw Error(err == ENOENT ? k_exit_not_found : k_exit_runtime, from + ": " + std::strerror(err));
    }
    bool eof = false;
    std::string password;
    try {
        password = read_line(fd, formats::k_max_password_size, eof, from);
    } catch (...) {
        ::close(fd);
        throw;
    }
    ::close(fd);
    check_password(password, from);
    return password;
}

std::string prompt_password() {
    const int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        throw Error(k_exit_usage, "--password-prompt needs a terminal (/dev/tty); use --password-file FILE");
    }
    std::string first;
    std::string second;
    try {
        EchoOff quiet(fd);
        bool eof = false;
        const std::string_view ask = "Password: ";
        const std::string_view again = "Password again: ";
        (void)!::write(fd, ask.data(), ask.size());
        first = read_line(fd, formats::k_max_password_size, eof, "--password-prompt");
        check_password(first, "--password-prompt");
        (void)!::write(fd, again.data(), again.size());
        second = read_line(fd, formats::k_max_password_size, eof, "--password-prompt");
    } catch (...) {
        ::close(fd);
        throw;
    }
    ::close(fd);
    if (first != second) {
        throw Error(k_exit_usage, "--password-prompt: the two passwords differ");
    }
    return first;
}

std::string hash_password_arg(const std::string& password) {
    auto hash = formats::hash_password(password);
    if (!hash) {
        throw Error(exit_code_for(hash.status()), "cannot hash the password: " + hash.status().message());
    }
    return formats::encode_password_text(*hash);
}

}  // namespace shortlink::cli
