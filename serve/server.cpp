#include "serve/server.h"

#include <atomic>
#include <csignal>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <openssl/rand.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "formats/clock.h"
#include "formats/file_names.h"
#include "serve/admin.h"
#include "serve/upgrade.h"
#include "serve/certificates.h"
#include "serve/click_log.h"
#include "serve/geoip.h"
#include "serve/listen_socket.h"
#include "serve/log.h"
#include "serve/metrics.h"
#include "serve/miss_budget.h"
#include "serve/snapshot_manager.h"
#include "serve/ticket_keys.h"
#include "serve/tls_context.h"
#include "serve/cookies.h"
#include "serve/password_check.h"
#include "serve/worker.h"

namespace shortlink::serve {

namespace {


// Thread names show in top -H, ps -L and perf, so an operator can tell the request threads from
// the loader (at most 15 characters).
void name_thread(const std::string& name) { pthread_setname_np(pthread_self(), name.c_str()); }

std::string json_escape(std::string_view s) {
    std::string out;
    append_json_string(out, s);
    return out;
}

// The last file refused (a snapshot, patch, overlay or certificate), or null.
template <class Refused>
std::string refused_json(const Refused& refused) {
    if (refused.path.empty()) {
        return "null";
    }
    return "{\"path\":" + json_escape(refused.path) + ",\"reason\":" + json_escape(refused.reason) +
           ",\"detail\":" + json_escape(refused.message) + ",\"at\":" + std::to_string(refused.at) + "}";
}

std::string readyz_body(const SnapshotReport& r, std::int64_t now) {
    std::string out = "{\"ready\":";
    out += r.metrics.loaded ? "true" : "false";
    out += ",\"pid\":" + std::to_string(::getpid());
    if (r.metrics.loaded) {
        out += ",\"snapshot\":{\"serial\":" + std::to_string(r.metrics.serial);
        out += ",\"path\":" + json_escape(r.path);
        out += ",\"created_at\":" + std::to_string(r.metrics.created_at);
        out += ",\"age_s\":" + std::to_string(now - r.metrics.created_at);
        out += ",\"loaded_at\":" + std::to_string(r.loaded_at);
        out += ",\"links\":" + std::to_string(r.metrics.links);
        out += ",\"key_id\":" + json_escape(r.key_id);
        out += ",\"not_after\":" + std::to_string(r.metrics.not_after);
        out += std::string(",\"expired\":") + (r.metrics.expired ? "true" : "false");
        out += std::string(",\"verified\":") + (r.metrics.verified ? "true" : "false");
        out += ",\"deny_entries\":" + std::to_string(r.metrics.deny_entries) + "}";
    } else {
        out += ",\"snapshot\":null";
    }
    if (r.patch.loaded) {
        out += ",\"patch\":{\"serial\":" + std::to_string(r.patch.serial);
        out += ",\"base\":" + std::to_string(r.patch.base);
        out += ",\"path\":" + json_escape(r.patch_path);
        out += ",\"created_at\":" + std::to_string(r.patch.created_at);
        out += ",\"age_s\":" + std::to_string(now - r.patch.created_at);
        out += ",\"links\":" + std::to_string(r.patch.links);
        out += ",\"bytes\":" + std::to_string(r.patch.bytes) + "}";
    } else {
        out += ",\"patch\":null";
    }
    if (r.overlay.loaded) {
        out += ",\"overlay\":{\"serial\":" + std::to_string(r.overlay.serial);
        out += ",\"path\":" + json_escape(r.overlay_path);
        out += ",\"created_at\":" + std::to_string(r.overlay.created_at);
        out += ",\"age_s\":" + std::to_string(now - r.overlay.created_at);
        out += ",\"loaded_at\":" + std::to_string(r.overlay.loaded_at);
        out += std::string(",\"in_force\":") + (r.overlay.active ? "true" : "false");
        out += ",\"links\":" + std::to_string(r.overlay.links);
        out += ",\"domains\":" + std::to_string(r.overlay.domains);
        out += ",\"destinations\":" + std::to_string(r.overlay.destinations) + "}";
    } else {
        out += ",\"overlay\":null";
    }
    out += ",\"state_dir\":" + (r.state_dir.empty() ? std::string("null") : json_escape(r.state_dir));
    if (!r.state_error.empty()) {
        out += ",\"state_error\":" + json_escape(r.state_error);
    }
    out += ",\"last_refused\":" + refused_json(r.last_refused);
    out += ",\"swaps\":" + std::to_string(r.metrics.swaps) + "}\n";
    return out;
}

// The "geoip" member of /readyz: the database answering and the last version refused.
std::string readyz_geoip(const GeoIpReport& g) {
    std::string out = "{\"path\":" + json_escape(g.path);
    out += ",\"type\":" + json_escape(g.type);
    out += ",\"build_epoch\":" + std::to_string(g.build_epoch);
    out += ",\"loaded_at\":" + std::to_string(g.loaded_at);
    out += ",\"reloads\":" + std::to_string(g.reloads);
    out += ",\"refused\":" + std::to_string(g.refused);
    out += ",\"last_refused\":" + (g.last_refused.empty() ? std::string("null") : json_escape(g.last_refused));
    return out + "}";
}

// The "tls" member of /readyz: every certificate served, with a warning when it expires within
// `warn_days`, and the last refused file.
std::string readyz_tls(const CertificateReport& c, double warn_days, std::int64_t now) {
    std::string out = "{\"certs_dir\":" + json_escape(c.dir);
    out += ",\"warn_days\":" + std::to_string(static_cast<std::int64_t>(warn_days));
    out += ",\"certificates\":[";
    bool first = true;
    for (const auto& cert : c.table->certificates()) {
        out += first ? "{" : ",{";
        first = false;
        const double days = static_cast<double>(cert->not_after - now) / 86400.0;
        out += "\"host\":" + json_escape(cert->host);
        out += ",\"path\":" + json_escape(cert->path);
        out += ",\"subject\":" + json_escape(cert->subject);
        out += ",\"names\":[";
        for (std::size_t i = 0; i < cert->names.size(); ++i) {
            out += (i == 0 ? "" : ",") + json_escape(cert->names[i]);
        }
        out += "],\"not_before\":" + std::to_string(cert->not_before);
        out += ",\"not_after\":" + std::to_string(cert->not_after);
        out += ",\"expiry_days\":" + std::to_string(static_cast<std::int64_t>(days));
        if (cert->not_after <= now) {
            out += ",\"warning\":" + json_escape("expired: clients refuse it; renew it now");
        } else if (days < warn_days) {
            out += ",\"warning\":" +
                   json_escape("expires in " + std::to_string(static_cast<std::int64_t>(days)) +
                               " days (below " + std::to_string(static_cast<std::int64_t>(warn_days)) +
                               "): renew it");
        } else {
            out += ",\"warning\":null";
        }
        out += "}";
    }
    out += "]";
    out += ",\"last_refused\":" + refused_json(c.last_refused);
    out += "}";
    return out;
}

// Descriptors the server holds besides client connections: stdio, the log, inotify, the state
// directory, snapshot files being verified, each io_context's epoll, eventfd and timerfd, and
// the admin listener's short-lived connections. Generous on purpose: a warning that fires a bit
// early is better than EMFILE with no warning.
constexpr std::uint64_t k_reserved_descriptors = 64;

// Raises the soft RLIMIT_NOFILE to the hard limit (the soft default of 1024 fits 1000
// connections at best) and says at start when --max-connections cannot fit even so: beyond that,
// accept() fails with EMFILE and accepting pauses (serve/listen_socket.h) until connections close.
void raise_descriptor_limit(const ServeConfig& config, unsigned threads, int log_fd) {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        return;
    }
    if (limit.rlim_cur < limit.rlim_max) {
        rlimit raised = limit;
        // RLIM_INFINITY is refused above fs.nr_open (1048576 by default).
        raised.rlim_cur = std::min<rlim_t>(limit.rlim_max, 1u << 20);
        if (raised.rlim_cur > limit.rlim_cur && setrlimit(RLIMIT_NOFILE, &raised) == 0) {
            limit = raised;
        }
    }
    const std::uint64_t others =
        k_reserved_descriptors + std::uint64_t{threads} * (config.listen.size() + config.tls_listen.size());
    if (limit.rlim_cur != RLIM_INFINITY && config.max_connections + others > limit.rlim_cur) {
        const std::uint64_t fit = limit.rlim_cur > others ? limit.rlim_cur - others : 0;
        LogLine("warn", "descriptor_limit")
            .num("max_connections", config.max_connections)
            .num("nofile", static_cast<std::int64_t>(limit.rlim_cur))
            .num("connections_that_fit", static_cast<std::int64_t>(fit))
            .str("detail", "--max-connections " + std::to_string(config.max_connections) +
                               " does not fit in the descriptor limit of " +
                               std::to_string(limit.rlim_cur) + " (RLIMIT_NOFILE, hard limit " +
                               std::to_string(limit.rlim_max) + "): about " + std::to_string(fit) +
                               " connections fit; beyond that accepting pauses until some close. "
                               "Raise LimitNOFILE= or ulimit -n, or lower --max-connections")
            .emit(log_fd);
    }
}

// SIGHUPs that arrive during a reload's rescan, or within k_reload_quiet_ms of its end, start one
// more reload once they have stopped for k_reload_quiet_ms, or k_reload_gather_max_ms after the
// first of them if they go on.
constexpr std::int64_t k_reload_quiet_ms = 50;
constexpr std::int64_t k_reload_gather_max_ms = 1000;

// The loader thread verifies snapshots: seconds of CPU for 10M links. It runs under SCHED_IDLE,
// which the kernel preempts the moment a request thread of this process wakes. At nice 10 it
// still held a core for milliseconds after a wake-up (the scheduler's sleeper credit), and p99
// during a 10M-link swap rose 18x. Against other processes it also pauses (pace_loader in
// snapshot_manager.cpp says why). Idle time is enough: a busy server only keeps its current
// snapshot longer.

// The control thread's state: everything that is not on the request path. Snapshot verification
// runs on a separate loader thread so that signals, /readyz and /metrics answer while it works.
class Control {
public:
    Control(const ServeConfig& config, int log_fd)
        : m_config(config),
          m_log_fd(log_fd),
          m_manager(config.snapshot_dir, config.state_dir, config.trusted_keys, config.prefault,
                    log_fd),
          m_signals(m_io, SIGHUP, SIGTERM, SIGINT),
          m_upgrade_signal(m_io, SIGUSR2),
          m_rescan_timer(m_io),
          m_drain_timer(m_io),
          m_reload_timer(m_io),
          m_ticket_timer(m_io),
          m_cert_settle_timer(m_io),
          m_inotify(m_io),
          m_admin(m_io, [this](const std::string& path) { return admin_reply(path); }, log_fd) {}

