// Binary upgrade with no refused connection. On SIGUSR2 the running server starts the binary at
// its own path again (the new one, once installed over it) with the same arguments, handing it
// every listening socket by the protocol of socket activation (LISTEN_FDS, named "web", "tls",
// "admin"; serve/listen_socket.h). The new process accepts on the same sockets, so the kernel's
// accept queues are never closed; once it serves, it tells the old one to drain
// (SHORTLINK_UPGRADE_FROM), and the old one finishes what it has in flight and exits, as nginx's
// USR2 and HAProxy's -x do.
//
// Thread-safety: start_successor() from the control thread only.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "formats/status.h"

namespace shortlink::serve {

struct PassedSocket {
    int fd = -1;
    std::string name;  // "web", "tls" or "admin"
};

// Starts the successor (same executable path, same arguments, this environment with the
// sockets') and returns its pid once it has started executing; an error, and no process, when it
// could not (the executable is gone, fork failed).
Result<pid_t> start_successor(const std::vector<PassedSocket>& sockets);

// In a process a predecessor started: tells it to drain (SIGTERM), once this one serves. A no-op
// otherwise. Returns the predecessor's pid, or 0.
pid_t release_predecessor();

}  // namespace shortlink::serve
