// Server: the whole of `shortlink serve` behind one call. It loads the first snapshot, opens the
// public listeners (one SO_REUSEPORT acceptor per worker thread) and the admin listener, and runs
// the control thread: signals (SIGHUP rescan, SIGTERM/SIGINT drain), inotify on the snapshot
// directory, the periodic rescan, sd_notify, and releasing old snapshots.
//
// Thread-safety: construct and run() from one thread; run() blocks until shutdown.
#pragma once

#include "serve/config.h"
#include "formats/status.h"

namespace shortlink::serve {

// Runs until SIGTERM or SIGINT has drained the server. Fails only when it cannot start
// (a listener cannot bind, the snapshot directory cannot be watched).
Status run_server(const ServeConfig& config, int log_fd = 2);

}  // namespace shortlink::serve
