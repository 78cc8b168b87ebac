// Worker: one request thread. It owns an io_context, its own SO_REUSEPORT acceptor on every
// public endpoint, plain and TLS (the kernel spreads connections across workers, so nothing is
// shared between threads on the request path), the connections it accepted, its metrics, and
// its cached references to the current snapshot, deny overlay and certificate table.
//
// Timeouts are enforced by one coarse sweep timer per worker that walks the connection list
// (a store of one integer per request instead of arming a timer per read).
//
// Thread-safety: everything runs on the worker's own thread except post_*() and the
// constructor/destructor; post_*() may be called from any thread. They only set atomic flags
// that the sweep timer picks up (within k_max_sweep_ms), so the io_context runs with
// BOOST_ASIO_CONCURRENCY_HINT_UNSAFE: no mutex on the request path at all.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "formats/snapshot.h"
#include "serve/certificates.h"
#include "serve/click_log.h"
#include "serve/config.h"
#include "serve/geoip.h"
#include "serve/listen_socket.h"
#include "serve/metrics.h"
#include "serve/miss_budget.h"
#include "serve/response_writer.h"
#include "serve/snapshot_manager.h"

namespace shortlink::serve {

template <class Transport>
class Connection;
class PlainTransport;
class CookieKey;
class PasswordPool;
class AttemptLimiter;
class TlsTransport;
using PlainConnection = Connection<PlainTransport>;
using TlsConnection = Connection<TlsTransport>;

// Limits in the units the request path uses, computed once from ServeConfig.
// What password links need, owned by the server and shared by every worker; null members
// when absent.
struct PasswordSupport {
    const CookieKey* cookie_key = nullptr;
    PasswordPool* pool = nullptr;
    AttemptLimiter* limiter = nullptr;
    std::uint32_t cookie_max_age_s = 12 * 3600;
};

struct ConnectionLimits {
    std::uint32_t max_header_bytes = 8192;
    std::uint32_t max_header_count = 100;
    std::uint64_t max_body_bytes = 1 << 20;
    std::int64_t header_timeout_ms = 60000;
    std::int64_t keepalive_timeout_ms = 75000;
    std::int64_t send_timeout_ms = 60000;
    std::int64_t linger_ms = 2000;  // reading leftovers after a final response before closing
    std::int64_t handshake_timeout_ms = 10000;
    std::uint32_t max_requests = 1000;
};

class Worker {
public:
    // `stopping` is the server's drain flag: set once by the control thread on SIGTERM and read
    // by every answer, so that each response composed after it says Connection: close at once,
    // not at the worker's next sweep.
    // `handshakes` counts TLS handshakes in progress on every thread (--max-handshakes);
    // `certificates` and `tls_context` are null when there is no TLS listener.
    Worker(unsigned index, const ServeConfig& config, SnapshotManager& manager,
           std::atomic<std::uint32_t>& open_connections, std::atomic<std::uint32_t>& handshakes,
           const std::atomic<bool>& stopping, boost::asio::any_io_executor release_executor,
           CertificateDirectory* certificates, SSL_CTX* tls_context, int log_fd,
           ClickRing* clicks = nullptr, GeoIpFile* geoip = nullptr, MissBudget* misses = nullptr);
    ~Worker();

    // Opens this worker's acceptors (SO_REUSEPORT on the same endpoints as the other workers),
    // plain ones on `endpoints` and TLS ones on `tls_endpoints`. Both are updated with the bound
    // port when a port of 0 was asked for.
    // Its own SO_REUSEPORT acceptor on each endpoint, and a duplicate of each inherited socket.
    Status listen(const std::vector<InheritedSocket>& inherited,
                  std::vector<boost::asio::ip::tcp::endpoint>& endpoints,
                  std::vector<boost::asio::ip::tcp::endpoint>& tls_endpoints);
    // Runs the event loop on the calling thread until stop or drain completes.
    void run();

    // From any thread: pick up a newly published snapshot (so an idle worker releases the old
    // one promptly); begin draining (stop accepting, close idle connections, finish the rest);
    // stop at once. Each takes effect at the next sweep.
    void post_refresh();
    void post_drain();
    // Its listening sockets' descriptors, each with whether it is a TLS listener (for an upgrade
    // to hand to the new process; read on the control thread before the workers drain).
    std::vector<std::pair<int, bool>> listening_sockets() const;
    void post_stop();

    const WorkerMetrics& metrics() const { return m_metrics; }