    ~Control() { stop_loader(); }
    Control(const Control&) = delete;
    Control& operator=(const Control&) = delete;

    Status run() {
        std::vector<boost::asio::ip::tcp::endpoint> endpoints;
        for (const Endpoint& e : m_config.listen) {
            endpoints.emplace_back(boost::asio::ip::make_address(e.address), e.port);
        }
        std::vector<boost::asio::ip::tcp::endpoint> tls_endpoints;
        for (const Endpoint& e : m_config.tls_listen) {
            tls_endpoints.emplace_back(boost::asio::ip::make_address(e.address), e.port);
        }
        const InheritedSocket* inherited_admin = nullptr;
        for (const InheritedSocket& socket : m_config.inherited) {
            if (socket.name == "admin") {
                inherited_admin = &socket;
            }
        }
        const bool with_admin =
            inherited_admin == nullptr && (m_config.admin.port != 0 || !m_config.admin.address.empty());
        boost::asio::ip::tcp::endpoint admin;
        if (with_admin) {
            admin = {boost::asio::ip::make_address(m_config.admin.address), m_config.admin.port};
        }
        // Before anything else: a server that cannot own its addresses says so and stops.
        for (const auto& e : endpoints) {
            if (Status s = claim_address(e, ""); !s) {
                return s;
            }
        }
        for (const auto& e : tls_endpoints) {
            if (Status s = claim_address(e, "TLS "); !s) {
                return s;
            }
        }
        if (with_admin) {
            if (Status s = claim_address(admin, "admin "); !s) {
                return s;
            }
        }
        unsigned threads = m_config.threads;
        if (threads == 0) {
            threads = std::max(1u, std::thread::hardware_concurrency());
        }
        raise_descriptor_limit(m_config, threads, m_log_fd);
        const bool inherited_tls = std::any_of(m_config.inherited.begin(), m_config.inherited.end(),
                                               [](const InheritedSocket& socket) { return socket.name == "tls"; });
        if (!tls_endpoints.empty() || inherited_tls) {
            if (Status s = load_certificates(); !s) {
                return s;
            }
        }
        if (!m_config.clicks_dir.empty()) {
            ClickLogConfig clicks;
            clicks.dir = m_config.clicks_dir;
            clicks.ring_bytes = m_config.clicks_buffer_bytes;
            clicks.segment_bytes = m_config.clicks_segment_bytes;
            clicks.segment_age_ms = static_cast<std::int64_t>(m_config.clicks_segment_age_s * 1000);
            clicks.networks = m_config.clicks_networks;
            auto log = ClickLog::open(clicks, threads, m_log_fd);
            if (!log) {
                return log.status();
            }
            m_clicks = std::move(*log);
        }
        if (!m_config.geoip_file.empty()) {
            auto geoip = GeoIpFile::open(m_config.geoip_file, m_log_fd);
            if (!geoip) {
                return geoip.status();  // names the file and what is wrong with it
            }
            m_geoip = std::move(geoip).value();
        }
        if (m_config.miss_budget != 0) {
            std::uint64_t secret = 0;
            if (RAND_bytes(reinterpret_cast<unsigned char*>(&secret), sizeof secret) != 1) {
                return Status::io_error("cannot draw the miss budget's key from the CSPRNG");
            }
            m_misses = std::make_unique<MissBudget>(secret);
        }
        if (Status s = start_passwords(); !s) {
            return s;
        }
        m_manager.scan();  // cold start: a lazy load, milliseconds at any size
        m_manager.scan_patches();
        m_manager.scan_overlays();
        start_loader();
        for (unsigned i = 0; i < threads; ++i) {
            m_workers.push_back(std::make_unique<Worker>(
                i, m_config, m_manager, m_open_connections, m_handshakes, m_stopping,
                m_loader_io.get_executor(), m_certificates.get(), m_tls_context.get(), m_log_fd,
                m_clicks ? &m_clicks->ring(i) : nullptr, m_geoip.get(), m_misses.get()));
            m_workers.back()->set_passwords(m_passwords);
            Status s = m_workers.back()->listen(m_config.inherited, endpoints, tls_endpoints);
            if (!s) {
                return s;
            }
        }
        if (inherited_admin != nullptr) {
            if (Status s = m_admin.adopt(*inherited_admin); !s) {
                return s;
            }
            LogLine("info", "admin_listening").str("address", inherited_admin->local.address().to_string())
                .num("port", inherited_admin->local.port()).boolean("inherited", true).emit(m_log_fd);
        }
        if (with_admin) {
            Status s = m_admin.listen(admin);
            if (!s) {
                return s;
            }
            LogLine("info", "admin_listening").str("address", admin.address().to_string())
                .num("port", admin.port()).emit(m_log_fd);
        }
        if (Status s = watch_directory(); !s) {
            return s;
        }
        wait_signals();
        arm_rescan();
        if (m_ticket_keys) {
            arm_ticket_rotation();
        }

        for (const auto& e : endpoints) {
            LogLine("info", "listening").str("address", e.address().to_string())
                .num("port", e.port()).num("threads", threads).emit(m_log_fd);
        }
        for (const auto& e : tls_endpoints) {
            LogLine("info", "listening").str("address", e.address().to_string())
                .num("port", e.port()).num("threads", threads).boolean("tls", true).emit(m_log_fd);
        }
        for (const InheritedSocket& socket : m_config.inherited) {
            if (socket.name != "admin") {
                LogLine("info", "listening").str("address", socket.local.address().to_string())
                    .num("port", socket.local.port()).num("threads", threads)
                    .boolean("tls", socket.name == "tls").boolean("inherited", true).emit(m_log_fd);
            }
        }
        std::vector<std::thread> threads_running;
        for (std::size_t i = 0; i < m_workers.size(); ++i) {
            threads_running.emplace_back([this, i] {
                name_thread("sl-worker-" + std::to_string(i));
                m_workers[i]->run();
            });
        }
        if (m_clicks) {
            m_clicks->start();
            LogLine("info", "recording_clicks").str("dir", m_config.clicks_dir).emit(m_log_fd);
        }
        if (!m_config.pull.origins.empty()) {
            m_puller = std::make_unique<Puller>(m_config.pull, m_config.snapshot_dir, m_config.trusted_keys, m_log_fd);
            m_puller->start();
            LogLine("info", "pulling").str("origin", m_config.pull.origins.front())
                .str("channel", m_config.pull.channel).emit(m_log_fd);
        }
        sd_notify(0, "READY=1");
        if (const pid_t predecessor = release_predecessor(); predecessor != 0) {
            LogLine("info", "upgraded").num("from_pid", predecessor).emit(m_log_fd);
        }
        wait_upgrade_signal();
        on_loader([this] { return m_manager.settle(m_cancel_load); });
        m_io.run();
        if (m_puller) {
            m_puller->stop();
        }
        for (auto& t : threads_running) {
            t.join();
        }
        if (m_password_pool) {
            m_password_pool->stop();  // before the workers, whose executors its tasks post to
        }
        if (m_clicks) {
            m_clicks->stop();  // every event the workers recorded goes into a sealed segment
            const ClickLogMetrics c = m_clicks->metrics();
            LogLine("info", "clicks_flushed").num("recorded", c.recorded)
                .num("dropped_write", c.dropped_write).emit(m_log_fd);
        }
        stop_loader();
        if (m_watcher.joinable()) {
            m_watcher.join();
        }
        LogLine("info", "stopped").emit(m_log_fd);
        return Status::ok();
    }

private:
    // The cookie key (--cookie-key, else the state directory's, else one for this process), the
    // password check pool and the attempt table.
    Status start_passwords() {
        if (!m_config.cookie_key_path.empty()) {
            auto key = CookieKey::load(m_config.cookie_key_path);
            if (!key) {
                return key.status();
            }
            m_cookie_key = std::move(*key);
        } else if (!m_config.state_dir.empty()) {
            auto key = CookieKey::load_or_create(m_config.state_dir);
            if (!key) {
                return key.status();
            }
            m_cookie_key = std::move(*key);
        } else {
            m_cookie_key = CookieKey::generate();
        }
        m_password_pool = std::make_unique<PasswordPool>(m_config.password_threads, m_config.password_queue);
        m_attempts = std::make_unique<AttemptLimiter>(m_config.password_attempts_per_client,
                                                      m_config.password_attempts_per_link);
        m_passwords.cookie_key = &*m_cookie_key;
        m_passwords.pool = m_password_pool.get();
        m_passwords.limiter = m_attempts.get();
        m_passwords.cookie_max_age_s = m_config.password_cookie_max_age_s;
        return Status::ok();
    }

