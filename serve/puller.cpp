#include "serve/puller.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <optional>
#include <random>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <openssl/ssl.h>

#include "formats/bytes.h"
#include "formats/clock.h"
#include "formats/deny.h"
#include "formats/file_names.h"
#include "formats/origin_index.h"
#include "formats/sha256.h"
#include "formats/snapshot.h"
#include "formats/transport.h"
#include "formats/unique_fd.h"
#include "serve/log.h"
#include "serve/resolve_host.h"

namespace shortlink::serve {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace fmt = formats::format;
using Clock = std::chrono::steady_clock;

// An index is a few hundred bytes; anything much larger is not one.
constexpr std::uint64_t k_max_index_bytes = 64 * 1024;
// A file's deadline grows with its size at this rate on top of --pull-timeout, so a large
// snapshot on a modest link completes while an origin that drips bytes is still cut off.
constexpr std::uint64_t k_min_rate = 1 << 20;  // bytes per second
constexpr std::size_t k_read_size = 64 * 1024;  // a body's bytes per read (Beast reads at most this)
constexpr std::uint64_t k_writeback_step = 16 << 20;  // bytes of a pulled file between writeback starts
constexpr int k_max_redirects = 5;
// Failed polls wait twice as long each time, up to this: a fleet of thousands of hosts asks a
// dead origin for a few hundred small files a second at most, and a host sees the origin back
// (or a bad index fixed) within about this long.
constexpr double k_max_backoff_s = 8;

// A refusal with its reason (one of k_pull_reasons) and what happened.
struct Refusal {
    std::string reason;
    std::string detail;
};

// What one GET got back. The body of a 200 goes to the sink as it arrives; others are not read.
struct Answer {
    unsigned status = 0;
    std::string etag;
    std::string date;           // the Date header
    std::string last_modified;  // the Last-Modified header
    std::string location;
    std::uint64_t body_bytes = 0;
};

// A chunk of a 200 answer's body; a Refusal thrown from it stops the transfer.
using Sink = std::function<void(const char*, std::size_t)>;

struct Target {
    bool tls = false;
    std::string host;      // without brackets
    std::string port;
    std::string host_header;
    std::string path;      // origin-form target: path and query
};

std::optional<Target> target_of(boost::urls::url_view url) {
    Target t;
    if (url.scheme_id() == boost::urls::scheme::https) {
        t.tls = true;
    } else if (url.scheme_id() != boost::urls::scheme::http) {
        return std::nullopt;
    }
    t.host = url.host_address();
    if (t.host.empty()) {
        return std::nullopt;
    }
    t.port = url.has_port() ? std::string(url.port()) : (t.tls ? "443" : "80");
    t.host_header = std::string(url.encoded_host_and_port());
    t.path = std::string(url.encoded_target());
    if (t.path.empty()) {
        t.path = "/";
    }
    return t;
}

std::string describe(const boost::system::error_code& ec) {
    if (ec == beast::error::timeout) {
        return "no answer within the deadline";
    }
    return ec.message();
}

template <class Stream>
asio::awaitable<void> exchange(Stream& stream, const Target& t, const std::string& if_none_match,
                               std::uint64_t max_body, const Sink& sink, Answer& out) {
    http::request<http::empty_body> request{http::verb::get, t.path, 11};
    request.set(http::field::host, t.host_header);
    request.set(http::field::user_agent, "shortlink-pull");
    request.set(http::field::connection, "close");
    if (!if_none_match.empty()) {
        request.set(http::field::if_none_match, if_none_match);
    }
    co_await http::async_write(stream, request, asio::use_awaitable);
    // Beast reads at most what the buffer's capacity allows (512 bytes when left to grow on its
    // own, as the header needs), up to 64 KiB: a 1 GB snapshot in half-KiB reads would cost a
    // core for seconds in system calls and timer updates alone.
    beast::flat_buffer buffer;
    buffer.reserve(k_read_size);
    http::response_parser<http::buffer_body> parser;
    parser.header_limit(16 * 1024);
    parser.body_limit(max_body);
    boost::system::error_code header_error;
    co_await http::async_read_header(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, header_error));
    if (header_error == http::error::body_limit) {
        // Beast checks a Content-Length against the limit as the header is parsed.
        throw Refusal{"too_large", "the answer's length is more than the " + std::to_string(max_body) + " bytes allowed"};
    }
    if (header_error) {
        throw boost::system::system_error(header_error);
    }
    const auto& response = parser.get();
    out.status = response.result_int();
    out.etag = std::string(response[http::field::etag]);
    out.date = std::string(response[http::field::date]);
    out.last_modified = std::string(response[http::field::last_modified]);
    out.location = std::string(response[http::field::location]);
    if (out.status != 200) {
        co_return;
    }
    if (const auto length = parser.content_length(); length && *length > max_body) {
        throw Refusal{"too_large", "the answer is " + std::to_string(*length) + " bytes, more than the " +
                                       std::to_string(max_body) + " allowed"};
    }
    std::vector<char> chunk(k_read_size);
    while (!parser.is_done()) {
        parser.get().body().data = chunk.data();
        parser.get().body().size = chunk.size();
        boost::system::error_code ec;
        co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
        if (ec == http::error::need_buffer) {
            ec = {};
        }
        const std::size_t got = chunk.size() - parser.get().body().size;
        if (got > 0) {
            out.body_bytes += got;
            sink(chunk.data(), got);
        }
        if (ec == http::error::body_limit) {
            throw Refusal{"too_large", "the body goes on past " + std::to_string(max_body) + " bytes"};
        }
        if (ec == http::error::partial_message || ec == http::error::end_of_stream ||
            ec == asio::error::eof) {
            throw Refusal{"size_mismatch", "the body ended after " + std::to_string(out.body_bytes) + " bytes"};
        }
        if (ec) {
            throw boost::system::system_error(ec);
        }
    }
}

