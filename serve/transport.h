// Transports: what a Connection (serve/connection.h) reads and writes through. Connection is a
// template on its transport, so the HTTP logic exists once and the plain listener's path
// compiles to the very calls it made before TLS existed: no virtual call, no extra copy.
//
//   PlainTransport  the TCP socket itself. An answer is sent at once with a non-blocking
//                   send, without a round trip through the event loop, and a read after one
//                   that drained the socket waits for readiness without a recv.
//   TlsTransport    Boost.Asio's ssl::stream over the socket (OpenSSL). It needs a handshake
//                   first, sends every answer through the event loop (a record must be
//                   encrypted and flushed as a whole), and says goodbye with close_notify.
//
// Thread-safety: a transport belongs to its connection, on its worker's thread.
#pragma once

#include <memory>
#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>

#include "serve/certificates.h"
#include "serve/drained_read.h"
#include "serve/tls_context.h"

namespace shortlink::serve {

class PlainTransport {
public:
    static constexpr bool k_tls = false;

    explicit PlainTransport(boost::asio::ip::tcp::socket socket) : m_socket(std::move(socket)) {}

    boost::asio::ip::tcp::socket& socket() { return m_socket; }
    const boost::asio::ip::tcp::socket& socket() const { return m_socket; }

    void start() {
        boost::system::error_code ec;
        m_socket.non_blocking(true, ec);  // write_now() sends without waiting
    }
    // A read after one that drained the socket waits for epoll without trying a recv first
    // (serve/drained_read.h).
    void async_read_some(boost::asio::mutable_buffer buffer, ReadCompletion handler) {
        m_read.start(m_socket, buffer, std::move(handler));
    }
    // Sends what the socket takes now; would_block when it takes nothing.
    std::size_t write_now(boost::asio::const_buffer buffer, boost::system::error_code& ec) {
        return m_socket.write_some(buffer, ec);
    }
    template <class Handler>
    void async_write(boost::asio::const_buffer buffer, Handler&& handler) {
        boost::asio::async_write(m_socket, buffer, std::forward<Handler>(handler));
    }

private:
    StreamSocket m_socket;
    DrainedRead m_read;
};

class TlsTransport {
public:
    static constexpr bool k_tls = true;
    using Stream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;

    // `ssl` comes from SSL_new on the listener context (serve/tls_context.h), owned from here
    // on; `table` is the certificate table its handshake chooses from.
    TlsTransport(boost::asio::ip::tcp::socket socket, SSL* ssl, std::shared_ptr<const CertTable> table)
        : m_stream(std::move(socket), ssl), m_table(std::move(table)) {
        attach_cert_table(ssl, m_table.get());
    }

    boost::asio::ip::tcp::socket& socket() { return m_stream.next_layer(); }
    const boost::asio::ip::tcp::socket& socket() const { return m_stream.next_layer(); }
    SSL* ssl() { return m_stream.native_handle(); }

    void start() {}
    template <class Handler>
    void async_handshake(Handler&& handler) {
        m_stream.async_handshake(boost::asio::ssl::stream_base::server, std::forward<Handler>(handler));
    }
    // The certificate table is needed only while the handshake chooses.
    void handshake_done() {
        attach_cert_table(ssl(), nullptr);
        m_table.reset();
    }
    template <class Handler>
    void async_read_some(boost::asio::mutable_buffer buffer, Handler&& handler) {
        m_stream.async_read_some(buffer, std::forward<Handler>(handler));
    }
    std::size_t write_now(boost::asio::const_buffer, boost::system::error_code& ec) {
        ec = boost::asio::error::would_block;
        return 0;
    }
    template <class Handler>
    void async_write(boost::asio::const_buffer buffer, Handler&& handler) {
        boost::asio::async_write(m_stream, buffer, std::forward<Handler>(handler));
    }
    // Sends close_notify and waits for the client's (or its close, or an error).
    template <class Handler>
    void async_shutdown(Handler&& handler) {
        m_stream.async_shutdown(std::forward<Handler>(handler));
    }

private:
    Stream m_stream;
    std::shared_ptr<const CertTable> m_table;
};

}  // namespace shortlink::serve