    // At start: a TLS listener with no certificate to serve is a configuration error.
    Status load_certificates() {
        m_certificates = std::make_unique<CertificateDirectory>(m_config.certs_dir, m_log_fd);
        m_certificates->scan(clock::unix_seconds());
        const CertificateReport r = m_certificates->report();
        if (r.table->empty()) {
            std::string detail = r.last_refused.path.empty()
                                     ? "no HOST.crt with HOST.key, HOST.pem or default.* file in it"
                                     : "every file was refused; the last: " + r.last_refused.message;
            return Status::invalid_argument("--tls-listen: no usable certificate in " +
                                            m_config.certs_dir + " (" + detail + ")");
        }
        auto tickets = TicketKeys::make();
        if (!tickets) {
            return tickets.status();
        }
        m_ticket_keys = std::move(tickets).value();
        auto context = make_listener_context(m_ticket_keys);
        if (!context) {
            return context.status();
        }
        m_tls_context = std::move(context).value();
        return Status::ok();
    }

    // New ticket keys every --tls-ticket-rotation, drawn on the control thread; the workers'
    // handshakes read them through an atomic pointer, with no mutex (serve/ticket_keys.h).
    void arm_ticket_rotation() {
        m_ticket_timer.expires_after(
            std::chrono::milliseconds(static_cast<std::int64_t>(m_config.ticket_rotation_s * 1000)));
        m_ticket_timer.async_wait([this](const boost::system::error_code& ec) {
            if (ec) {
                return;
            }
            if (Status s = m_ticket_keys->rotate(); !s) {
                LogLine("error", "tls_ticket_keys_not_rotated").str("detail", s.message()).emit(m_log_fd);
            } else {
                LogLine("info", "tls_ticket_keys_rotated")
                    .num("rotations", static_cast<std::int64_t>(m_ticket_keys->rotations()))
                    .emit(m_log_fd);
            }
            arm_ticket_rotation();
        });
    }

