// A receive on Asio's epoll reactor that tells the reactor when it has drained the socket.
//
// Asio's reactor keeps a "try speculative" flag per descriptor: set by every readiness event,
// cleared only when an operation reports itself "done and exhausted". Its own receive reports
// that only at end of stream, so every async_read_some after an answer starts with a recv that
// says EAGAIN (the client has not even read the answer), and only then waits for epoll. This
// operation is the same receive, but a read that returns less than the buffer reports
// "exhausted", as nginx clears its ready flag after a short read: the next read waits for the
// reactor's next edge without a system call, and the edge finds it queued and performs it.
//
// It is built on Asio's reactor interface (boost/asio/detail), which is stable within a Boost
// release; where that interface is not the epoll reactor this code was written for (another
// Boost, or the io_uring backend), a DrainedRead is plain async_read_some.
#pragma once

#include <cassert>
#include <cstddef>
#include <memory>
#include <optional>
#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/version.hpp>

#if defined(BOOST_ASIO_HAS_EPOLL) && !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT) && \
    BOOST_VERSION >= 107900 && BOOST_VERSION < 108400
#define SHORTLINK_DRAINED_READ 1
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/detail/socket_ops.hpp>
#endif

namespace shortlink::serve {

// What a DrainedRead calls when it completes: a function of its owner, which it keeps alive
// until then. Not a std::function, so that starting a read allocates nothing.
struct ReadCompletion {
    std::shared_ptr<void> owner;
    void (*call)(void* owner, const boost::system::error_code& ec, std::size_t bytes) = nullptr;
    void operator()(const boost::system::error_code& ec, std::size_t bytes) const {
        call(owner.get(), ec, bytes);
    }
};

// A TCP socket whose reads can be started by a DrainedRead.
class StreamSocket : public boost::asio::ip::tcp::socket {
public:
    explicit StreamSocket(boost::asio::ip::tcp::socket&& socket)
        : boost::asio::ip::tcp::socket(std::move(socket)) {}

#ifdef SHORTLINK_DRAINED_READ
    auto& implementation() { return impl_.get_implementation(); }
#endif
};

#ifdef SHORTLINK_DRAINED_READ

// One read at a time on one socket; the operation object is reused, so a read allocates
// nothing. The completion is called from the socket's io_context, or destroyed uncalled if the
// io_context is destroyed first.
class DrainedRead : private boost::asio::detail::reactor_op {
public:
    DrainedRead() : reactor_op(boost::system::error_code(), &perform, &complete) {}
    DrainedRead(const DrainedRead&) = delete;
    DrainedRead& operator=(const DrainedRead&) = delete;

    void start(StreamSocket& socket, boost::asio::mutable_buffer buffer, ReadCompletion handler) {
        namespace detail = boost::asio::detail;
        assert(!m_handler && "one read at a time");
        auto& impl = socket.implementation();
        m_socket = impl.socket_;
        m_buffer = buffer;
        m_handler.emplace(std::move(handler));
        ec_ = boost::system::error_code();
        bytes_transferred_ = 0;
        if (m_reactor == nullptr) {
            m_reactor = &boost::asio::use_service<detail::reactor>(
                boost::asio::query(socket.get_executor(), boost::asio::execution::context));
        }
        // As Asio's own read: an empty read completes at once, and a socket the user left
        // blocking is made non-blocking underneath (reads through the reactor never block).
        if (m_socket == detail::invalid_socket) {
            ec_ = boost::asio::error::bad_descriptor;
        }
        if (ec_ || buffer.size() == 0 ||
            ((impl.state_ & detail::socket_ops::non_blocking) == 0 &&
             !detail::socket_ops::set_internal_non_blocking(impl.socket_, impl.state_, true,
                                                            ec_))) {
            m_reactor->post_immediate_completion(this, false);
            return;
        }
        m_reactor->start_op(detail::reactor::read_op, impl.socket_, impl.reactor_data_, this,
                            false, true);
    }

private:
    static status perform(reactor_op* base) {
        auto* self = static_cast<DrainedRead*>(base);
        const bool finished = boost::asio::detail::socket_ops::non_blocking_recv1(
            self->m_socket, self->m_buffer.data(), self->m_buffer.size(), 0, true, self->ec_,
            self->bytes_transferred_);
        if (!finished) {
            return not_done;
        }
        return self->bytes_transferred_ < self->m_buffer.size() ? done_and_exhausted : done;
    }

    static void complete(void* owner, boost::asio::detail::operation* base,
                         const boost::system::error_code&, std::size_t) {
        auto* self = static_cast<DrainedRead*>(base);
        // The handler may start the next read on this object, or destroy it: take what it needs.
        ReadCompletion handler = std::move(*self->m_handler);
        self->m_handler.reset();
        const boost::system::error_code ec = self->ec_;
        const std::size_t bytes = self->bytes_transferred_;
        if (owner != nullptr) {
            std::move(handler)(ec, bytes);
        }
    }

    boost::asio::detail::reactor* m_reactor = nullptr;
    boost::asio::detail::socket_type m_socket = boost::asio::detail::invalid_socket;
    boost::asio::mutable_buffer m_buffer;
    std::optional<ReadCompletion> m_handler;
};

#else

class DrainedRead {
public:
    void start(StreamSocket& socket, boost::asio::mutable_buffer buffer, ReadCompletion handler) {
        socket.async_read_some(buffer, std::move(handler));
    }
};

#endif

}  // namespace shortlink::serve
