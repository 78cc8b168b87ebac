#include "serve/listen_socket.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <boost/asio/detail/socket_option.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/system_executor.hpp>

#include "serve/log.h"

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

Result<std::vector<InheritedSocket>> inherited_sockets() {
    char** names = nullptr;
    const int n = ::sd_listen_fds_with_names(1, &names);
    if (n < 0) {
        return Status::invalid_argument(std::string("sockets passed by the service manager (LISTEN_FDS): ") +
                                        std::strerror(-n));
    }
    std::vector<InheritedSocket> out;
    Status failure;
    for (int i = 0; i < n; ++i) {
        InheritedSocket s;
        s.fd = SD_LISTEN_FDS_START + i;
        s.name = names != nullptr && names[i] != nullptr ? names[i] : "";
        // "unknown" is what sd_listen_fds_with_names() calls a socket without FileDescriptorName=.
        const bool named = !s.name.empty() && s.name != "unknown";
        const std::string which = "descriptor " + std::to_string(s.fd) + (named ? " (" + s.name + ")" : "");
        sockaddr_storage addr{};
        socklen_t length = sizeof(addr);
        if (failure.is_ok()) {
            if (::sd_is_socket(s.fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0 ||
                ::getsockname(s.fd, reinterpret_cast<sockaddr*>(&addr), &length) != 0 ||
                (addr.ss_family != AF_INET && addr.ss_family != AF_INET6)) {
                failure = Status::invalid_argument("sockets passed by the service manager: " + which +
                                                   " is not a listening TCP socket");
            } else {
                std::memcpy(s.local.data(), &addr, std::min<std::size_t>(length, sizeof(sockaddr_in6)));
                ::fcntl(s.fd, F_SETFD, FD_CLOEXEC);
                out.push_back(std::move(s));
            }
        }
        if (names != nullptr) {
            std::free(names[i]);
        }
    }
    std::free(names);
    if (!failure.is_ok()) {
        return failure;
    }
    return out;
}

Status adopt_listener(boost::asio::ip::tcp::acceptor& acceptor, const InheritedSocket& socket) {
    const int fd = ::fcntl(socket.fd, F_DUPFD_CLOEXEC, 3);
    if (fd < 0) {
        return Status::io_error("cannot use the inherited socket " + endpoint_text(socket.local) + ": " +
                                std::strerror(errno));
    }
    boost::system::error_code ec;
    acceptor.assign(socket.local.protocol(), fd, ec);
    if (ec) {
        ::close(fd);
        return Status::io_error("cannot use the inherited socket " + endpoint_text(socket.local) + ": " + ec.message());
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

AcceptError classify_accept_error(const boost::system::error_code& ec) {
    if (ec.category() != boost::system::system_category()) {
        return AcceptError::other;
    }
    switch (ec.value()) {
    case EMFILE: return AcceptError::emfile;
    case ENFILE: return AcceptError::enfile;
    case ENOBUFS: return AcceptError::enobufs;
    case ENOMEM: return AcceptError::enomem;
    default: return AcceptError::other;
    }
}

std::string_view accept_error_name(AcceptError kind) {
    switch (kind) {
    case AcceptError::emfile: return "EMFILE";
    case AcceptError::enfile: return "ENFILE";
    case AcceptError::enobufs: return "ENOBUFS";
    case AcceptError::enomem: return "ENOMEM";
    case AcceptError::other: return "other";
    }
    return "other";
}

std::chrono::milliseconds AcceptFailures::on_error(const boost::system::error_code& ec,
                                                   std::int64_t now_ms) {
    m_last = ec;
    ++m_unlogged;
    flush(now_ms);
    return classify_accept_error(ec) == AcceptError::other ? k_other_pause : k_shortage_pause;
}

void AcceptFailures::flush(std::int64_t now_ms) {
    if (m_unlogged > 0 && now_ms >= m_next_log_ms) {
        log(now_ms);
    }
}

void AcceptFailures::log(std::int64_t now_ms) {
    const AcceptError kind = classify_accept_error(m_last);
    const auto pause = kind == AcceptError::other ? k_other_pause : k_shortage_pause;
    LogLine("warn", "accept_failed")
        .str("listener", m_listener)
        .str("error", m_last.message())
        .str("errno", accept_error_name(kind))
        .num("failures", static_cast<std::int64_t>(m_unlogged))
        .num("pause_ms", pause.count())
        .emit(m_log_fd);
    m_unlogged = 0;
    m_next_log_ms = now_ms + k_log_interval_ms;
}

}  // namespace shortlink::serve