    // Certificates are read and validated here, on the control thread: milliseconds per file,
    // never on a request thread. A new table reaches the workers through its generation.
    void rescan_certificates() {
        if (m_certificates && !m_draining) {
            m_certificates->scan(clock::unix_seconds());
            if (const auto in_ms = m_certificates->settle_in_ms()) {
                m_cert_settle_timer.expires_after(std::chrono::milliseconds(*in_ms));
                m_cert_settle_timer.async_wait([this](const boost::system::error_code& ec) {
                    if (!ec) {
                        rescan_certificates();
                    }
                });
            }
        }
    }

    // The GeoIP file is reopened here, on the control thread, when it changed; workers pick the
    // new database up through its generation.
    void rescan_geoip() {
        if (m_geoip && !m_draining) {
            m_geoip->check();
        }
    }

    AdminReply admin_reply(const std::string& path) {
        const std::int64_t now = clock::unix_seconds();
        if (path == "/healthz") {
            return AdminReply{200, "text/plain; charset=utf-8", "ok\n"};
        }
        if (path == "/readyz") {
            const SnapshotReport r = m_manager.report(now);
            std::string body = readyz_body(r, now);
            bool ready = r.metrics.loaded && !m_draining;
            body.resize(body.size() - 2);  // "}\n": the pull and tls members go last
            body += ",\"pull\":" + (m_puller ? readyz_pull(m_puller->report(), now) : std::string("null"));
            body += ",\"geoip\":" + (m_geoip ? readyz_geoip(m_geoip->report()) : std::string("null"));
            if (m_certificates) {
                const CertificateReport c = m_certificates->report();
                ready = ready && !c.table->empty();
                body += ",\"tls\":" + readyz_tls(c, m_config.cert_warn_days, now) + "}\n";
            } else {
                body += ",\"tls\":null}\n";
            }
            return AdminReply{ready ? 200u : 503u, "application/json", std::move(body)};
        }
        if (path == "/metrics") {
            const SnapshotReport r = m_manager.report(now);
            std::vector<const WorkerMetrics*> metrics;
            for (const auto& w : m_workers) {
                metrics.push_back(&w->metrics());
            }
            metrics.push_back(&m_admin.metrics());
            std::optional<CertificateReport> certificates;
            if (m_certificates) {
                certificates = m_certificates->report();
            }
            std::optional<ClickLogMetrics> clicks;
            if (m_clicks) {
                clicks = m_clicks->metrics();
            }
            std::string text = render_prometheus(metrics, r.metrics, r.overlay, r.patch,
                                                 certificates ? &*certificates : nullptr, now,
                                                 clicks ? &*clicks : nullptr,
                                                 m_password_pool ? m_password_pool->queue_depth() : 0);
            if (m_puller) {
                text += render_pull_metrics(m_puller->report());
            }
            if (m_misses) {
                text += render_miss_budget_metrics(*m_misses, m_config.miss_budget, now);
            }
            if (m_geoip) {
                text += render_geoip_metrics(m_geoip->report());
            }
            return AdminReply{200, "text/plain; version=0.0.4; charset=utf-8", std::move(text)};
        }
        return AdminReply{404, "text/plain; charset=utf-8", "not found\n"};
    }