// One GET of `url` within `deadline`: name lookup (bounded), connection, TLS with certificate
// and host name verification, the request and the answer.
void get_once(boost::urls::url_view url, const std::string& if_none_match, std::uint64_t max_body,
              const Sink& sink, Clock::time_point deadline, asio::ssl::context& tls,
              const std::atomic<bool>& cancel, Answer& out) {
    const std::optional<Target> t = target_of(url);
    if (!t) {
        throw Refusal{"http_status", "cannot fetch " + std::string(url.buffer()) + ": not an http or https URL"};
    }
    auto addresses = resolve_host(t->host, t->port, deadline);
    if (!addresses) {
        throw Refusal{"unreachable", addresses.status().message()};
    }
    std::vector<asio::ip::tcp::endpoint> endpoints;
    for (const addrinfo* a = addresses->get(); a != nullptr; a = a->ai_next) {
        asio::ip::tcp::endpoint e;
        std::memcpy(e.data(), a->ai_addr, std::min<std::size_t>(a->ai_addrlen, sizeof(sockaddr_in6)));
        endpoints.push_back(e);
    }
    asio::io_context io;
    std::exception_ptr failure;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            beast::tcp_stream stream(co_await asio::this_coro::executor);
            // One expiry for every operation that follows: the whole exchange has the deadline.
            stream.expires_after(std::max(Clock::duration::zero(), deadline - Clock::now()));
            co_await stream.async_connect(endpoints, asio::use_awaitable);
            if (!t->tls) {
                co_await exchange(stream, *t, if_none_match, max_body, sink, out);
                co_return;
            }
            beast::ssl_stream<beast::tcp_stream> secure(std::move(stream), tls);
            boost::system::error_code not_an_address;
            (void)asio::ip::make_address(t->host, not_an_address);
            // SNI names a host; an address literal is not sent (RFC 6066).
            if (not_an_address && !SSL_set_tlsext_host_name(secure.native_handle(), t->host.c_str())) {
                throw Refusal{"unreachable", "cannot set the TLS server name " + t->host};
            }
            secure.set_verify_callback(asio::ssl::host_name_verification(t->host));
            co_await secure.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
            co_await exchange(secure, *t, if_none_match, max_body, sink, out);
        },
        [&](std::exception_ptr e) { failure = e; });
    // In slices, so that a server shutting down does not wait for a long download.
    while (!io.stopped()) {
        io.run_for(std::chrono::milliseconds(100));
        if (cancel.load(std::memory_order_relaxed) && !io.stopped()) {
            io.stop();
            throw Refusal{"unreachable", std::string(url.buffer()) + ": cancelled by shutdown"};
        }
    }
    if (!failure) {
        return;
    }
    try {
        std::rethrow_exception(failure);
    } catch (const boost::system::system_error& e) {
        throw Refusal{"unreachable", std::string(url.buffer()) + ": " + describe(e.code())};
    }
}

