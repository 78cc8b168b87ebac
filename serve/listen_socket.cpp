#include "serve/listen_socket.h"

#include <sys/socket.h>

#include <boost/asio/detail/socket_option.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/system_executor.hpp>

namespace shortlink::serve {

namespace {

using reuse_port_option = boost::asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

Status bind_error(const boost::system::error_code& ec, const boost::asio::ip::tcp::endpoint& endpoint,
                  std::string_view what) {
    if (ec == boost::asio::error::address_in_use) {
        return Status::conflict(std::string(what) + "address already in use: " +
                                endpoint_text(endpoint) + " (another server is listening)");
    }
    return Status::io_error("cannot listen on " + std::string(what) + "address " +
                            endpoint_text(endpoint) + ": " + ec.message());
}

// Open and bind, without listening.
boost::system::error_code bind(boost::asio::ip::tcp::acceptor& acceptor,
                               const boost::asio::ip::tcp::endpoint& endpoint, bool reuse_port) {
    boost::system::error_code ec;
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) {
        acceptor.set_option(boost::asio::socket_base::reuse_address(true), ec);
    }
    if (!ec && reuse_port) {
        acceptor.set_option(reuse_port_option(true), ec);
    }
    if (!ec && endpoint.address().is_v6()) {
        acceptor.set_option(boost::asio::ip::v6_only(true), ec);
    }
    if (!ec) {
        acceptor.bind(endpoint, ec);
    }
    return ec;
}

}  // namespace

std::string endpoint_text(const boost::asio::ip::tcp::endpoint& endpoint) {
    const std::string address = endpoint.address().to_string();
    const std::string port = std::to_string(endpoint.port());
    return endpoint.address().is_v6() ? "[" + address + "]:" + port : address + ":" + port;
}

Status claim_address(const boost::asio::ip::tcp::endpoint& endpoint, std::string_view what) {
    if (endpoint.port() == 0) {
        return Status::ok();
    }
    boost::asio::ip::tcp::acceptor probe(boost::asio::system_executor{});
    if (const boost::system::error_code ec = bind(probe, endpoint, false); ec) {
        return bind_error(ec, endpoint, what);
    }
    return Status::ok();
}

Status open_listener(boost::asio::ip::tcp::acceptor& acceptor,
                     const boost::asio::ip::tcp::endpoint& endpoint, bool reuse_port, int backlog,
                     std::string_view what) {
    boost::system::error_code ec = bind(acceptor, endpoint, reuse_port);
    if (!ec) {
        acceptor.listen(backlog, ec);
    }
    if (ec) {
        return bind_error(ec, endpoint, what);
    }
    return Status::ok();
}

}  // namespace shortlink::serve
