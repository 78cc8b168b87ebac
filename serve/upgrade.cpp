#include "serve/upgrade.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

extern char** environ;

namespace shortlink::serve {

namespace {

constexpr const char* k_from_variable = "SHORTLINK_UPGRADE_FROM";

// The arguments this process was started with, from /proc/self/cmdline.
std::vector<std::string> own_arguments() {
    std::ifstream in("/proc/self/cmdline", std::ios::binary);
    const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::string> args;
    std::string current;
    for (const char c : all) {
        if (c == '\0') {
            args.push_back(current);
            current.clear();
        } else {
            current += c;
        }
    }
    return args;
}

// Decimal digits of `n` into `out` (async-signal-safe: used between fork and exec).
void write_decimal(char* out, long n) {
    char digits[24];
    int count = 0;
    do {
        digits[count++] = static_cast<char>('0' + n % 10);
        n /= 10;
    } while (n > 0);
    for (int i = 0; i < count; ++i) {
        out[i] = digits[count - 1 - i];
    }
    out[count] = '\0';
}

}  // namespace

Result<pid_t> start_successor(const std::vector<PassedSocket>& sockets) {
    char exe[4096];
    const ssize_t length = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (length <= 0) {
        return Status::io_error(std::string("cannot find the executable: ") + std::strerror(errno));
    }
    exe[length] = '\0';
    // Installing a new binary replaces the file (a new one renamed over it, as dpkg and
    // install(1) do), so the kernel names this process's executable "PATH (deleted)": the new
    // binary is the file now at PATH.
    constexpr std::string_view k_deleted = " (deleted)";
    if (std::string_view(exe, static_cast<std::size_t>(length)).ends_with(k_deleted)) {
        exe[static_cast<std::size_t>(length) - k_deleted.size()] = '\0';
        struct stat st {};
        if (::stat(exe, &st) != 0 || !S_ISREG(st.st_mode) || ::access(exe, X_OK) != 0) {
            return Status::not_found(std::string("the executable ") + exe +
                                     " was removed; install the new one at its path");
        }
    }
    if (sockets.empty() || sockets.size() > 64) {
        return Status::invalid_argument("an upgrade hands over 1 to 64 listening sockets, not " +
                                        std::to_string(sockets.size()));
    }
    std::vector<std::string> args = own_arguments();
    if (args.empty()) {
        return Status::io_error("cannot read this process's arguments");
    }
    // Everything the child needs is built before fork(): after it, only async-signal-safe calls.
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
        const std::string_view v(*e);
        if (!v.starts_with("LISTEN_") && !v.starts_with(k_from_variable)) {
            env.emplace_back(v);
        }
    }
    std::string names;
    for (const PassedSocket& s : sockets) {
        names += (names.empty() ? "" : ":") + s.name;
    }
    env.push_back("LISTEN_FDS=" + std::to_string(sockets.size()));
    env.push_back("LISTEN_FDNAMES=" + names);
    env.push_back(std::string(k_from_variable) + "=" + std::to_string(::getpid()));
    std::string listen_pid = "LISTEN_PID=" + std::string(24, '\0');
    std::vector<char*> argv;
    for (std::string& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (std::string& e : env) {
        envp.push_back(e.data());
    }
    envp.push_back(listen_pid.data());
    envp.push_back(nullptr);
    char* pid_digits = listen_pid.data() + std::strlen("LISTEN_PID=");

    int report[2];  // the child writes errno here if exec fails; exec closes it otherwise
    if (::pipe2(report, O_CLOEXEC) != 0) {
        return Status::io_error(std::string("pipe: ") + std::strerror(errno));
    }
    const int count = static_cast<int>(sockets.size());
    const pid_t pid = ::fork();
    if (pid < 0) {
        const int err = errno;
        ::close(report[0]);
        ::close(report[1]);
        return Status::io_error(std::string("fork: ") + std::strerror(err));
    }
    if (pid == 0) {
        // Out of the way first, so that placing them at 3, 4, ... overwrites none still needed.
        int moved[64];
        const int high = 3 + count + 64 > report[1] + 1 ? 3 + count + 64 : report[1] + 1;
        for (int i = 0; i < count && i < 64; ++i) {
            moved[i] = ::fcntl(sockets[static_cast<std::size_t>(i)].fd, F_DUPFD_CLOEXEC, high + 1);
        }
        int error_fd = ::fcntl(report[1], F_DUPFD_CLOEXEC, high + 1 + count);
        for (int i = 0; i < count && i < 64; ++i) {
            if (moved[i] < 0 || ::dup2(moved[i], 3 + i) < 0) {  // dup2 clears close-on-exec
                const int err = errno;
                (void)::write(error_fd, &err, sizeof(err));
                ::_exit(127);
            }
        }
        // Client connections and every other descriptor stay with the old process.
        ::close_range(static_cast<unsigned>(3 + count), static_cast<unsigned>(error_fd - 1), 0);
        ::close_range(static_cast<unsigned>(error_fd + 1), ~0U, 0);
        write_decimal(pid_digits, static_cast<long>(::getpid()));
        ::execve(exe, argv.data(), envp.data());
        const int err = errno;
        (void)::write(error_fd, &err, sizeof(err));
        ::_exit(127);
    }
    ::close(report[1]);
    int err = 0;
    ssize_t got;
    do {
        got = ::read(report[0], &err, sizeof(err));
    } while (got < 0 && errno == EINTR);
    ::close(report[0]);
    if (got == static_cast<ssize_t>(sizeof(err))) {
        int status = 0;
        ::waitpid(pid, &status, 0);
        return Status::io_error(std::string("cannot start ") + exe + ": " + std::strerror(err));
    }
    return pid;
}

pid_t release_predecessor() {
    const char* from = std::getenv(k_from_variable);
    if (from == nullptr) {
        return 0;
    }
    char* end = nullptr;
    const long pid = std::strtol(from, &end, 10);
    ::unsetenv(k_from_variable);
    // Only the process that started this one: a stale variable must not stop a stranger.
    if (end == from || *end != '\0' || pid <= 1 || pid != static_cast<long>(::getppid())) {
        return 0;
    }
    ::kill(static_cast<pid_t>(pid), SIGTERM);
    return static_cast<pid_t>(pid);
}

}  // namespace shortlink::serve