    // --- used by Connection, on this worker's thread ---
    WorkerMetrics& mutable_metrics() { return m_metrics; }
    const ConnectionLimits& limits() const { return m_limits; }
    bool draining() const { return m_stopping.load(std::memory_order_relaxed); }
    std::string_view date() { return m_date.now(); }
    // The snapshot to answer from, refreshed when the manager published a newer one (or a new
    // deny overlay); deny() is the deny set in force beside it.
    const formats::Snapshot* snapshot() {
        if (m_manager.generation() != m_generation) {
            refresh();
        }
        return m_serving.snapshot.get();
    }
    const formats::DenySet* deny() const { return m_deny; }
    const PatchedSnapshot* patched() const { return m_serving.patched.get(); }
    // The serial of what answers: the patch's when one applies, else the snapshot's; 0: none.
    std::uint64_t serving_serial() const { return m_serving_serial; }
    void link(PlainConnection* c);
    void link(TlsConnection* c);
    void unlink(PlainConnection* c);
    void unlink(TlsConnection* c);
    // A TLS handshake ended (or its connection went before it did).
    void handshake_ended() { m_handshakes.fetch_sub(1, std::memory_order_relaxed); }
    int log_fd() const { return m_log_fd; }
    // --acme-webroot: where the plain listeners' challenge answers come from; empty: none.
    const std::string& acme_webroot() const { return m_config.acme_webroot; }
    // This thread's click ring; null when clicks are not recorded.
    ClickRing* clicks() const { return m_clicks; }
    const std::string& country_header() const { return m_config.country_header; }
    // The GeoIP database to answer from (null: none), refreshed when a new one was published;
    // the one a request started with stays mapped until this worker lets go of it.
    const CountrySource* geoip() {
        if (m_geoip != nullptr && m_geoip->generation() != m_geoip_generation) {
            refresh_geoip();
        }
        return m_geoip_db.get();
    }
    const TrustedProxies& trusted_proxies() const { return m_trusted_proxies; }
    // The miss budget table shared by every worker (null: --miss-budget 0) and the budget of a
    // client a minute.
    MissBudget* misses() const { return m_misses; }
    std::uint32_t miss_budget() const { return m_config.miss_budget; }
    bool keep_both_params() const { return m_config.keep_both_params; }
    const PasswordSupport& passwords() const { return m_passwords; }
    // Set before run(); the pointers outlive the worker's connections.
    void set_passwords(const PasswordSupport& p) { m_passwords = p; }
    boost::asio::any_io_executor executor() { return m_io.get_executor(); }

private:
    void refresh();
    void refresh_geoip();
    void accept(std::size_t i);
    void start_connection(boost::asio::ip::tcp::socket socket, bool tls);
    // Makes room under --max-connections; false when every connection here is busy.
    bool make_room();
    void start_tls(boost::asio::ip::tcp::socket socket);
    template <class F>
    void for_each_connection(F f);
    void pause_accepting(std::size_t i, std::chrono::milliseconds pause);
    void arm_sweep();
    void sweep();
    void begin_drain();

    const unsigned m_index;
    const ServeConfig& m_config;
    SnapshotManager& m_manager;
    std::atomic<std::uint32_t>& m_open_connections;
    std::atomic<std::uint32_t>& m_handshakes;
    const std::atomic<bool>& m_stopping;
    boost::asio::any_io_executor m_release;  // where a replaced snapshot is dropped (unmapped)
    CertificateDirectory* const m_certificates;
    SSL_CTX* const m_tls_context;
    const int m_log_fd;
    ClickRing* const m_clicks;
    GeoIpFile* const m_geoip;
    MissBudget* const m_misses;
    const TrustedProxies m_trusted_proxies;
    std::shared_ptr<const GeoIpDatabase> m_geoip_db;
    std::uint64_t m_geoip_generation = 0;
    ConnectionLimits m_limits;
    PasswordSupport m_passwords;

    boost::asio::io_context m_io{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE};
    std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> m_acceptors;
    std::vector<bool> m_acceptor_tls;  // per acceptor: a --tls-listen one
    boost::asio::steady_timer m_sweep_timer{m_io};
    boost::asio::steady_timer m_accept_timer{m_io};  // the pause after an accept() failure
    std::vector<std::size_t> m_paused_acceptors;
    AcceptFailures m_accept_failures;
    WorkerMetrics m_metrics;
    HttpDate m_date;
    Serving m_serving;
    const formats::DenySet* m_deny = nullptr;  // m_serving.deny(), computed at refresh
    std::uint64_t m_generation = 0;
    std::uint64_t m_serving_serial = 0;
    PlainConnection* m_connections = nullptr;  // intrusive lists of live connections
    TlsConnection* m_tls_connections = nullptr;
    std::shared_ptr<const CertTable> m_cert_table;  // what new TLS connections choose from
    std::uint64_t m_cert_generation = 0;
    bool m_draining = false;  // begin_drain() ran: acceptors closed, idle connections told
    std::atomic<bool> m_want_refresh{false};
    std::atomic<bool> m_want_drain{false};
    std::atomic<bool> m_want_stop{false};
};

}  // namespace shortlink::serve