// get_once(), following redirects (resolved against the URL that sent them) a few times.
Answer get(const boost::urls::url& start, const std::string& if_none_match, std::uint64_t max_body,
           const Sink& sink, Clock::time_point deadline, asio::ssl::context& tls, const std::atomic<bool>& cancel) {
    boost::urls::url url = start;
    for (int hop = 0; hop <= k_max_redirects; ++hop) {
        Answer answer;
        get_once(url, if_none_match, max_body, sink, deadline, tls, cancel, answer);
        const unsigned s = answer.status;
        if (s != 301 && s != 302 && s != 303 && s != 307 && s != 308) {
            return answer;
        }
        if (answer.location.empty()) {
            throw Refusal{"http_status", std::string(url.buffer()) + ": a " + std::to_string(s) +
                                             " redirect without a Location"};
        }
        auto ref = boost::urls::parse_uri_reference(answer.location);
        boost::urls::url next;
        if (!ref || !boost::urls::resolve(url, *ref, next) || !target_of(next)) {
            throw Refusal{"http_status", std::string(url.buffer()) + ": a redirect to " + answer.location +
                                             ", which is not an http or https URL"};
        }
        url = std::move(next);
    }
    throw Refusal{"redirect_loop", std::string(start.buffer()) + ": more than " +
                                       std::to_string(k_max_redirects) + " redirects"};
}

std::string hex(const formats::Sha256Digest& d) { return formats::bytes::hex_encode(d.data(), d.size()); }

// An HTTP date (RFC 9110 IMF-fixdate) as Unix seconds; nullopt for anything else.
std::optional<std::int64_t> http_date(const std::string& text) {
    std::tm tm{};
    const char* end = ::strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end == nullptr || *end != '\0') {
        return std::nullopt;
    }
    return static_cast<std::int64_t>(::timegm(&tm));
}

// Whether an index's ETag may be sent back in If-None-Match. Static servers such as nginx derive
// the ETag from the file's modification time in whole seconds and its size; an index replaced
// within the second it was fetched, by one of the same size, keeps its ETag, and a host that sent
// that ETag back would be told "not modified" until the next publish. So an ETag is only trusted
// when the answer says the file was older than that second (Last-Modified before Date), or when
// the server gives no Last-Modified (a content-derived ETag, as object stores send).
bool etag_is_safe(const Answer& a) {
    if (a.etag.empty()) {
        return false;
    }
    if (a.last_modified.empty()) {
        return true;
    }
    const auto modified = http_date(a.last_modified);
    const auto now = http_date(a.date);
    return modified && now && *now - *modified >= 2;
}

std::string temp_name(const std::string& name) {
    std::random_device rd;
    return "." + name + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(rd() % 1000000);
}