    void start_loader() {
        m_loader = std::thread([this] {
            name_thread("sl-loader");
            sched_param idle{};
            if (const int err = pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle); err != 0) {
                LogLine("warn", "loader_priority").str("detail", std::strerror(err)).emit(m_log_fd);
            }
            m_loader_io.run();
        });
    }

    void stop_loader() {
        m_cancel_load.store(true);
        m_loader_guard.reset();
        m_loader_io.stop();
        if (m_loader.joinable()) {
            m_loader.join();
        }
    }

    // Runs `job` (scan and/or settle) on the loader thread and tells the workers when the serving
    // snapshot changed; `done` then runs back on the control thread.
    template <class Job>
    void on_loader(Job job, std::function<void()> done = {}) {
        boost::asio::post(m_loader_io, [this, job = std::move(job), done = std::move(done)]() mutable {
            if (job()) {
                for (auto& w : m_workers) {
                    w->post_refresh();
                }
                // A new base: its patch may be waiting in the directory already.
                boost::asio::post(m_io, [this] { rescan_overlays(); });
            }
            if (done) {
                boost::asio::post(m_io, std::move(done));
            }
        });
    }

    // Deny overlays and patches are verified here, on the control thread at normal priority:
    // milliseconds for 100k entries or thousands of changed links, and never queued behind a
    // snapshot verification on the loader.
    void rescan_overlays() {
        if (m_draining) {
            return;
        }
        const bool patched = m_manager.scan_patches();
        if (m_manager.scan_overlays() || patched) {
            for (auto& w : m_workers) {
                w->post_refresh();
            }
        }
    }

