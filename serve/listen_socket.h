// Listening sockets: how the public listeners and the admin listener claim their addresses.
//
// The public listeners are one SO_REUSEPORT socket per worker thread on the same address, so the
// kernel spreads new connections across workers with no shared accept queue. SO_REUSEPORT alone
// would also let a second server (same user) join the group and silently take half the
// traffic, so the server first claims each address with a socket bound *without* SO_REUSEPORT:
// the kernel refuses that bind while any other socket listens there, whatever its options. The
// claim is released before the workers bind; two servers started in the same microsecond could
// both pass it, which the one-instance-per-unit rule of a service manager already excludes.
//
// Thread-safety: free functions; call them before the worker threads start.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "formats/status.h"

namespace shortlink::serve {

// "127.0.0.1:8080", "[::1]:8080": how logs and errors name a listen address.
std::string endpoint_text(const boost::asio::ip::tcp::endpoint& endpoint);

// Fails with Status::conflict when another socket owns `endpoint` (another server's listener,
// with or without SO_REUSEPORT). SO_REUSEADDR on the probe keeps TIME_WAIT connections of an
// earlier run from counting. A port of 0 is always free. `what` prefixes the error ("admin ").
Status claim_address(const boost::asio::ip::tcp::endpoint& endpoint, std::string_view what);

// Opens, binds and listens `acceptor` on `endpoint` (SO_REUSEADDR; SO_REUSEPORT when
// `reuse_port`; IPV6_V6ONLY for IPv6, as nginx's ipv6only=on, so [::]:80 and 0.0.0.0:80 can be
// listed side by side). `what` prefixes the error ("admin "). EADDRINUSE is Status::conflict
// ("address already in use: 127.0.0.1:8080 (another server is listening)"), anything else io_error.
Status open_listener(boost::asio::ip::tcp::acceptor& acceptor,
                     const boost::asio::ip::tcp::endpoint& endpoint, bool reuse_port, int backlog,
                     std::string_view what);

// A listening socket the server was started with (systemd socket activation, LISTEN_FDS): its
// descriptor, its name (FileDescriptorName=; "tls" for a TLS listener, "admin" for the admin
// listener, anything else a plain public listener) and the address it is bound to.
struct InheritedSocket {
    int fd = -1;
    std::string name;
    boost::asio::ip::tcp::endpoint local;
};

// The sockets passed by the protocol of sd_listen_fds(3) (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES),
// which it then removes from the environment; empty when none were passed. Each must be a
// listening TCP socket (IPv4 or IPv6); anything else is an invalid_argument error naming it.
Result<std::vector<InheritedSocket>> inherited_sockets();

// Puts a duplicate of `socket` into `acceptor` (several workers may accept on one socket).
Status adopt_listener(boost::asio::ip::tcp::acceptor& acceptor, const InheritedSocket& socket);

// Why accept() failed, as counted in /metrics (shortlink_accept_errors_total{errno=...}).
enum class AcceptError : std::uint8_t { emfile, enfile, enobufs, enomem, other };
inline constexpr std::size_t k_accept_error_kinds = 5;
AcceptError classify_accept_error(const boost::system::error_code& ec);
std::string_view accept_error_name(AcceptError kind);  // "EMFILE", ..., "other"

// What a listener does after accept() fails. The connection stays in the kernel's queue, so
// the listening socket stays readable: accepting again at once spins a core on the same error
// and writes a log line each time. Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS,
// ENOMEM) pauses accepting for 500 ms, as nginx does, and resumes by itself once descriptors are
// free again; other errors pause 10 ms. The log gets at most one line per 5 s per listener, with
// the count of failures it did not log on their own.
//
// Thread-safety: one per listener, on that listener's thread.
class AcceptFailures {
public:
    static constexpr std::chrono::milliseconds k_shortage_pause{500};
    static constexpr std::chrono::milliseconds k_other_pause{10};
    static constexpr std::int64_t k_log_interval_ms = 5000;

    AcceptFailures(std::string_view listener, int log_fd) : m_listener(listener), m_log_fd(log_fd) {}

    // Records a failure at `now_ms` (monotonic) and returns how long to pause before accepting again.
    std::chrono::milliseconds on_error(const boost::system::error_code& ec, std::int64_t now_ms);
    // Logs the failures not logged yet once the interval has passed (call it now and then).
    void flush(std::int64_t now_ms);

private:
    void log(std::int64_t now_ms);

    std::string_view m_listener;
    int m_log_fd;
    std::int64_t m_next_log_ms = 0;
    std::uint64_t m_unlogged = 0;  // failures since the last line
    boost::system::error_code m_last;
};

}  // namespace shortlink::serve