// The file's own checks, as the server will run them: a trusted signature and a sound container.
Status check_file(const std::string& path, fmt::FileKind kind, const formats::TrustedKeys& trusted) {
    formats::OpenOptions options;
    switch (kind) {
    case fmt::FileKind::snapshot: {
        options.lazy_content = true;  // the signature and block digests; the server proves the rest
        return formats::Snapshot::open(path, trusted, options).status();
    }
    case fmt::FileKind::patch: return formats::Snapshot::open_patch(path, trusted, options).status();
    default: return formats::DenyOverlay::open(path, trusted, options).status();
    }
}

}  // namespace

struct Puller::Origin {
    boost::urls::url base;  // with a trailing '/'
    std::string etag;       // of the last index it sent
    formats::Sha256Digest index_digest{};
};

std::string render_pull_metrics(const PullReport& r) {
    std::string out;
    const auto gauge = [&](const char* name, const char* help, const char* type, std::uint64_t value) {
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " +
               std::to_string(value) + "\n";
    };
    gauge("shortlink_pull_last_success_timestamp_seconds",
          "When an origin last answered with a usable index (0: never).", "gauge",
          static_cast<std::uint64_t>(r.last_success));
    gauge("shortlink_pull_index_expiry_timestamp_seconds", "When the accepted origin index expires (0: none yet).",
          "gauge", static_cast<std::uint64_t>(r.index_expires_at));
    gauge("shortlink_pull_index_serial", "Serial of the accepted origin index.", "gauge", r.index_serial);
    gauge("shortlink_pull_polls_total", "Polls of the origin's index.", "counter", r.polls);
    gauge("shortlink_pull_not_modified_total", "Polls answered 304: the index had not changed.", "counter",
          r.not_modified);
    gauge("shortlink_pull_files_total", "Files fetched, checked and placed in the snapshot directory.", "counter",
          r.files_fetched);
    gauge("shortlink_pull_bytes_total", "Bytes of the files fetched.", "counter", r.bytes_fetched);
    gauge("shortlink_pull_received_bytes_total",
          "Body bytes received from origins: indexes and files, compressed or not, refused ones too.", "counter",
          r.received_bytes);
    gauge("shortlink_pull_zstd_files_total", "Files fetched in their zstd form and decompressed.", "counter",
          r.zstd_files);
    gauge("shortlink_pull_zstd_fallbacks_total", "zstd forms refused; the plain file was fetched instead.",
          "counter", r.zstd_fallbacks);
    gauge("shortlink_pull_snapshots_deferred_total",
          "New snapshots that waited for --pull-snapshot-interval before their fetch.", "counter",
          r.snapshots_deferred);
    out += "# HELP shortlink_pull_refused_total Pulls refused, by reason; what is served did not change.\n"
           "# TYPE shortlink_pull_refused_total counter\n";
    for (const char* reason : k_pull_reasons) {
        const auto it = r.refused.find(reason);
        out += std::string("shortlink_pull_refused_total{reason=\"") + reason + "\"} " +
               std::to_string(it == r.refused.end() ? 0 : it->second) + "\n";
    }
    return out;
}

std::string readyz_pull(const PullReport& r, std::int64_t now) {
    std::string error;
    for (const char c : r.last_error) {
        if (c == '"' || c == '\\') {
            error += '\\';
            error += c;
        } else if (static_cast<unsigned char>(c) >= 0x20) {
            error += c;
        }
    }
    std::string out = "{\"origin\":\"";
    for (const char c : r.origin) {
        if (c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20) {
            out += c;
        }
    }
    out += "\",\"last_success\":" + std::to_string(r.last_success);
    out += ",\"stale_s\":" + (r.last_success == 0 ? std::string("null") : std::to_string(now - r.last_success));
    out += ",\"index_serial\":" + std::to_string(r.index_serial);
    out += ",\"index_expires_at\":" + std::to_string(r.index_expires_at);
    out += std::string(",\"index_expired\":") + (r.index_expires_at != 0 && r.index_expires_at <= now ? "true" : "false");
    out += ",\"last_error\":\"" + error + "\"}";
    return out;
}