    void rescan(std::function<void()> done = {}) {
        if (m_draining) {
            return;
        }
        // Coalesced: one queued scan covers every event that arrives before it starts.
        if (m_scan_queued.exchange(true) && !done) {
            return;
        }
        on_loader(
            [this] {
                m_scan_queued.store(false);
                const bool published = m_manager.scan();
                const bool settled = m_manager.settle(m_cancel_load);
                return published || settled;
            },
            std::move(done));
    }

    Status watch_directory() {
        const int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (fd < 0) {
            return Status::io_error("inotify_init1 failed");
        }
        // Deletions too, so that losing the serving file is noticed (and logged) at once.
        constexpr std::uint32_t k_events = IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM;
        if (inotify_add_watch(fd, m_config.snapshot_dir.c_str(), k_events) < 0) {
            ::close(fd);
            return Status::io_error("cannot watch snapshot directory " + m_config.snapshot_dir);
        }
        if (m_certificates) {
            m_certs_watch = inotify_add_watch(fd, m_config.certs_dir.c_str(), k_events);
            if (m_certs_watch < 0) {
                ::close(fd);
                return Status::io_error("cannot watch certificate directory " + m_config.certs_dir);
            }
        }
        m_inotify.assign(fd);
        read_inotify();
        return Status::ok();
    }

    void read_inotify() {
        m_inotify.async_read_some(boost::asio::buffer(m_events),
                                  [this](const boost::system::error_code& ec, std::size_t n) {
                                      if (ec) {
                                          return;
                                      }
                                      if (n > 0) {
                                          dispatch_events(n);
                                      }
                                      read_inotify();
                                  });
    }

    // An overlay's or a patch's arrival is handled at once on this thread, and so is any change
    // in the certificate directory; anything else (a snapshot, a temporary file, a deletion)
    // queues a coalesced snapshot rescan on the loader.
    void dispatch_events(std::size_t n) {
        bool overlays = false;
        bool snapshots = false;
        bool certificates = false;
        std::size_t at = 0;
        while (at + sizeof(inotify_event) <= n) {
            inotify_event event{};
            std::memcpy(&event, m_events.data() + at, sizeof(event));
            const std::size_t end = at + sizeof(inotify_event) + event.len;
            if (end > n) {
                break;
            }
            const std::string_view name(m_events.data() + at + sizeof(inotify_event),
                                        ::strnlen(m_events.data() + at + sizeof(inotify_event), event.len));
            if ((event.mask & IN_Q_OVERFLOW) != 0) {
                overlays = snapshots = certificates = true;
            } else if (event.wd == m_certs_watch) {
                certificates = true;
            } else if (formats::kind_of_suffix(name) == formats::format::FileKind::deny ||
                       formats::kind_of_suffix(name) == formats::format::FileKind::patch) {
                overlays = true;
            } else {
                snapshots = true;
            }
            at = end;
        }
        if (certificates) {
            rescan_certificates();
        }
        if (overlays) {
            rescan_overlays();
        }
        if (snapshots) {
            rescan();
        }
    }

