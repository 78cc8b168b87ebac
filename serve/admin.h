// AdminListener: /healthz, /readyz and /metrics on a separate address (default 127.0.0.1:9090),
// never on the public listener. Low traffic, so it uses Beast's ordinary message types and one
// short-lived connection per request (Connection: close), on the control thread.
//
// Thread-safety: control thread only.
#pragma once

#include <functional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "formats/status.h"
#include "serve/listen_socket.h"
#include "serve/metrics.h"

namespace shortlink::serve {

struct AdminReply {
    unsigned status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
};

class AdminListener {
public:
    using Handler = std::function<AdminReply(const std::string& path)>;

    AdminListener(boost::asio::io_context& io, Handler handler, int log_fd);
    Status listen(boost::asio::ip::tcp::endpoint& endpoint);
    // Accepts on a socket the service manager passed instead.
    Status adopt(const InheritedSocket& socket);
    void close();
    // Its listening socket's descriptor; -1 when it is not listening.
    int listening_socket() { return m_acceptor.is_open() ? m_acceptor.native_handle() : -1; }
    // Its accept() failures (accept_errors only), summed into /metrics with the workers'.
    const WorkerMetrics& metrics() const { return m_metrics; }

private:
    void accept();

    boost::asio::io_context& m_io;
    Handler m_handler;
    int m_log_fd;
    boost::asio::ip::tcp::acceptor m_acceptor;
    boost::asio::steady_timer m_pause;  // after an accept() failure
    AcceptFailures m_failures;
    WorkerMetrics m_metrics;
};

}  // namespace shortlink::serve