std::string pull_url_problem(const std::string& url) {
    auto parsed = boost::urls::parse_absolute_uri(url);
    if (!parsed) {
        return "not an absolute URL";
    }
    if (!target_of(*parsed)) {
        return "not an http:// or https:// URL with a host";
    }
    if (parsed->has_query() || parsed->has_fragment()) {
        return "a pull URL names a directory: no query or fragment";
    }
    if (parsed->has_userinfo()) {
        return "credentials in a pull URL are not supported";
    }
    return {};
}

Puller::Puller(PullConfig config, std::string snapshot_dir, formats::TrustedKeys trusted, int log_fd)
    : m_config(std::move(config)), m_dir(std::move(snapshot_dir)), m_trusted(std::move(trusted)), m_log_fd(log_fd) {
    for (const std::string& text : m_config.origins) {
        Origin o;
        o.base = boost::urls::url(boost::urls::parse_absolute_uri(text).value());
        if (o.base.path().empty() || o.base.path().back() != '/') {
            o.base.set_path(std::string(o.base.path()) + "/");
        }
        m_origins.push_back(std::move(o));
    }
    m_report.enabled = true;
}

Puller::~Puller() { stop(); }

void Puller::start() {
    m_thread = std::thread([this] { run(); });
}

void Puller::stop() {
    {
        std::lock_guard lock(m_mutex);
        m_stop = true;
    }
    m_cancel.store(true, std::memory_order_relaxed);
    m_wake.notify_all();
    if (m_thread.joinable()) {
        m_thread.join();
    }
}

PullReport Puller::report() const {
    std::lock_guard lock(m_mutex);
    return m_report;
}

void Puller::refuse(const std::string& reason, const std::string& detail) {
    {
        std::lock_guard lock(m_mutex);
        ++m_report.refused[reason];
        m_report.last_error = detail;
    }
    LogLine("warn", "pull_refused").str("reason", reason).str("detail", detail).emit(m_log_fd);
}

namespace {

// Temporary files a puller killed mid-transfer left behind: ".NAME.tmp.PID.N" of a PID that no
// longer runs.
void remove_stale_downloads(const std::string& dir, int log_fd) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        const std::string name = entry.path().filename().string();
        const std::size_t tmp = name.rfind(".tmp.");
        if (name.empty() || name.front() != '.' || tmp == std::string::npos) {
            continue;
        }
        const std::string rest = name.substr(tmp + 5);
        const std::size_t dot = rest.find('.');
        if (dot == std::string::npos || dot == 0 || rest.find_first_not_of("0123456789.") != std::string::npos) {
            continue;
        }
        const pid_t pid = static_cast<pid_t>(std::stol(rest.substr(0, std::min<std::size_t>(dot, 9))));
        if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH && ::unlink(entry.path().c_str()) == 0) {
            LogLine("info", "removed_stale_download").str("path", entry.path().string()).emit(log_fd);
        }
    }
}

}  // namespace

void Puller::run() {
    remove_stale_downloads(m_dir, m_log_fd);
    std::mt19937_64 rng(std::random_device{}());
    int failures = 0;
    while (true) {
        const bool ok = poll();
        failures = ok ? 0 : std::min(failures + 1, 16);
        // Jittered: a fleet started together does not poll the origin in step.
        double wait = m_config.interval_s;
        if (failures > 0) {
            const double doubled = m_config.interval_s * static_cast<double>(1u << std::min(failures, 6));
            wait = std::max(m_config.interval_s, std::min(k_max_backoff_s, doubled));
        }
        wait *= std::uniform_real_distribution<double>(0.8, 1.2)(rng);
        std::unique_lock lock(m_mutex);
        if (m_wake.wait_for(lock, std::chrono::duration<double>(wait), [this] { return m_stop; })) {
            return;
        }
    }
}