    void wait_upgrade_signal() {
        m_upgrade_signal.async_wait([this](const boost::system::error_code& ec, int) {
            if (ec || m_draining) {
                return;
            }
            upgrade();
            wait_upgrade_signal();
        });
    }

    // SIGUSR2: the binary at this executable's path starts with the same arguments and every
    // listening socket; it sends SIGTERM here once it serves, and this process drains.
    void upgrade() {
        if (m_successor != 0 && ::kill(m_successor, 0) == 0) {
            LogLine("warn", "upgrade_refused").str("detail", "an upgrade is already under way")
                .num("successor_pid", m_successor).emit(m_log_fd);
            return;
        }
        if (m_clicks) {
            // The click directory admits one writer; the successor could not take it over yet.
            LogLine("warn", "upgrade_refused")
                .str("detail", "--clicks: the click log cannot be handed over; restart instead").emit(m_log_fd);
            return;
        }
        std::vector<PassedSocket> sockets;
        std::set<std::pair<dev_t, ino_t>> seen;  // workers may share one inherited socket
        const auto add = [&](int fd, const char* name) {
            struct stat st {};
            if (fd >= 0 && ::fstat(fd, &st) == 0 && seen.insert({st.st_dev, st.st_ino}).second) {
                sockets.push_back({fd, name});
            }
        };
        for (const auto& w : m_workers) {
            for (const auto& [fd, tls] : w->listening_sockets()) {
                add(fd, tls ? "tls" : "web");
            }
        }
        add(m_admin.listening_socket(), "admin");
        auto started = start_successor(sockets);
        if (!started) {
            LogLine("error", "upgrade_failed").str("detail", started.status().message()).emit(m_log_fd);
            return;
        }
        m_successor = *started;
        sd_notifyf(0, "MAINPID=%d", static_cast<int>(m_successor));
        LogLine("info", "upgrading").num("successor_pid", m_successor)
            .num("sockets", static_cast<std::int64_t>(sockets.size())).emit(m_log_fd);
    }

    void wait_signals() {
        m_signals.async_wait([this](const boost::system::error_code& ec, int signal) {
            if (ec) {
                return;
            }
            if (signal == SIGHUP) {
                on_sighup();
                wait_signals();
            } else {
                begin_drain(signal);
            }
        });
    }

    // A storm of SIGHUPs is a few reloads, not one each. A SIGHUP is answered at once unless a
    // reload ended less than k_reload_quiet_ms ago; signals that come while a rescan runs or
    // just after it are gathered until none came for k_reload_quiet_ms (at most
    // k_reload_gather_max_ms after the first of them) and answered by one more reload. Each
    // reload writes one log line with the number of signals it answers.
    void on_sighup() {
        ++m_reload_signals;
        switch (m_reload_state) {
        case ReloadState::idle:
            // Right after a reload, a signal is more likely part of a storm than news: gather.
            if (std::chrono::steady_clock::now() <
                m_reload_done + std::chrono::milliseconds(k_reload_quiet_ms)) {
                gather();
            } else {
                reload();
            }
            return;
        case ReloadState::rescanning: return;  // gathered once the rescan is done
        case ReloadState::gathering: gather(); return;
        }
    }

    void gather() {
        const auto now = std::chrono::steady_clock::now();
        if (m_reload_state != ReloadState::gathering) {
            m_reload_state = ReloadState::gathering;
            m_reload_first = now;
        }
        const auto until = std::min(now + std::chrono::milliseconds(k_reload_quiet_ms),
                                    m_reload_first + std::chrono::milliseconds(k_reload_gather_max_ms));
        m_reload_timer.expires_at(until);  // cancels the wait armed by the previous signal
        m_reload_timer.async_wait([this](const boost::system::error_code& ec) {
            if (!ec && !m_draining) {
                reload();
            }
        });
    }

    void reload() {
        m_reload_state = ReloadState::rescanning;
        sd_notify(0, "RELOADING=1");
        LogLine("info", "reload").str("trigger", "SIGHUP")
            .num("signals", static_cast<std::int64_t>(m_reload_signals)).emit(m_log_fd);
        m_reload_signals = 0;
        rescan_certificates();
        rescan_geoip();
        rescan_overlays();
        rescan([this] {
            sd_notify(0, "READY=1");
            m_reload_state = ReloadState::idle;
            m_reload_done = std::chrono::steady_clock::now();
            if (m_reload_signals > 0) {
                gather();  // signals that came during the rescan
            }
        });
    }

    void arm_rescan() {
        m_rescan_timer.expires_after(
            std::chrono::milliseconds(static_cast<std::int64_t>(m_config.rescan_interval_s * 1000)));
        m_rescan_timer.async_wait([this](const boost::system::error_code& ec) {
            if (!ec) {
                rescan_certificates();
                rescan_geoip();
                rescan_overlays();
                rescan();
                arm_rescan();
            }
        });
    }

