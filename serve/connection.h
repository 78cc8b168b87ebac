// Connection: one client connection on a worker thread. HTTP/1.1 with keep-alive; pipelined
// requests are parsed from one fixed input buffer and their responses appended, in order, to one
// output buffer that goes out in a single write (so a pipelined burst costs one syscall each way).
//
// Buffers are allocated once per connection and reused; only a password POST allocates (PendingCheck).
// Reads and writes alternate (never both outstanding), which keeps pipelining trivially ordered
// and bounds the output buffer by what one input buffer of requests can produce.
//
// A connection is a template on its transport (serve/transport.h): PlainConnection for the
// --listen listeners, TlsConnection for --tls-listen, whose connection first completes a TLS
// handshake within the handshake deadline, then runs the same HTTP logic.
//
// Lifetime: owned by shared_ptrs held in its pending I/O handlers; linked into its worker's
// connection list of its kind for timeout sweeps and draining. Thread-safety: worker thread only.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/ip/tcp.hpp>

#include "formats/password.h"
#include "serve/answer.h"
#include "serve/click_log.h"
#include "serve/request_parser.h"
#include "serve/response_writer.h"
#include "serve/transport.h"

namespace shortlink::serve {

class Worker;

// How readily a connection gives up its place when the connection limit is reached
// (serve/worker.cpp evicts the smallest): first one lingering after its last answer, then
// one in the middle of a request header or a TLS handshake (a slowloris client holds its
// connections that way), then one idle between requests or not yet sent anything; within a
// kind, the one waiting longest since its last answer (or its start). Busy or closed: never.
struct EvictionRank {
    int kind = 0;
    std::int64_t since_ms = 0;
    bool operator<(const EvictionRank& o) const {
        return kind != o.kind ? kind < o.kind : since_ms < o.since_ms;
    }
};
inline constexpr EvictionRank k_never_evict{3, 0};

template <class Transport>
class Connection : public std::enable_shared_from_this<Connection<Transport>> {
public:
    template <class... TransportArgs>
    explicit Connection(Worker& worker, TransportArgs&&... transport);
    ~Connection();

    void start();

    // Called by the worker's sweep: closes the connection if its deadline passed.
    void check_deadline(std::int64_t now_ms);
    // Called when draining starts. A connection in the middle of a request finishes it (its
    // answer says Connection: close). An idle one is closed now, unless it got an answer less
    // than k_drain_grace_ms ago: a busy keep-alive client may have its next request on the way,
    // so it gets the rest of that time for one more request instead of losing it.
    void drain(std::int64_t now_ms);
    // Closes the socket now (worker shutdown); pending handlers complete with an error.
    void abort() { close(); }

    // How readily this connection gives up its place when the connection limit is reached
    // (serve/worker.cpp evicts the smallest); see EvictionRank.
    EvictionRank eviction_rank() const;
    // Bytes the kernel holds that this connection has not read yet: a request that arrived in the
    // same turn of the event loop as the accept that wants its place.
    bool has_unread_bytes() const;

    Connection* m_prev = nullptr;  // worker's intrusive list
    Connection* m_next = nullptr;

private:
    enum class Phase : std::uint8_t { handshaking, reading, writing, lingering, checking, closed };
    enum class Wait : std::uint8_t { handshake, header, idle, send, linger, drain, check };

    // A POST to a password link between its header and its answer: while its body is read, and
    // while the pool checks the password. Owns everything the answer needs (the request's bytes
    // and the snapshot may be gone by then).
    struct PendingCheck {
        std::string location;  // where the right password leads
        std::string host;      // the link's domain as the snapshot names it, and its code
        std::string code;
        std::array<std::uint8_t, formats::k_password_block_size> block{};
        FramingOptions framing;
        ClickRecord click;  // its text views point into click_text
        std::array<std::string, k_click_text_count> click_text;
    };

    void handshake();
    void on_handshake(const boost::system::error_code& ec);
    void begin_requests();
    void read();
    void on_read(const boost::system::error_code& ec, std::size_t n);
    // Parses and answers every complete request in the buffer. Returns false to close after
    // the pending output is written.
    bool process(std::uint64_t& answered);
    bool answer_current(std::uint64_t& answered);
    void fail(std::uint16_t status);
    void write();
    void on_write(const boost::system::error_code& ec);
    void linger();
    void linger_read();
    void wait_for_next_request(std::int64_t now_ms);
    void close();
    void release_handshake();
    void compact();
    void emplace_parser();
    void record_click(const Request& request, const Response& response);
    ClickRecord click_record(const Request& request, const Response& response) const;
    // The answer to a password link's POST once its header is in: 429 now, or the body is kept
    // for start_check().
    void begin_check(const Request& request, const Response& response, const FramingOptions& framing);
    // The body is in: an answer now (413, 403 for no password, 503 for a full pool; false), or
    // the check is on the pool and the connection waits for on_checked() (true).
    bool start_check(bool body_over_limit);
    void on_checked(bool ok);
    void finish_check(bool ok);
    // Appends a password answer that ends a pending check and records its click.
    void answer_check(Response& r);
    void resume();

    Worker& m_worker;
    Transport m_transport;
    std::unique_ptr<char[]> m_in;
    std::size_t m_capacity;
    std::size_t m_begin = 0;  // start of the request being parsed
    std::size_t m_parse = 0;  // where the parser continues
    std::size_t m_end = 0;    // end of received bytes
    std::string m_out;
    std::optional<RequestParser> m_parser;
    bool m_answered = false;      // the current request's response is already in m_out
    std::size_t m_answer_mark = 0;  // m_out size before the current request's response
    bool m_close_after_write = false;
    std::uint32_t m_requests = 0;
    Phase m_phase = Transport::k_tls ? Phase::handshaking : Phase::reading;
    bool m_counted_handshake = Transport::k_tls;  // holds a place under --max-handshakes
    Wait m_wait = Wait::header;
    std::int64_t m_deadline_ms = 0;
    std::int64_t m_idle_since_ms = 0;  // connection start or last answer written
    // The client's address, read once at start (family 0: unknown): as the click log records
    // it (an IPv4 address in the first 4 bytes), and as rules compare it (serve/rules_eval.h).
    std::uint8_t m_peer_family = 0;
    std::array<std::uint8_t, 16> m_peer{};
    std::array<std::uint8_t, 16> m_peer_v6{};
    // Password links.
    std::optional<PendingCheck> m_check;
    std::string m_body;           // the pending POST's body (at most k_max_password_body)
    bool m_paused = false;        // the check is on the pool: nothing more is parsed or answered
    std::optional<bool> m_check_result;  // arrived during a write; answered after it
    std::shared_ptr<Connection> m_self;  // alive while on the pool (no I/O handler holds it)
    std::string m_set_cookie;     // storage of a Set-Cookie header value
};

using PlainConnection = Connection<PlainTransport>;
using TlsConnection = Connection<TlsTransport>;

// How long a connection that just got an answer is kept during a drain for the next request a
// busy keep-alive client may already have sent (about one round trip; a second is generous).
inline constexpr std::int64_t k_drain_grace_ms = 1000;

}  // namespace shortlink::serve
