#include "serve/worker.h"

#include <algorithm>
#include <array>
#include <ctime>
#include <type_traits>
#include <utility>

#include <openssl/err.h>

#include <boost/asio/post.hpp>

#include "formats/clock.h"
#include "serve/connection.h"
#include "serve/listen_socket.h"
#include "serve/log.h"
#include "serve/tls_context.h"

namespace shortlink::serve {

namespace {

// Longest pause between sweeps: bounds how late a drain, stop or snapshot release is noticed.
constexpr std::int64_t k_max_sweep_ms = 100;

std::int64_t to_ms(double seconds) { return static_cast<std::int64_t>(seconds * 1000.0); }

}  // namespace

Worker::Worker(unsigned index, const ServeConfig& config, SnapshotManager& manager,
               std::atomic<std::uint32_t>& open_connections, std::atomic<std::uint32_t>& handshakes,
               const std::atomic<bool>& stopping, boost::asio::any_io_executor release_executor,
               CertificateDirectory* certificates, SSL_CTX* tls_context, int log_fd,
               ClickRing* clicks, GeoIpFile* geoip, MissBudget* misses)
    : m_index(index),
      m_config(config),
      m_manager(manager),
      m_open_connections(open_connections),
      m_handshakes(handshakes),
      m_stopping(stopping),
      m_release(std::move(release_executor)),
      m_certificates(certificates),
      m_tls_context(tls_context),
      m_log_fd(log_fd),
      m_clicks(clicks),
      m_geoip(geoip),
      m_misses(misses),
      m_trusted_proxies(config.trusted_proxies),
      m_accept_failures("public", log_fd) {
    m_limits.max_header_bytes = config.max_header_bytes;
    m_limits.max_header_count = config.max_header_count;
    m_limits.max_body_bytes = config.max_body_bytes;
    m_limits.header_timeout_ms = to_ms(config.header_timeout_s);
    m_limits.keepalive_timeout_ms = to_ms(config.keepalive_timeout_s);
    m_limits.send_timeout_ms = to_ms(config.send_timeout_s);
    m_limits.max_requests = config.max_requests_per_connection;
    m_limits.handshake_timeout_ms = to_ms(config.handshake_timeout_s);
}

template <class F>
void Worker::for_each_connection(F f) {
    for (PlainConnection* c = m_connections; c != nullptr;) {
        PlainConnection* next = c->m_next;  // f may close c, never unlink it: handlers hold it
        f(*c);
        c = next;
    }
    for (TlsConnection* c = m_tls_connections; c != nullptr;) {
        TlsConnection* next = c->m_next;
        f(*c);
        c = next;
    }
}

Worker::~Worker() {
    // Connections live in their pending handlers. Abort them and run those handlers now, while
    // the members they touch (metrics, the connection list) still exist.
    for_each_connection([](auto& c) { c.abort(); });
    for (auto& acceptor : m_acceptors) {
        boost::system::error_code ignored;
        acceptor->close(ignored);
    }
    m_sweep_timer.cancel();
    m_accept_timer.cancel();
    m_io.restart();
    m_io.poll();
}

Status Worker::listen(const std::vector<InheritedSocket>& inherited,
                      std::vector<boost::asio::ip::tcp::endpoint>& endpoints,
                      std::vector<boost::asio::ip::tcp::endpoint>& tls_endpoints) {
    for (const InheritedSocket& socket : inherited) {
        if (socket.name == "admin") {
            continue;
        }
        auto acceptor = std::make_unique<boost::asio::ip::tcp::acceptor>(m_io);
        if (Status s = adopt_listener(*acceptor, socket); !s) {
            return s;
        }
        m_acceptors.push_back(std::move(acceptor));
        m_acceptor_tls.push_back(socket.name == "tls");
    }
    for (auto* list : {&endpoints, &tls_endpoints}) {
        for (auto& endpoint : *list) {
            auto acceptor = std::make_unique<boost::asio::ip::tcp::acceptor>(m_io);
            if (Status s = open_listener(*acceptor, endpoint, true,
                                         boost::asio::socket_base::max_listen_connections,
                                         list == &tls_endpoints ? "TLS " : "");
                !s) {
                return s;
            }
            if (endpoint.port() == 0) {
                endpoint = acceptor->local_endpoint();
            }
            m_acceptors.push_back(std::move(acceptor));
            m_acceptor_tls.push_back(list == &tls_endpoints);
        }
    }
    return Status::ok();
}

std::vector<std::pair<int, bool>> Worker::listening_sockets() const {
    std::vector<std::pair<int, bool>> out;
    for (std::size_t i = 0; i < m_acceptors.size(); ++i) {
        if (m_acceptors[i]->is_open()) {
            out.emplace_back(m_acceptors[i]->native_handle(), m_acceptor_tls[i]);
        }
    }
    return out;
}

void Worker::run() {
    for (std::size_t i = 0; i < m_acceptors.size(); ++i) {
        accept(i);
    }
    arm_sweep();
    m_io.run();
}

void Worker::accept(std::size_t i) {
    m_acceptors[i]->async_accept(
        m_io, [this, i](const boost::system::error_code& ec, boost::asio::ip::tcp::socket socket) {
            if (ec == boost::asio::error::operation_aborted) {
                return;
            }
            if (!ec && m_draining) {
                // Accepted just before the drain closed the acceptor: dropping it would reset a
                // connection whose request may already be here. It is answered (Connection: close).
                start_connection(std::move(socket), m_acceptor_tls[i]);
                return;
            }
            if (m_draining) {
                return;
            }
            if (!ec) {
                start_connection(std::move(socket), m_acceptor_tls[i]);
            } else {
                m_metrics.accept_errors[static_cast<std::size_t>(classify_accept_error(ec))].add();
                pause_accepting(i, m_accept_failures.on_error(ec, clock::monotonic_ms()));
                return;
            }
            accept(i);
        });
}

// At the limit a new connection takes the place of a connection on this thread that waits on
// its client (Connection::eviction_rank: lingering, then stuck in a request header or a TLS
// handshake as slowloris clients keep theirs, then idle; the longest waiting first). Only when
// every connection here is busy is the new one refused. A client that sends its request at once
// is answered, and a busy keep-alive client outranks any slow header. The scan is linear, and
// runs only at the limit.
void Worker::start_connection(boost::asio::ip::tcp::socket socket, bool tls) {
    if (m_open_connections.fetch_add(1, std::memory_order_relaxed) >= m_config.max_connections &&
        !make_room()) {
        m_open_connections.fetch_sub(1, std::memory_order_relaxed);
        m_metrics.connections_rejected.add();
        return;  // `socket` closes as it goes out of scope
    }
    m_metrics.connections_opened.add();
    if (tls) {
        start_tls(std::move(socket));
    } else {
        std::make_shared<PlainConnection>(*this, std::move(socket))->start();
    }
}

bool Worker::make_room() {
    // The lists run from the newest connection to the oldest, and waiting times tie at the
    // clock's millisecond: on a tie the later (older) one goes, never a newcomer whose request
    // may be on the way. A choice whose request has arrived but is not read yet (its read
    // completes later in this turn of the loop) is passed over: closing it would lose that
    // request, and reset the client.
    constexpr int k_choices = 4;
    std::array<const void*, k_choices> passed_over{};
    for (int choice = 0; choice < k_choices; ++choice) {
        PlainConnection* plain = nullptr;
        TlsConnection* tls = nullptr;
        EvictionRank best = k_never_evict;
        for_each_connection([&](auto& c) {
            const EvictionRank rank = c.eviction_rank();
            if (rank < k_never_evict && !(best < rank) &&
                std::find(passed_over.begin(), passed_over.end(), &c) == passed_over.end()) {
                best = rank;
                if constexpr (std::is_same_v<std::decay_t<decltype(c)>, PlainConnection>) {
                    plain = &c;
                    tls = nullptr;
                } else {
                    tls = &c;
                    plain = nullptr;
                }
            }
        });
        if (plain == nullptr && tls == nullptr) {
            return false;
        }
        if (plain != nullptr ? plain->has_unread_bytes() : tls->has_unread_bytes()) {
            passed_over[static_cast<std::size_t>(choice)] =
                plain != nullptr ? static_cast<const void*>(plain) : tls;
            continue;
        }
        // Its count goes when its handlers let go of it, a moment from now.
        if (plain != nullptr) {
            plain->abort();
        } else {
            tls->abort();
        }
        m_metrics.connections_evicted.add();
        return true;
    }
    return false;
}

// Past --max-handshakes a new TLS connection is closed at once: a flood of connections that
// never finish their handshake holds at most that many, for at most --handshake-timeout each.
void Worker::start_tls(boost::asio::ip::tcp::socket socket) {
    if (m_handshakes.fetch_add(1, std::memory_order_relaxed) >= m_config.max_handshakes) {
        m_handshakes.fetch_sub(1, std::memory_order_relaxed);
        m_open_connections.fetch_sub(1, std::memory_order_relaxed);
        m_metrics.connections_closed.add();
        m_metrics.tls_handshakes_rejected.add();
        return;
    }
    if (m_certificates->generation() != m_cert_generation) {
        m_cert_generation = m_certificates->generation();
        m_cert_table = m_certificates->current();
    }
    SSL* ssl = new_connection_ssl(m_tls_context);
    if (ssl == nullptr) {
        ERR_clear_error();
        m_handshakes.fetch_sub(1, std::memory_order_relaxed);
        m_open_connections.fetch_sub(1, std::memory_order_relaxed);
        m_metrics.connections_closed.add();
        m_metrics.tls_handshakes_failed.add();
        return;
    }
    std::make_shared<TlsConnection>(*this, std::move(socket), ssl, std::shared_ptr(m_cert_table))->start();
}

// Every acceptor that failed waits for the same timer; they resume together.
void Worker::pause_accepting(std::size_t i, std::chrono::milliseconds pause) {
    m_paused_acceptors.push_back(i);
    if (m_paused_acceptors.size() > 1) {
        return;  // the timer is already running
    }
    m_accept_timer.expires_after(pause);
    m_accept_timer.async_wait([this](const boost::system::error_code& ec) {
        std::vector<std::size_t> paused;
        paused.swap(m_paused_acceptors);
        if (ec || m_draining) {
            return;
        }
        for (std::size_t index : paused) {
            accept(index);
        }
    });
}

namespace {

template <class C>
void link_into(C*& head, C* c) {
    c->m_next = head;
    if (head != nullptr) {
        head->m_prev = c;
    }
    head = c;
}

template <class C>
void unlink_from(C*& head, C* c) {
    if (c->m_prev != nullptr) {
        c->m_prev->m_next = c->m_next;
    } else {
        head = c->m_next;
    }
    if (c->m_next != nullptr) {
        c->m_next->m_prev = c->m_prev;
    }
}

}  // namespace

void Worker::link(PlainConnection* c) { link_into(m_connections, c); }

void Worker::link(TlsConnection* c) { link_into(m_tls_connections, c); }

void Worker::unlink(PlainConnection* c) {
    unlink_from(m_connections, c);
    m_metrics.connections_closed.add();
    m_open_connections.fetch_sub(1, std::memory_order_relaxed);
}

void Worker::unlink(TlsConnection* c) {
    unlink_from(m_tls_connections, c);
    m_metrics.connections_closed.add();
    m_open_connections.fetch_sub(1, std::memory_order_relaxed);
}

void Worker::refresh() {
    auto [serving, generation] = m_manager.current();
    Serving old = std::move(m_serving);
    m_serving = std::move(serving);
    m_deny = m_serving.deny();
    m_generation = generation;
    m_serving_serial = m_serving.patched ? m_serving.patched->patch().serial()
                       : m_serving.snapshot ? m_serving.snapshot->serial()
                                            : 0;
    if (old.snapshot || old.overlay || old.patched) {
        // Unmapping a 1 GB file takes tens of milliseconds: the low-priority loader does it.
        boost::asio::post(m_release, [old = std::move(old)]() mutable { old = Serving{}; });
    }
}

void Worker::refresh_geoip() {
    m_geoip_generation = m_geoip->generation();
    std::shared_ptr<const GeoIpDatabase> old = std::exchange(m_geoip_db, m_geoip->current());
    if (old) {
        // Its mapping goes when the last worker lets go; unmapping is the loader's job.
        boost::asio::post(m_release, [old = std::move(old)]() mutable { old.reset(); });
    }
}

void Worker::arm_sweep() {
    const std::int64_t shortest =
        std::min({m_limits.header_timeout_ms, m_limits.keepalive_timeout_ms, m_limits.send_timeout_ms,
                  m_limits.linger_ms, m_limits.handshake_timeout_ms});
    const std::int64_t period = std::clamp<std::int64_t>(shortest / 4, 20, k_max_sweep_ms);
    m_sweep_timer.expires_after(std::chrono::milliseconds(period));
    m_sweep_timer.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) {
            sweep();
        }
    });
}

