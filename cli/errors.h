// Exit codes and the one exception type of the command line.
//
// Only cli/ throws: a command that cannot go on throws cli::Error, main() catches it once, prints
// "shortlink: error: <message>" on stderr and exits with its code (ccache's Error/Fatal pair). An
// Error with an empty message exits with its code and prints nothing: a command whose output
// already said it all (`apply --plan` with changes exits 2).
// The codes are documented in man/shortlink.1 under EXIT STATUS; tests assert on them.
#pragma once

#include <stdexcept>
#include <string>

#include "formats/status.h"

namespace shortlink::cli {

enum ExitCode : int {
    k_exit_ok = 0,
    k_exit_runtime = 1,    // I/O, database or other runtime failure
    k_exit_usage = 2,      // bad arguments or invalid input (URL, code, host, CSV row, ...)
    k_exit_not_found = 3,  // the link, domain, file or key does not exist
    k_exit_conflict = 4,   // already exists, would clobber, or a uniqueness rule refuses it
    k_exit_invalid = 5,    // a snapshot or key file fails verification (corrupt, tampered, untrusted)
    k_exit_expiring = 6,   // probe: a sound certificate that expires within --warn-days
};

class Error : public std::runtime_error {
public:
    Error(int exit_code, const std::string& message)
        : std::runtime_error(message), m_exit_code(exit_code) {}
    int exit_code() const { return m_exit_code; }

private:
    int m_exit_code;
};

// The exit code that a failed library Status maps to.
inline int exit_code_for(const Status& status) {
    switch (status.code()) {
    case Status::Code::ok: return k_exit_ok;
    case Status::Code::not_found: return k_exit_not_found;
    case Status::Code::invalid_argument: return k_exit_usage;
    case Status::Code::conflict: return k_exit_conflict;
    case Status::Code::corruption:
    case Status::Code::unsupported:
    case Status::Code::permission_denied: return k_exit_invalid;
    case Status::Code::io_error:
    case Status::Code::cancelled: return k_exit_runtime;
    }
    return k_exit_runtime;
}

// Throws cli::Error for a failed status; does nothing for ok.
inline void check(const Status& status) {
    if (!status.is_ok()) {
        throw Error(exit_code_for(status), status.message());
    }
}

// Unwraps a Result or throws cli::Error with its status.
template <class T>
T unwrap(Result<T> result) {
    check(result.status());
    return std::move(result).value();
}

}  // namespace shortlink::cli