bool Puller::poll() {
    {
        std::lock_guard lock(m_mutex);
        ++m_report.polls;
        m_report.last_attempt = clock::unix_seconds();
    }
    for (Origin& origin : m_origins) {
        {
            std::lock_guard lock(m_mutex);
            if (m_stop) {
                return true;
            }
        }
        std::string reason;
        const Status s = poll_origin(origin, reason);
        if (s) {
            std::lock_guard lock(m_mutex);
            m_report.last_success = clock::unix_seconds();
            m_report.origin = std::string(origin.base.buffer());
            return true;
        }
        refuse(reason, s.message());
    }
    return false;
}

Status Puller::poll_origin(Origin& origin, std::string& reason) {
    // One client context for the puller's life: loading the system's trust store takes tens of
    // milliseconds, more than the rest of a poll.
    if (!m_tls) {
        auto tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
        tls->set_verify_mode(asio::ssl::verify_peer);
        tls->set_options(asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
        boost::system::error_code ec;
        if (m_config.ca_file.empty()) {
            tls->set_default_verify_paths(ec);
        } else {
            tls->load_verify_file(m_config.ca_file, ec);
        }
        if (ec) {
            reason = "unreachable";
            return Status::io_error("cannot load the TLS trust anchors: " + ec.message());
        }
        m_tls = std::move(tls);
    }
    asio::ssl::context& tls = *m_tls;
    const auto timeout = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(m_config.timeout_s));
    try {
        boost::urls::url index_url = origin.base;
        index_url.set_path(std::string(origin.base.path()) + formats::index_file_name(m_config.channel));
        std::string body;
        const Answer answer = get(index_url, origin.etag, k_max_index_bytes,
                                  [&](const char* p, std::size_t n) {
                                      received(n);
                                      body.append(p, n);
                                  },
                                  Clock::now() + timeout, tls, m_cancel);
        if (answer.status == 304) {
            {
                std::lock_guard lock(m_mutex);
                ++m_report.not_modified;
                // Still in force only while it has not expired: a 304 does not renew an index.
                if (m_report.index_expires_at != 0 && m_report.index_expires_at <= clock::unix_seconds()) {
                    throw Refusal{"expired_index", std::string(index_url.buffer()) + ": unchanged, and expired at " +
                                                       std::to_string(m_report.index_expires_at)};
                }
            }
            // A snapshot that waited for its interval is fetched now, though the index is the same.
            if (m_pending && fetch_named(origin, *m_pending, tls)) {
                m_pending.reset();
            }
            return Status::ok();
        }
        if (answer.status != 200) {
            throw Refusal{"http_status", std::string(index_url.buffer()) + ": HTTP " + std::to_string(answer.status)};
        }
        auto index = formats::OriginIndex::open_buffer(body, m_trusted, std::string(index_url.buffer()));
        if (!index) {
            throw Refusal{"bad_index", index.status().message()};
        }
        const formats::OriginIndex::Contents& c = index->contents();
        const std::int64_t now = clock::unix_seconds();
        if (c.expires_at <= now) {
            throw Refusal{"expired_index", std::string(index_url.buffer()) + ": expired " +
                                               std::to_string(now - c.expires_at) + " s ago"};
        }
        if (c.channel != m_config.channel) {
            throw Refusal{"bad_index", std::string(index_url.buffer()) + ": an index of channel " + c.channel};
        }
        {
            std::lock_guard lock(m_mutex);
            if (c.serial < m_report.index_serial) {
                throw Refusal{"older_index", std::string(index_url.buffer()) + ": serial " + std::to_string(c.serial) +
                                                 " is below the accepted " + std::to_string(m_report.index_serial)};
            }
        }
        const bool complete = fetch_named(origin, c, tls);
        m_pending = complete ? std::nullopt : std::optional(c);
        origin.etag = etag_is_safe(answer) ? answer.etag : std::string();
        {
            std::lock_guard lock(m_mutex);
            if (c.serial != m_report.index_serial) {
                ++m_report.indexes_accepted;
            }
            m_report.index_serial = c.serial;
            m_report.index_expires_at = c.expires_at;
        }
        return Status::ok();
    } catch (const Refusal& r) {
        reason = r.reason;
        return Status::io_error(r.detail);
    }
}