    void begin_drain(int signal) {
        m_draining = true;
        m_stopping.store(true, std::memory_order_relaxed);
        m_cancel_load.store(true);  // a verification in progress is abandoned, not waited for
        sd_notify(0, "STOPPING=1");
        LogLine("info", "draining").str("signal", signal == SIGTERM ? "SIGTERM" : "SIGINT")
            .real("deadline_s", m_config.drain_timeout_s).emit(m_log_fd);
        m_signals.cancel();
        m_upgrade_signal.cancel();
        m_rescan_timer.cancel();
        m_reload_timer.cancel();
        m_ticket_timer.cancel();
        m_cert_settle_timer.cancel();
        boost::system::error_code ignored;
        m_inotify.close(ignored);
        m_admin.close();
        for (auto& w : m_workers) {
            w->post_drain();
        }
        // Wait for the workers off the control thread; stop them if the deadline passes first.
        m_drain_timer.expires_after(
            std::chrono::milliseconds(static_cast<std::int64_t>(m_config.drain_timeout_s * 1000)));
        m_drain_timer.async_wait([this](const boost::system::error_code& ec) {
            if (!ec) {
                m_deadline_passed = true;
                LogLine("warn", "drain_deadline_passed").emit(m_log_fd);
                for (auto& w : m_workers) {
                    w->post_stop();
                }
            }
        });
        m_watcher = std::thread([this] {
            // Poll until every connection is gone; cheap and bounded by the drain deadline.
            while (m_open_connections.load() > 0 && !m_deadline_passed.load()) {
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
            boost::asio::post(m_io, [this] { m_drain_timer.cancel(); });
        });
    }

    const ServeConfig& m_config;
    const int m_log_fd;
    boost::asio::io_context m_io{1};
    boost::asio::io_context m_loader_io{1};
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> m_loader_guard{
        m_loader_io.get_executor()};
    std::thread m_loader;
    std::atomic<bool> m_cancel_load{false};
    std::atomic<bool> m_scan_queued{false};
    SnapshotManager m_manager;
    boost::asio::signal_set m_signals;
    boost::asio::signal_set m_upgrade_signal;  // SIGUSR2: start the new binary, hand it the sockets
    pid_t m_successor = 0;
    boost::asio::steady_timer m_rescan_timer;
    boost::asio::steady_timer m_drain_timer;
    boost::asio::steady_timer m_reload_timer;
    boost::asio::steady_timer m_ticket_timer;  // --tls-ticket-rotation
    boost::asio::steady_timer m_cert_settle_timer;  // a half-renewed certificate pair
    enum class ReloadState { idle, gathering, rescanning };
    ReloadState m_reload_state = ReloadState::idle;
    std::chrono::steady_clock::time_point m_reload_first;  // first SIGHUP of the gathering
    std::chrono::steady_clock::time_point m_reload_done;   // end of the last reload's rescan
    std::uint64_t m_reload_signals = 0;  // SIGHUPs not yet answered by a reload
    boost::asio::posix::stream_descriptor m_inotify;
    AdminListener m_admin;
    std::array<char, 4096> m_events{};
    // Declared before the workers, which use them until their last connection is gone.
    std::atomic<std::uint32_t> m_handshakes{0};  // TLS handshakes in progress, all workers
    std::unique_ptr<CertificateDirectory> m_certificates;  // null without --tls-listen
    std::unique_ptr<GeoIpFile> m_geoip;      // null without --geoip
    std::unique_ptr<MissBudget> m_misses;    // null with --miss-budget 0
    std::shared_ptr<TicketKeys> m_ticket_keys;  // null without --tls-listen
    std::shared_ptr<SSL_CTX> m_tls_context;  // shared by every worker's TLS connections
    int m_certs_watch = -1;  // inotify watch of the certificate directory
    std::unique_ptr<ClickLog> m_clicks;  // null without --clicks; outlives the workers
    std::unique_ptr<Puller> m_puller;    // null without --pull
    std::optional<CookieKey> m_cookie_key;            // outlives the workers
    std::unique_ptr<AttemptLimiter> m_attempts;
    PasswordSupport m_passwords;
    std::vector<std::unique_ptr<Worker>> m_workers;
    // After the workers: destroyed (stopped) first, as its tasks post to their executors.
    std::unique_ptr<PasswordPool> m_password_pool;
    std::atomic<std::uint32_t> m_open_connections{0};
    bool m_draining = false;
    std::atomic<bool> m_stopping{false};  // m_draining, for the workers to read per answer
    std::atomic<bool> m_deadline_passed{false};
    std::thread m_watcher;
};

}  // namespace

Status run_server(const ServeConfig& config, int log_fd) {
    // Signals must be blocked in every thread but the one asio's signal_set serves from, or a
    // worker thread could take SIGTERM's default action; asio installs handlers process-wide, so
    // creating the signal_set before any thread starts is enough.
    std::signal(SIGPIPE, SIG_IGN);
    Control control(config, log_fd);
    return control.run();
}

}  // namespace shortlink::serve