void Worker::sweep() {
    if (m_want_stop.load(std::memory_order_acquire)) {
        m_io.stop();
        return;
    }
    if (m_want_drain.load(std::memory_order_acquire)) {
        begin_drain();
    }
    if (m_want_refresh.exchange(false, std::memory_order_acq_rel) &&
        m_manager.generation() != m_generation) {
        refresh();
    }
    const std::int64_t now = clock::monotonic_ms();
    m_accept_failures.flush(now);
    for_each_connection([now](auto& c) { c.check_deadline(now); });
    if (m_draining && m_connections == nullptr && m_tls_connections == nullptr) {
        return;  // nothing left: let run() return
    }
    arm_sweep();
}

void Worker::begin_drain() {
    if (m_draining) {
        return;
    }
    m_draining = true;
    m_accept_timer.cancel();
    for (std::size_t i = 0; i < m_acceptors.size(); ++i) {
        auto& acceptor = m_acceptors[i];
        // Connections the kernel completed but nobody accepted yet would be reset by the close,
        // requests and all: take them in (their answers say Connection: close), then close.
        boost::system::error_code ec;
        acceptor->non_blocking(true, ec);
        while (!ec) {
            boost::asio::ip::tcp::socket socket(m_io);
            acceptor->accept(socket, ec);
            if (!ec) {
                start_connection(std::move(socket), m_acceptor_tls[i]);
            }
        }
        acceptor->close(ec);
    }
    const std::int64_t now = clock::monotonic_ms();
    for_each_connection([now](auto& c) { c.drain(now); });
}

void Worker::post_refresh() { m_want_refresh.store(true, std::memory_order_release); }

void Worker::post_drain() { m_want_drain.store(true, std::memory_order_release); }

void Worker::post_stop() { m_want_stop.store(true, std::memory_order_release); }

}  // namespace shortlink::serve