void Puller::received(std::size_t n) {
    std::lock_guard lock(m_mutex);
    m_report.received_bytes += n;
}

bool Puller::held(const formats::IndexedFile& f) {
    const std::string name = f.name();
    const std::string want = hex(f.sha256);
    const std::string path = m_dir + "/" + name;
    struct stat st {};
    if (auto it = m_have.find(name); it != m_have.end() && it->second == want && ::stat(path.c_str(), &st) == 0 &&
        static_cast<std::uint64_t>(st.st_size) == f.size) {
        return true;
    }
    if (auto local = formats::sha256_file(path); local && hex(local->first) == want) {
        m_have[name] = want;
        return true;
    }
    return false;
}

bool Puller::fetch_named(Origin& origin, const formats::OriginIndex::Contents& c, asio::ssl::context& tls) {
    const auto interval = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(m_config.snapshot_interval_s));
    std::uint64_t waiting = 0;  // the serial of a snapshot that waits for its interval
    for (const formats::IndexedFile& f : c.files()) {
        if (held(f) || (f.kind == fmt::FileKind::patch && f.base == waiting)) {
            continue;  // a patch waits with its base
        }
        if (f.kind == fmt::FileKind::snapshot && m_last_snapshot && Clock::now() < *m_last_snapshot + interval) {
            waiting = f.serial;
            if (m_deferred_serial != f.serial) {
                m_deferred_serial = f.serial;
                {
                    std::lock_guard lock(m_mutex);
                    ++m_report.snapshots_deferred;
                }
                LogLine("info", "pull_deferred").str("file", f.name())
                    .num("wait_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                        *m_last_snapshot + interval - Clock::now()).count())
                    .emit(m_log_fd);
            }
            continue;
        }
        const auto started = Clock::now();
        fetch_file(origin, f, tls);
        if (f.kind == fmt::FileKind::snapshot) {
            m_last_snapshot = started;
        }
    }
    return waiting == 0;
}

void Puller::fetch_file(Origin& origin, const formats::IndexedFile& f, asio::ssl::context& tls) {
    if (f.size > m_config.max_file_bytes) {
        throw Refusal{"too_large", f.name() + " is " + std::to_string(f.size) + " bytes, above --pull-max-bytes"};
    }
    if (f.zstd_size != 0) {
        try {
            fetch_form(origin, f, true, tls);
            return;
        } catch (const Refusal& r) {
            if (m_cancel.load(std::memory_order_relaxed)) {
                throw;
            }
            refuse(r.reason, r.detail + " (the compressed form; fetching the plain file instead)");
            std::lock_guard lock(m_mutex);
            ++m_report.zstd_fallbacks;
        }
    }
    fetch_form(origin, f, false, tls);
}

