// GCC 12 with -fsanitize=address reports a false "may be used uninitialized" on a
// boost::optional inside Beast's basic_parser<true>::put, instantiated in this file.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "serve/connection.h"

#include <algorithm>
#include <cstring>
#include <ctime>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "formats/clock.h"
#include "serve/answer.h"
#include "serve/response_writer.h"
#include "serve/worker.h"

namespace shortlink::serve {

namespace {

namespace http = boost::beast::http;

// Room beyond the header limit so that the limit, not the buffer, decides 431.
constexpr std::size_t k_buffer_slack = 1024;
constexpr std::size_t k_min_buffer = 4096;
// Output buffer reserved up front: a batch of pipelined redirects fits without growing.
constexpr std::size_t k_out_reserve = 16 * 1024;

std::uint16_t status_for(const boost::system::error_code& ec, ParseFlaw flaw) {
    if (ec == http::error::header_limit || flaw == ParseFlaw::too_many_fields) {
        return 431;
    }
    if (ec == http::error::body_limit) {
        return 413;
    }
    return 400;
}

Method method_of(http::verb verb) {
    switch (verb) {
    case http::verb::get: return Method::get;
    case http::verb::head: return Method::head;
    default: return Method::other;
    }
}

}  // namespace

Connection::Connection(Worker& worker, boost::asio::ip::tcp::socket socket)
    : m_worker(worker),
      m_socket(std::move(socket)),
      m_capacity(std::max<std::size_t>(k_min_buffer, worker.limits().max_header_bytes + k_buffer_slack)) {
    m_in = std::make_unique<char[]>(m_capacity);
    m_out.reserve(k_out_reserve);
    m_worker.link(this);
}

Connection::~Connection() { m_worker.unlink(this); }

void Connection::start() {
    boost::system::error_code ec;
    m_socket.set_option(boost::asio::ip::tcp::no_delay(true), ec);
    m_socket.non_blocking(true, ec);  // write() sends without waiting; EAGAIN falls back to async
    m_wait = Wait::header;
    m_idle_since_ms = clock::monotonic_ms();
    m_deadline_ms = m_idle_since_ms + m_worker.limits().header_timeout_ms;
    read();
}

void Connection::emplace_parser() {
    m_parser.emplace(m_in.get(), m_capacity, m_worker.limits().max_header_count);
    m_parser->header_limit(m_worker.limits().max_header_bytes);
    m_parser->body_limit(m_worker.limits().max_body_bytes);
    m_answered = false;
    m_begin = m_parse;
}

void Connection::compact() {
    if (m_begin == m_end) {
        m_begin = m_parse = m_end = 0;
        return;
    }
    if (m_begin == 0) {
        return;
    }
    const std::size_t delta = m_begin;
    std::memmove(m_in.get(), m_in.get() + m_begin, m_end - m_begin);
    m_parse -= delta;
    m_end -= delta;
    m_begin = 0;
    if (m_parser) {
        m_parser->rebase(static_cast<std::uint32_t>(delta));
    }
}

void Connection::read() {
    m_phase = Phase::reading;
    compact();
    if (m_end == m_capacity) {
        fail(431);  // cannot happen while the header limit is below capacity; never spin
        write();
        return;
    }
    m_read.start(m_socket, boost::asio::buffer(m_in.get() + m_end, m_capacity - m_end),
                 ReadDone{shared_from_this(), &Connection::on_read});
}

void Connection::on_read(const boost::system::error_code& ec, std::size_t n) {
    if (ec || m_phase == Phase::closed) {
        close();
        return;
    }
    const std::uint64_t started_ns = clock::monotonic_ns();
    if (m_wait == Wait::idle || m_wait == Wait::drain) {
        // First bytes of a new request: the header deadline starts now.
        m_wait = Wait::header;
        m_deadline_ms = static_cast<std::int64_t>(started_ns / 1000000) +
                        m_worker.limits().header_timeout_ms;
    }
    m_end += n;
    std::uint64_t answered = 0;
    const bool keep = process(answered);
    if (answered > 0) {
        m_worker.mutable_metrics().observe_latency_ns(clock::monotonic_ns() - started_ns, answered);
    }
    if (!keep) {
        m_close_after_write = true;
    }
    if (!m_out.empty()) {
        write();
    } else if (m_close_after_write) {
        linger();
    } else {
        read();
    }
}

bool Connection::process(std::uint64_t& answered) {
    while (true) {
        if (!m_parser) {
            emplace_parser();
        }
        if (!m_parser->got_some()) {
            m_parse += leading_empty_lines(m_in.get() + m_parse, m_in.get() + m_end);
            m_begin = m_parse;
            if (m_end - m_parse == 1 && m_in[m_parse] == '\r') {
                return true;  // an empty line or a request line: the next byte says which
            }
        }
        if (m_parse == m_end) {
            return true;
        }
        boost::system::error_code ec;
        const std::size_t used =
            m_parser->put(boost::asio::const_buffer(m_in.get() + m_parse, m_end - m_parse), ec);
        m_parse += used;
        if (ec == http::error::bad_version && !m_parser->is_header_done() &&
            downgrade_minor_version(m_in.get() + m_begin, m_in.get() + m_end)) {
            m_parser.reset();  // HTTP/1.2 and up read as HTTP/1.1: parse the request again
            m_parse = m_begin;
            continue;
        }
        if (ec == http::error::need_more) {
            if (!m_parser->is_header_done() && m_end - m_begin > m_worker.limits().max_header_bytes) {
                fail(431);
                return false;
            }
            return true;
        }
        if (ec) {
            const bool version = ec == http::error::bad_version &&
                                 is_unsupported_version(m_in.get() + m_begin, m_in.get() + m_end);
            fail(version ? 505 : status_for(ec, m_parser->flaw()));
            return false;
        }
        if (m_parser->is_header_done() && !m_answered) {
            if (!answer_current(answered)) {
                return false;
            }
        }
        if (m_answered) {
            m_begin = m_parse;  // header views are no longer needed; body bytes are discarded
        }
        if (m_parser->is_done()) {
            m_parser.reset();
            if (m_close_after_write) {
                return false;
            }
        } else if (used == 0) {
            return true;
        }
    }
}

bool Connection::answer_current(std::uint64_t& answered) {
    RequestParser& p = *m_parser;
    if (has_obs_fold(m_in.get() + m_begin, m_in.get() + m_parse)) {
        fail(400);
        return false;
    }
    if (p.version() / 10 != 1) {
        fail(505);
        return false;
    }
    if (p.version() == 11 && !p.has_host()) {
        fail(400);  // RFC 9112 3.2: a server MUST answer 400 to HTTP/1.1 without Host
        return false;
    }
    const char* base = m_in.get();
    Request request;
    request.method = method_of(p.verb());
    request.target = std::string_view(base + p.target().offset, p.target().size);
    request.host = std::string_view(base + p.host().offset, p.host().size);
    const formats::Snapshot* snapshot = m_worker.snapshot();
    const PatchedSnapshot* patched = m_worker.patched();
    const Response response = patched != nullptr
                                  ? answer(patched, m_worker.deny(), request, clock::coarse_unix_seconds())
                                  : answer(snapshot, m_worker.deny(), request, clock::coarse_unix_seconds());

    ++m_requests;
    const bool keep_alive = p.keep_alive() && !m_worker.draining() &&
                            m_requests < m_worker.limits().max_requests;
    FramingOptions framing;
    framing.close = !keep_alive;
    framing.http10_keep_alive = keep_alive && p.version() == 10;
    m_answer_mark = m_out.size();
    WorkerMetrics& metrics = m_worker.mutable_metrics();
    if (write_response(m_out, response, framing, m_worker.date())) {
        metrics.count_request(response.status);
    } else {
        metrics.unsafe_location.add();
        metrics.count_request(500);
        m_close_after_write = true;
    }
    m_answered = true;
    if (!keep_alive) {
        m_close_after_write = true;
    }
    ++answered;
    return true;
}

void Connection::fail(std::uint16_t status) {
    if (m_answered) {
        m_out.resize(m_answer_mark);  // the request turned out malformed after its header
    }
    write_error(m_out, status, m_worker.date());
    m_worker.mutable_metrics().count_request(status);
    m_close_after_write = true;
    m_parser.reset();
    m_begin = m_parse = m_end = 0;
}

// Every answer produced from one read goes out in one send. Nearly always the socket buffer
// takes it all at once, so it is sent right here, without a completion handler's round trip
// through the event loop; only the rest of a partial send waits for the socket.
void Connection::write() {
    m_phase = Phase::writing;
    m_wait = Wait::send;
    m_deadline_ms = clock::monotonic_ms() + m_worker.limits().send_timeout_ms;
    boost::system::error_code ec;
    const std::size_t sent = m_socket.write_some(boost::asio::buffer(m_out), ec);
    if (!ec && sent == m_out.size()) {
        on_write(ec);
        return;
    }
    if (ec && ec != boost::asio::error::would_block) {
        close();
        return;
    }
    m_out.erase(0, sent);
    boost::asio::async_write(m_socket, boost::asio::buffer(m_out),
                             [self = shared_from_this()](const boost::system::error_code& error,
                                                         std::size_t) { self->on_write(error); });
}

void Connection::on_write(const boost::system::error_code& ec) {
    if (ec || m_phase == Phase::closed) {
        close();
        return;
    }
    m_out.clear();
    if (m_close_after_write) {
        linger();
        return;
    }
    wait_for_next_request(clock::monotonic_ms());
    // The read that brought this request drained the socket, so this one waits for the next
    // readiness edge without trying a recv first (serve/drained_read.h); a pipelined request
    // already in the buffer is parsed first.
    read();
}

void Connection::wait_for_next_request(std::int64_t now_ms) {
    m_idle_since_ms = now_ms;
    const bool idle = m_begin == m_end && (!m_parser || !m_parser->got_some());
    if (!idle) {
        m_wait = Wait::header;  // the next request has begun (pipelined)
        m_deadline_ms = now_ms + m_worker.limits().header_timeout_ms;
    } else if (m_worker.draining()) {
        // This answer was composed before the drain began and promised keep-alive: the client
        // may be sending its next request now. It gets the grace time, and a Connection: close.
        m_wait = Wait::drain;
        m_deadline_ms = now_ms + std::min(k_drain_grace_ms, m_worker.limits().keepalive_timeout_ms);
    } else {
        m_wait = Wait::idle;
        m_deadline_ms = now_ms + m_worker.limits().keepalive_timeout_ms;
    }
}

// After a final response: stop sending and read (discarding) until the client closes or a short
// deadline passes. Closing with unread data would make the kernel send RST, which can destroy the
// response before the client reads it (the reason for nginx's lingering_close).
void Connection::linger() {
    if (m_phase != Phase::lingering) {
        m_phase = Phase::lingering;
        m_wait = Wait::linger;
        m_deadline_ms = clock::monotonic_ms() + m_worker.limits().linger_ms;
        boost::system::error_code ignored;
        m_socket.shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
    }
    m_read.start(m_socket, boost::asio::buffer(m_in.get(), m_capacity),
                 ReadDone{shared_from_this(), &Connection::on_linger_read});
}

void Connection::on_linger_read(const boost::system::error_code& ec, std::size_t) {
    if (ec || m_phase == Phase::closed) {
        close();
    } else {
        linger();
    }
}

void Connection::close() {
    if (m_phase == Phase::closed) {
        return;
    }
    m_phase = Phase::closed;
    boost::system::error_code ignored;
    m_socket.close(ignored);
}

void Connection::check_deadline(std::int64_t now_ms) {
    if (m_phase == Phase::closed || now_ms < m_deadline_ms) {
        return;
    }
    WorkerMetrics& metrics = m_worker.mutable_metrics();
    switch (m_wait) {
    case Wait::header: metrics.timeouts_header.add(); break;
    case Wait::idle: metrics.timeouts_idle.add(); break;
    case Wait::send: metrics.timeouts_send.add(); break;
    case Wait::linger:
    case Wait::drain: break;
    }
    close();
}

Connection::EvictionRank Connection::eviction_rank() const {
    switch (m_phase) {
    case Phase::lingering: return {0, m_idle_since_ms};
    case Phase::reading: {
        const bool partial = m_begin != m_end || (m_parser && m_parser->got_some());
        return {partial ? 1 : 2, m_idle_since_ms};
    }
    case Phase::writing:
    case Phase::closed: break;
    }
    return k_never_evict;
}

bool Connection::has_unread_bytes() const {
    boost::system::error_code ec;
    return m_phase != Phase::closed && m_socket.available(ec) > 0 && !ec;
}

void Connection::drain(std::int64_t now_ms) {
    const bool idle = m_phase == Phase::reading && m_begin == m_end &&
                      (!m_parser || !m_parser->got_some());
    if (!idle) {
        return;  // its answer says Connection: close, then it closes
    }
    boost::system::error_code ec;
    if (m_socket.available(ec) > 0 && !ec) {
        return;  // a request arrived and is about to be read: it is answered
    }
    const std::int64_t until = m_idle_since_ms + k_drain_grace_ms;
    if (now_ms >= until) {
        close();
        return;
    }
    m_wait = Wait::drain;
    m_deadline_ms = std::min(m_deadline_ms, until);
}

}  // namespace shortlink::serve
