// Name lookups bounded by a deadline. glibc's getaddrinfo() waits for its resolver as long as
// resolv.conf allows (5 s times 3 tries per server by default); getaddrinfo_a() runs the lookup
// on glibc's own thread, so a caller can give up at its deadline. Used by `shortlink probe` and
// by the puller of `shortlink serve --pull`.
//
// Thread-safety: any thread may call it. A lookup abandoned at the deadline keeps a small
// request allocated until the process ends, since glibc may still write into it.
#pragma once

#include <netdb.h>

#include <chrono>
#include <memory>
#include <string>

#include "formats/status.h"

namespace shortlink::serve {

using AddressList = std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)>;

// The TCP addresses of host:port; an error "cannot resolve HOST: ..." otherwise, "no answer
// within the timeout" when the deadline passed first.
Result<AddressList> resolve_host(const std::string& host, const std::string& port,
                                 std::chrono::steady_clock::time_point deadline);

}  // namespace shortlink::serve