void Puller::fetch_form(Origin& origin, const formats::IndexedFile& f, bool compressed, asio::ssl::context& tls) {
    const std::string name = f.name();
    const std::string path = m_dir + "/" + name;
    const std::uint64_t body_size = compressed ? f.zstd_size : f.size;
    boost::urls::url file_url = origin.base;
    file_url.set_path(std::string(origin.base.path()) + (compressed ? f.zstd_name() : name));
    const std::string url(file_url.buffer());
    const std::string temp = m_dir + "/" + temp_name(name);
    formats::UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (fd.get() < 0) {
        throw Refusal{"local_io", temp + ": " + std::strerror(errno)};
    }
    struct Cleanup {
        const std::string& path;
        bool keep = false;
        ~Cleanup() {
            if (!keep) {
                ::unlink(path.c_str());
            }
        }
    } cleanup{temp};
    formats::Sha256 file_hash;
    formats::Sha256 body_hash;
    // Writeback starts as the file streams in, every k_writeback_step bytes, so that the fsync
    // before the file is used waits for the last step only, not for a whole snapshot.
    std::uint64_t written = 0;
    std::uint64_t flushed = 0;
    const auto write_out = [&](const char* p, std::size_t n) {
        file_hash.update(p, n);
        for (std::size_t done = 0; done < n;) {
            const ssize_t w = ::write(fd.get(), p + done, n - done);
            if (w < 0 && errno == EINTR) {
                continue;
            }
            if (w <= 0) {
                throw Refusal{"local_io", temp + ": write: " + std::strerror(errno)};
            }
            done += static_cast<std::size_t>(w);
        }
        written += n;
        if (written - flushed >= k_writeback_step) {
            (void)::sync_file_range(fd.get(), static_cast<off_t>(flushed), static_cast<off_t>(written - flushed),
                                    SYNC_FILE_RANGE_WRITE);
            flushed = written;
        }
    };
    // The compressed body is decompressed as it streams in; memory stays at the frame's window.
    std::optional<formats::ZstdInflater> inflater;
    if (compressed) {
        inflater.emplace(f.size);
    }
    const auto inflate_refusal = [&]() {
        return Refusal{inflater->problem() == formats::ZstdInflater::Problem::too_large ? "decompressed_too_large"
                                                                                       : "bad_compression",
                       url + ": " + inflater->detail()};
    };
    // Decompression costs CPU on top of the transfer: the deadline follows the file's size.
    const auto deadline = Clock::now() +
                          std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(m_config.timeout_s)) +
                          std::chrono::seconds(f.size / k_min_rate);
    const Answer got = get(
        file_url, "", body_size,
        [&](const char* p, std::size_t n) {
            received(n);
            if (!inflater) {
                write_out(p, n);
                return;
            }
            body_hash.update(p, n);
            if (!inflater->feed(p, n, write_out)) {
                throw inflate_refusal();
            }
        },
        deadline, tls, m_cancel);
    if (got.status != 200) {
        throw Refusal{"http_status", url + ": HTTP " + std::to_string(got.status)};
    }
    if (got.body_bytes != body_size) {
        throw Refusal{"size_mismatch", url + ": " + std::to_string(got.body_bytes) + " bytes where the index says " +
                                           std::to_string(body_size)};
    }
    if (inflater) {
        if (body_hash.finish() != f.zstd_sha256) {
            throw Refusal{"digest_mismatch", url + ": its SHA-256 is not the index's"};
        }
        if (!inflater->finish()) {
            throw inflate_refusal();
        }
    }
    if (file_hash.finish() != f.sha256) {
        throw Refusal{"digest_mismatch", url + (compressed ? ": what it decompresses to" : "") +
                                             ": its SHA-256 is not the index's"};
    }
    if (::fsync(fd.get()) != 0) {
        throw Refusal{"local_io", temp + ": fsync: " + std::strerror(errno)};
    }
    if (Status s = check_file(temp, f.kind, m_trusted); !s) {
        throw Refusal{"bad_file", url + ": " + s.message()};
    }
    if (::rename(temp.c_str(), path.c_str()) != 0) {
        throw Refusal{"local_io", path + ": rename: " + std::strerror(errno)};
    }
    cleanup.keep = true;
    formats::UniqueFd dir(::open(m_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir.get() >= 0) {
        (void)::fsync(dir.get());
    }
    m_have[name] = hex(f.sha256);
    {
        std::lock_guard lock(m_mutex);
        ++m_report.files_fetched;
        m_report.bytes_fetched += f.size;
        m_report.zstd_files += compressed ? 1 : 0;
    }
    LogLine("info", "pulled").str("file", name).num("bytes", static_cast<std::int64_t>(f.size))
        .num("transfer_bytes", static_cast<std::int64_t>(body_size)).str("form", compressed ? "zstd" : "plain")
        .str("origin", std::string(origin.base.buffer())).emit(m_log_fd);
}

}  // namespace shortlink::serve
