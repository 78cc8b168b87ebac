#include "formats/clock.h"
#include "serve/admin.h"

#include <chrono>
#include <memory>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "serve/listen_socket.h"

namespace shortlink::serve {

namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;

// One admin exchange: read a request (bounded size and time), answer, close.
class AdminSession : public std::enable_shared_from_this<AdminSession> {
public:
    AdminSession(boost::asio::ip::tcp::socket socket, const AdminListener::Handler& handler)
        : m_stream(std::move(socket)), m_handler(handler) {}

    void start() {
        m_parser.header_limit(8192);
        m_parser.body_limit(0);
        m_stream.expires_after(std::chrono::seconds(5));
        http::async_read(m_stream, m_buffer, m_parser,
                         [self = shared_from_this()](beast::error_code ec, std::size_t) {
                             self->on_read(ec);
                         });
    }

private:
    void on_read(beast::error_code ec) {
        if (ec) {
            return;
        }
        const auto& request = m_parser.get();
        AdminReply reply;
        if (request.method() != http::verb::get && request.method() != http::verb::head) {
            reply = AdminReply{405, "text/plain; charset=utf-8", "method not allowed\n"};
        } else {
            std::string path(request.target());
            const auto q = path.find('?');
            if (q != std::string::npos) {
                path.resize(q);
            }
            reply = m_handler(path);
        }
        m_response.result(reply.status);
        m_response.version(11);
        m_response.set(http::field::content_type, reply.content_type);
        m_response.set(http::field::cache_control, "no-store");
        m_response.keep_alive(false);
        m_response.body() = std::move(reply.body);
        m_response.prepare_payload();
        if (request.method() == http::verb::head) {
            m_response.body().clear();
        }
        http::async_write(m_stream, m_response,
                          [self = shared_from_this()](beast::error_code, std::size_t) {
                              beast::error_code ignored;
                              self->m_stream.socket().shutdown(
                                  boost::asio::ip::tcp::socket::shutdown_send, ignored);
                          });
    }

    beast::tcp_stream m_stream;
    const AdminListener::Handler& m_handler;
    beast::flat_buffer m_buffer{16384};
    http::request_parser<http::empty_body> m_parser;
    http::response<http::string_body> m_response;
};

}  // namespace

AdminListener::AdminListener(boost::asio::io_context& io, Handler handler, int log_fd)
    : m_io(io),
      m_handler(std::move(handler)),
      m_log_fd(log_fd),
      m_acceptor(io),
      m_pause(io),
      m_failures("admin", log_fd) {}

Status AdminListener::listen(boost::asio::ip::tcp::endpoint& endpoint) {
    if (Status s = open_listener(m_acceptor, endpoint, false, 64, "admin "); !s) {
        return s;
    }
    endpoint = m_acceptor.local_endpoint();
    accept();
    return Status::ok();
}

Status AdminListener::adopt(const InheritedSocket& socket) {
    if (Status s = adopt_listener(m_acceptor, socket); !s) {
        return s;
    }
    accept();
    return Status::ok();
}

void AdminListener::close() {
    boost::system::error_code ignored;
    m_acceptor.close(ignored);
    m_pause.cancel();
}

void AdminListener::accept() {
    m_acceptor.async_accept(m_io, [this](const boost::system::error_code& ec,
                                         boost::asio::ip::tcp::socket socket) {
        if (ec == boost::asio::error::operation_aborted) {
            return;
        }
        if (ec) {
            m_metrics.accept_errors[static_cast<std::size_t>(classify_accept_error(ec))].add();
            m_pause.expires_after(m_failures.on_error(ec, clock::monotonic_ms()));
            m_pause.async_wait([this](const boost::system::error_code& error) {
                if (!error && m_acceptor.is_open()) {
                    accept();
                }
            });
            return;
        }
        std::make_shared<AdminSession>(std::move(socket), m_handler)->start();
        accept();
    });
}

}  // namespace shortlink::serve
