#include "serve/resolve_host.h"

#include <cerrno>
#include <ctime>

namespace shortlink::serve {

Result<AddressList> resolve_host(const std::string& host, const std::string& port,
                                 std::chrono::steady_clock::time_point deadline) {
    // On the heap: a lookup that cannot be cancelled in time still writes into the request after
    // this returns, so a timed-out request is left to the process's end.
    struct Lookup {
        std::string host;
        std::string port;
        addrinfo hints{};
        gaicb request{};
    };
    auto lookup = std::make_unique<Lookup>();
    lookup->host = host;
    lookup->port = port;
    lookup->hints.ai_socktype = SOCK_STREAM;
    lookup->request.ar_name = lookup->host.c_str();
    lookup->request.ar_service = lookup->port.c_str();
    lookup->request.ar_request = &lookup->hints;
    gaicb* list[] = {&lookup->request};
    if (const int rc = ::getaddrinfo_a(GAI_NOWAIT, list, 1, nullptr); rc != 0) {
        return Status::io_error("cannot resolve " + host + ": " + ::gai_strerror(rc));
    }
    while (::gai_error(&lookup->request) == EAI_INPROGRESS) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                              deadline - std::chrono::steady_clock::now()).count();
        if (left <= 0) {
            if (::gai_cancel(&lookup->request) != EAI_CANCELED) {
                (void)lookup.release();  // still running: it may write into the request
            }
            return Status::io_error("cannot resolve " + host + ": no answer within the timeout");
        }
        const timespec wait{static_cast<time_t>(left / 1000), static_cast<long>(left % 1000) * 1000000};
        (void)::gai_suspend(list, 1, &wait);  // done, timed out or interrupted: the loop decides
    }
    if (const int rc = ::gai_error(&lookup->request); rc != 0) {
        return Status::io_error("cannot resolve " + host + ": " + ::gai_strerror(rc));
    }
    return AddressList(lookup->request.ar_result, ::freeaddrinfo);
}

}  // namespace shortlink::serve
