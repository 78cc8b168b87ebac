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

#include <string>
#include <string_view>

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

}  // namespace shortlink::serve
