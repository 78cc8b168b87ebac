// GCC 12 with -fsanitize=address reports a false "may be used uninitialized" on a
// boost::optional inside Beast's basic_parser<true>::put, instantiated in this file.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "serve/connection.h"

#include <algorithm>
#include <cstring>
#include <ctime>

#include <openssl/crypto.h>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "formats/clock.h"
#include "serve/acme.h"
#include "serve/answer.h"
#include "serve/client_address.h"
#include "serve/config.h"
#include "serve/cookies.h"
#include "serve/password_check.h"
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
    case http::verb::post: return Method::post;
    default: return Method::other;
    }
}

// The click log's outcome for an answer (formats/clicks.h).
formats::clicks::Outcome click_outcome(const Response& r) {
    using formats::clicks::Outcome;
    switch (r.reason) {
    case Reason::redirect: return r.root ? Outcome::root : Outcome::redirect;
    case Reason::https_redirect: return Outcome::https_redirect;
    case Reason::not_found: return Outcome::miss;
    case Reason::unknown_host: return Outcome::unknown_host;
    case Reason::disabled: return Outcome::disabled;
    case Reason::deleted: return Outcome::deleted;
    case Reason::expired: return Outcome::expired;
    case Reason::not_yet_valid: return Outcome::not_yet_valid;
    case Reason::method_not_allowed: return Outcome::method_not_allowed;
    case Reason::bad_request: return Outcome::bad_request;
    case Reason::no_snapshot:
    case Reason::snapshot_damaged: return Outcome::unavailable;
    case Reason::blocked: return Outcome::blocked;
    case Reason::password_form: return Outcome::password_form;
    case Reason::password_ok: return Outcome::password_ok;
    case Reason::password_refused: return Outcome::password_refused;
    case Reason::rate_limited: return Outcome::rate_limited;
    case Reason::password_busy: return Outcome::unavailable;
    case Reason::password_check:
    case Reason::unsupported_media_type:
    case Reason::body_too_large: return Outcome::bad_request;
    }
    return Outcome::bad_request;
}

// The password field of an application/x-www-form-urlencoded body, decoded ('+' is a space,
// %XX a byte); nullopt when absent, empty, malformed or too long.
std::optional<std::string> form_password(std::string_view body) {
    std::size_t start = 0;
    while (start <= body.size()) {
        std::size_t end = body.find('&', start);
        if (end == std::string_view::npos) {
            end = body.size();
        }
        const std::string_view pair = body.substr(start, end - start);
        constexpr std::string_view name = "password=";
        if (pair.substr(0, name.size()) == name) {
            const std::string_view raw = pair.substr(name.size());
            std::string out;
            out.reserve(raw.size());
            for (std::size_t i = 0; i < raw.size(); ++i) {
                const char c = raw[i];
                if (c == '+') {
                    out.push_back(' ');
                } else if (c == '%') {
                    const auto hex = [](char h) {
                        return h >= '0' && h <= '9' ? h - '0'
                               : h >= 'a' && h <= 'f' ? h - 'a' + 10
                               : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                                      : -1;
                    };
                    if (i + 2 >= raw.size()) {
                        return std::nullopt;
                    }
                    const int hi = hex(raw[i + 1]);
                    const int lo = hex(raw[i + 2]);
                    if (hi < 0 || lo < 0) {
                        return std::nullopt;
                    }
                    out.push_back(static_cast<char>(hi * 16 + lo));
                    i += 2;
                } else {
                    out.push_back(c);
                }
            }
            if (out.empty() || out.size() > formats::k_max_password_size) {
                return std::nullopt;
            }
            return out;
        }
        start = end + 1;
    }
    return std::nullopt;
}

}  // namespace

template <class Transport>
template <class... TransportArgs>
Connection<Transport>::Connection(Worker& worker, TransportArgs&&... transport)
    : m_worker(worker),
      m_transport(std::forward<TransportArgs>(transport)...),
      m_capacity(std::max<std::size_t>(k_min_buffer, worker.limits().max_header_bytes + k_buffer_slack)) {
    m_in = std::make_unique<char[]>(m_capacity);
    m_out.reserve(k_out_reserve);
    m_worker.link(this);
}

template <class Transport>
Connection<Transport>::~Connection() {
    release_handshake();  // it went before its handshake ended
    m_worker.unlink(this);
}

template <class Transport>
void Connection<Transport>::start() {
    boost::system::error_code ec;
    m_transport.socket().set_option(boost::asio::ip::tcp::no_delay(true), ec);
    const auto peer = m_transport.socket().remote_endpoint(ec);
    if (!ec) {
        const boost::asio::ip::address a = peer.address();
        if (a.is_v6() && a.to_v6().is_v4_mapped()) {
            const auto b = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6()).to_bytes();
            std::copy(b.begin(), b.end(), m_peer.begin());
            m_peer_family = 4;
        } else if (a.is_v4()) {
            const auto b = a.to_v4().to_bytes();
            std::copy(b.begin(), b.end(), m_peer.begin());
            m_peer_family = 4;
        } else {
            const auto b = a.to_v6().to_bytes();
            std::copy(b.begin(), b.end(), m_peer.begin());
            m_peer_family = 6;
        }
        if (m_peer_family == 4) {
            m_peer_v6[10] = 0xff;
            m_peer_v6[11] = 0xff;
            std::copy(m_peer.begin(), m_peer.begin() + 4, m_peer_v6.begin() + 12);
        } else {
            m_peer_v6 = m_peer;
        }
    }
    m_transport.start();
    if constexpr (Transport::k_tls) {
        handshake();
    } else {
        begin_requests();
    }
}

// The first request's header deadline starts when the connection can carry one.
template <class Transport>
void Connection<Transport>::begin_requests() {
    m_wait = Wait::header;
    m_idle_since_ms = clock::monotonic_ms();
    m_deadline_ms = m_idle_since_ms + m_worker.limits().header_timeout_ms;
    read();
}

template <class Transport>
void Connection<Transport>::handshake() {
    if constexpr (Transport::k_tls) {
        m_phase = Phase::handshaking;
        m_wait = Wait::handshake;
        m_idle_since_ms = clock::monotonic_ms();
        m_deadline_ms = m_idle_since_ms + m_worker.limits().handshake_timeout_ms;
        m_transport.async_handshake([self = this->shared_from_this()](const boost::system::error_code& ec) {
            self->on_handshake(ec);
        });
    }
}

template <class Transport>
void Connection<Transport>::on_handshake(const boost::system::error_code& ec) {
    if constexpr (Transport::k_tls) {
        release_handshake();
        m_transport.handshake_done();
        WorkerMetrics& metrics = m_worker.mutable_metrics();
        if (m_phase == Phase::closed) {
            return;  // timed out, evicted or aborted: counted where it was closed
        }
        if (ec) {
            metrics.tls_handshakes_failed.add();
            close();
            return;
        }
        metrics.tls_handshakes_completed.add();
        if (SSL_session_reused(m_transport.ssl()) == 1) {
            metrics.tls_handshakes_resumed.add();
        }
        begin_requests();
    }
}

template <class Transport>
void Connection<Transport>::emplace_parser() {
    m_parser.emplace(m_in.get(), m_capacity, m_worker.limits().max_header_count,
                     m_worker.clicks() != nullptr, m_worker.country_header(),
                     !m_worker.trusted_proxies().empty());
    m_parser->header_limit(m_worker.limits().max_header_bytes);
    m_parser->body_limit(m_worker.limits().max_body_bytes);
    m_answered = false;
    m_begin = m_parse;
}

template <class Transport>
void Connection<Transport>::compact() {
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

template <class Transport>
void Connection<Transport>::read() {
    m_phase = Phase::reading;
    compact();
    if (m_end == m_capacity) {
        fail(431);  // cannot happen while the header limit is below capacity; never spin
        write();
        return;
    }
    m_transport.async_read_some(boost::asio::buffer(m_in.get() + m_end, m_capacity - m_end),
                                ReadCompletion{this->shared_from_this(),
                                               [](void* self, const boost::system::error_code& ec,
                                                  std::size_t n) {
                                                   static_cast<Connection*>(self)->on_read(ec, n);
                                               }});
}

template <class Transport>
void Connection<Transport>::on_read(const boost::system::error_code& ec, std::size_t n) {
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
    if (m_paused) {
        if (!m_out.empty()) {
            write();  // the answers before the check's; it waits for on_checked()
        }
        return;
    }
    if (!m_out.empty()) {
        write();
    } else if (m_close_after_write) {
        linger();
    } else {
        read();
    }
}

template <class Transport>
bool Connection<Transport>::process(std::uint64_t& answered) {
    while (true) {
        if (m_paused) {
            return true;  // a password check is on the pool; what follows waits for its answer
        }
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
            const bool over = m_parser->body_over_limit();
            m_parser.reset();
            if (m_check && start_check(over)) {
                return true;
            }
            if (m_close_after_write) {
                return false;
            }
        } else if (used == 0) {
            return true;
        }
    }
}

template <class Transport>
bool Connection<Transport>::answer_current(std::uint64_t& answered) {
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
    request.tls = Transport::k_tls;
    request.keep_both_params = m_worker.keep_both_params();
    const auto field = [&](ClientField f) {
        const RequestParser::Span s = p.client_field(f);
        return std::string_view(base + s.offset, s.size);
    };
    request.client.user_agent = field(ClientField::user_agent);
    request.client.accept_language = field(ClientField::accept_language);
    request.client.ch_mobile = field(ClientField::ch_mobile);
    request.client.ch_platform = field(ClientField::ch_platform);
    request.client.country = field(ClientField::country);
    request.client.has_address = m_peer_family != 0;
    request.client.address = m_peer_v6;
    request.client.country_source = m_worker.geoip();
    request.country_header = m_worker.country_header();
    request.head = std::string_view(base + m_begin, m_parse - m_begin);
    WorkerMetrics& metrics = m_worker.mutable_metrics();
    if (p.forwarded_count() > 0 && m_peer_family != 0) {
        std::array<std::string_view, RequestParser::k_forwarded_lines> lines;
        for (std::size_t i = 0; i < p.forwarded_count(); ++i) {
            const RequestParser::Span s = p.forwarded_line(i);
            lines[i] = std::string_view(base + s.offset, s.size);
        }
        const ForwardedClient client =
            forwarded_client(m_peer_v6, m_worker.trusted_proxies(), lines.data(), p.forwarded_count());
        request.client.address = client.address;
        if (client.from_header) {
            metrics.forwarded_clients.add();
        }
        if (client.malformed) {
            metrics.forwarded_malformed.add();
        } else if (client.too_long) {
            metrics.forwarded_too_long.add();
        }
    }
    request.cookie = std::string_view(base + p.cookie().offset, p.cookie().size);
    request.content_type = std::string_view(base + p.content_type().offset, p.content_type().size);
    request.cookie_key = m_worker.passwords().cookie_key;

    ++m_requests;
    const bool keep_alive = p.keep_alive() && !m_worker.draining() &&
                            m_requests < m_worker.limits().max_requests;
    FramingOptions framing;
    framing.close = !keep_alive;
    framing.http10_keep_alive = keep_alive && p.version() == 10;
    m_answer_mark = m_out.size();
    if constexpr (!Transport::k_tls) {
        // ACME challenges are answered on the plain listeners only (serve/acme.h), before any
        // link or HTTPS redirect: a CA validating HTTP-01 must reach them over port 80.
        if (!m_worker.acme_webroot().empty() && (request.method == Method::get || request.method == Method::head) &&
            is_acme_challenge(request.target)) {
            const AcmeAnswer acme = answer_acme(m_worker.acme_webroot(), request.target);
            write_text(m_out, acme.status, acme.status == 200 ? std::string_view(acme.body) : "Not Found\n",
                       framing, m_worker.date(), request.method == Method::head);
            metrics.count_request(acme.status);
            metrics.acme_challenges[acme.status == 200 ? 0 : 1].add();
            m_answered = true;
            if (!keep_alive) {
                m_close_after_write = true;
            }
            ++answered;
            return true;
        }
    }
    const formats::Snapshot* snapshot = m_worker.snapshot();
    const PatchedSnapshot* patched = m_worker.patched();
    const std::int64_t now = clock::coarse_unix_seconds();
    Response response = patched != nullptr ? answer(patched, m_worker.deny(), request, now)
                                           : answer(snapshot, m_worker.deny(), request, now);
    if (!keep_alive) {
        m_close_after_write = true;
    }
    if (response.reason == Reason::password_check) {
        begin_check(request, response, framing);
        m_answered = true;  // its answer is written when the body is in and checked
        return true;
    }
    // Only a miss is counted, and only a miss is refused: a client past its budget still gets
    // every link that exists. A domain may set its own budget.
    if (is_miss(response) && m_worker.misses() != nullptr && request.client.has_address) {
        const std::uint32_t budget = response.miss_budget != 0 ? response.miss_budget : m_worker.miss_budget();
        const MissVerdict verdict = m_worker.misses()->record_miss(request.client.address, now, budget);
        if (verdict.over) {
            response = limited(response, verdict.retry_after_s);
            metrics.misses_limited.add();
        }
    }
    if (response.split_cookie && request.cookie_key != nullptr) {
        m_set_cookie = set_cookie_header(
            k_split_cookie, split_cookie_value(*request.cookie_key, response.link_host, response.code, response.split_share),
            response.code, k_split_cookie_max_age_s, request.tls);
        response.set_cookie = m_set_cookie;
    }
    if (m_worker.clicks() != nullptr) {
        record_click(request, response);
    }
    if (write_response(m_out, response, framing, m_worker.date())) {
        metrics.count_request(response.status);
    } else {
        metrics.unsafe_location.add();
        metrics.count_request(500);
        m_close_after_write = true;
    }
    m_answered = true;
    ++answered;
    return true;
}

template <class Transport>
void Connection<Transport>::record_click(const Request& request, const Response& response) {
    if (!m_worker.clicks()->push(click_record(request, response))) {
        m_worker.mutable_metrics().clicks_dropped.add();
    }
}

template <class Transport>
ClickRecord Connection<Transport>::click_record(const Request& request, const Response& response) const {
    namespace clicks = formats::clicks;
    const RequestParser& p = *m_parser;
    ClickRecord r;
    r.time_ms = clock::coarse_unix_millis();
    r.serial = m_worker.serving_serial();
    r.status = response.status;
    r.outcome = static_cast<std::uint8_t>(click_outcome(response));
    r.method = static_cast<std::uint8_t>(p.verb() == boost::beast::http::verb::get    ? clicks::Method::get
                                         : p.verb() == boost::beast::http::verb::head ? clicks::Method::head
                                         : p.verb() == boost::beast::http::verb::post ? clicks::Method::post
                                                                                      : clicks::Method::other);
    r.flags = static_cast<std::uint8_t>((response.qr ? clicks::k_event_qr : 0) |
                                        (request.tls ? clicks::k_event_tls : 0));
    // The client's address as the click log records it: an IPv4 one in the first 4 bytes.
    const Address16& client = request.client.address;
    const bool v4 = is_v4_mapped(client);
    r.family = m_peer_family == 0 ? 0 : v4 ? 4 : 6;
    r.address = {};
    if (v4) {
        std::copy(client.begin() + 12, client.end(), r.address.begin());
    } else {
        r.address = client;
    }
    const char* base = m_in.get();
    const auto field = [&](ClientField f) {
        const RequestParser::Span s = p.client_field(f);
        return std::string_view(base + s.offset, s.size);
    };
    r.text[static_cast<std::size_t>(ClickText::domain)] = response.domain;
    r.text[static_cast<std::size_t>(ClickText::code)] = response.code;
    r.text[static_cast<std::size_t>(ClickText::user_agent)] = field(ClientField::user_agent);
    r.text[static_cast<std::size_t>(ClickText::referer)] = field(ClientField::referer);
    r.text[static_cast<std::size_t>(ClickText::sec_purpose)] = field(ClientField::sec_purpose);
    r.text[static_cast<std::size_t>(ClickText::purpose)] = field(ClientField::purpose);
    r.text[static_cast<std::size_t>(ClickText::ch_mobile)] = field(ClientField::ch_mobile);
    r.text[static_cast<std::size_t>(ClickText::ch_platform)] = field(ClientField::ch_platform);
    r.text[static_cast<std::size_t>(ClickText::country)] =
        response.domain_country_header.empty() ? field(ClientField::country)
                                               : head_field(request.head, response.domain_country_header);
    return r;
}

template <class Transport>
void Connection<Transport>::begin_check(const Request& request, const Response& response,
                                        const FramingOptions& framing) {
    const PasswordSupport& support = m_worker.passwords();
    const std::int64_t now = clock::coarse_unix_seconds();
    if (support.limiter != nullptr) {
        if (const std::uint32_t wait = support.limiter->retry_after(m_peer_v6, response.link_host, response.code, now)) {
            Response r;
            r.status = 429;
            r.reason = Reason::rate_limited;
            r.cache = CacheKind::no_store;
            r.password = response.password;
            r.retry_after_s = wait;
            r.domain = response.domain;
            r.code = response.code;
            r.domain_country_header = response.domain_country_header;
            if (m_worker.clicks() != nullptr) {
                record_click(request, r);
            }
            write_response(m_out, r, framing, m_worker.date());
            m_worker.mutable_metrics().count_request(429);
            m_worker.mutable_metrics().password_rate_limited.add();
            return;  // the body is read and discarded as any other
        }
    }
    PendingCheck& c = m_check.emplace();
    c.location = location_string(response);
    c.host = std::string(response.link_host);
    c.code = std::string(response.code);
    std::copy(response.password, response.password + formats::k_password_block_size, c.block.begin());
    c.framing = framing;
    if (m_worker.clicks() != nullptr) {
        c.click = click_record(request, response);
        for (std::size_t i = 0; i < k_click_text_count; ++i) {
            c.click_text[i] = std::string(c.click.text[i]);
            c.click.text[i] = c.click_text[i];
        }
    }
    m_body.clear();
    m_parser->capture_body(&m_body, k_max_password_body);
}

template <class Transport>
bool Connection<Transport>::start_check(bool body_over_limit) {
    PendingCheck& c = *m_check;
    Response r;
    r.cache = CacheKind::no_store;
    r.password = c.block.data();
    if (body_over_limit) {
        r.status = 413;
        r.reason = Reason::body_too_large;
        answer_check(r);
        return false;
    }
    std::optional<std::string> password = form_password(m_body);
    m_body.clear();
    if (!password) {
        // Nothing to check: the form again, and no attempt counted.
        r.status = 403;
        r.reason = Reason::password_refused;
        answer_check(r);
        return false;
    }
    const PasswordSupport& support = m_worker.passwords();
    const formats::PasswordHash hash = formats::read_password_block(c.block.data());
    auto task = [weak = this->weak_from_this(), executor = m_worker.executor(), hash,
                 secret = std::move(*password)]() mutable {
        const bool ok = formats::verify_password(secret, hash);
        OPENSSL_cleanse(secret.data(), secret.size());
        boost::asio::post(executor, [weak, ok] {
            if (auto self = weak.lock()) {
                self->on_checked(ok);
            }
        });
    };
    if (support.pool == nullptr || !support.pool->submit(std::move(task))) {
        r.status = 503;
        r.reason = Reason::password_busy;
        r.retry_after_s = 1;
        m_worker.mutable_metrics().password_busy.add();
        answer_check(r);
        return false;
    }
    m_self = this->shared_from_this();
    m_paused = true;
    m_phase = Phase::checking;
    m_wait = Wait::check;
    // A check waits for at most a full queue's worth of scrypt runs; this only frees a
    // connection whose answer never came.
    m_deadline_ms = clock::monotonic_ms() + 60000;
    return true;
}

template <class Transport>
void Connection<Transport>::answer_check(Response& r) {
    PendingCheck& c = *m_check;  // r's views point into it: it goes once the answer is written
    r.domain = c.click.text[static_cast<std::size_t>(ClickText::domain)];
    r.code = c.code;
    if (m_worker.clicks() != nullptr) {
        c.click.status = r.status;
        c.click.outcome = static_cast<std::uint8_t>(click_outcome(r));
        c.click.time_ms = clock::coarse_unix_millis();
        if (!m_worker.clicks()->push(c.click)) {
            m_worker.mutable_metrics().clicks_dropped.add();
        }
    }
    if (write_response(m_out, r, c.framing, m_worker.date())) {
        m_worker.mutable_metrics().count_request(r.status);
    } else {
        m_worker.mutable_metrics().unsafe_location.add();
        m_worker.mutable_metrics().count_request(500);
        m_close_after_write = true;
    }
    m_check.reset();
}

template <class Transport>
void Connection<Transport>::on_checked(bool ok) {
    if (m_phase == Phase::closed || !m_paused) {
        return;
    }
    if (m_phase == Phase::writing) {
        m_check_result = ok;  // answered when the write of the answers before it ends
        return;
    }
    finish_check(ok);
}

template <class Transport>
void Connection<Transport>::finish_check(bool ok) {
    const std::shared_ptr<Connection> keep = std::move(m_self);  // alive to the end of this call
    m_paused = false;
    m_check_result.reset();
    m_phase = Phase::reading;
    const PasswordSupport& support = m_worker.passwords();
    PendingCheck& c = *m_check;
    const std::int64_t now = clock::coarse_unix_seconds();
    Response r;
    r.cache = CacheKind::no_store;
    r.password = c.block.data();
    WorkerMetrics& metrics = m_worker.mutable_metrics();
    if (ok) {
        metrics.password_checks_ok.add();
        r.status = 303;
        r.reason = Reason::password_ok;
        r.location_prefix = c.location;
        if (support.cookie_key != nullptr) {
            m_set_cookie = set_cookie_header(
                k_password_cookie,
                password_cookie_value(*support.cookie_key, c.host, c.code, c.block.data(), now + support.cookie_max_age_s),
                c.code, support.cookie_max_age_s, Transport::k_tls);
            r.set_cookie = m_set_cookie;
        }
    } else {
        metrics.password_checks_failed.add();
        if (support.limiter != nullptr) {
            support.limiter->record_failure(m_peer_v6, c.host, c.code, now);
        }
        r.status = 403;
        r.reason = Reason::password_refused;
    }
    answer_check(r);
    resume();
}

// After a check's answer: the requests pipelined behind it, then the usual write or read.
template <class Transport>
void Connection<Transport>::resume() {
    std::uint64_t answered = 0;
    if (!process(answered)) {
        m_close_after_write = true;
    }
    if (!m_out.empty()) {
        write();
    } else if (m_close_after_write) {
        linger();
    } else {
        wait_for_next_request(clock::monotonic_ms());
        read();
    }
}

template <class Transport>
void Connection<Transport>::fail(std::uint16_t status) {
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
// takes it all at once, so a plain connection sends it right here, without a completion
// handler's round trip through the event loop; only the rest of a partial send waits for the
// socket. A TLS connection always sends through the event loop (TlsTransport::write_now).
template <class Transport>
void Connection<Transport>::write() {
    m_phase = Phase::writing;
    m_wait = Wait::send;
    m_deadline_ms = clock::monotonic_ms() + m_worker.limits().send_timeout_ms;
    boost::system::error_code ec;
    const std::size_t sent = m_transport.write_now(boost::asio::buffer(m_out), ec);
    if (!ec && sent == m_out.size()) {
        on_write(ec);
        return;
    }
    if (ec && ec != boost::asio::error::would_block) {
        close();
        return;
    }
    m_out.erase(0, sent);
    m_transport.async_write(boost::asio::buffer(m_out),
                            [self = this->shared_from_this()](const boost::system::error_code& error,
                                                              std::size_t) { self->on_write(error); });
}

template <class Transport>
void Connection<Transport>::on_write(const boost::system::error_code& ec) {
    if (ec || m_phase == Phase::closed) {
        close();
        return;
    }
    m_out.clear();
    if (m_paused) {
        m_phase = Phase::checking;
        if (m_check_result) {
            finish_check(*m_check_result);
        }
        return;
    }
    if (m_close_after_write) {
        linger();
        return;
    }
    wait_for_next_request(clock::monotonic_ms());
    // On the plain transport the read that brought this request drained the socket, so this one
    // waits for the next readiness edge without trying a recv first (serve/drained_read.h); a
    // pipelined request already in the buffer is parsed first.
    read();
}

template <class Transport>
void Connection<Transport>::wait_for_next_request(std::int64_t now_ms) {
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
// response before the client reads it (the reason for nginx's lingering_close). A TLS connection
// first sends close_notify and waits for the client's within the same deadline.
template <class Transport>
void Connection<Transport>::linger() {
    if (m_phase == Phase::lingering) {
        return;
    }
    m_phase = Phase::lingering;
    m_wait = Wait::linger;
    m_deadline_ms = clock::monotonic_ms() + m_worker.limits().linger_ms;
    const auto stop_sending = [this] {
        boost::system::error_code ignored;
        m_transport.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
    };
    if constexpr (Transport::k_tls) {
        m_transport.async_shutdown([self = this->shared_from_this(), stop_sending](
                                       const boost::system::error_code&) {
            if (self->m_phase == Phase::closed) {
                return;
            }
            stop_sending();
            self->linger_read();
        });
    } else {
        stop_sending();
        linger_read();
    }
}

template <class Transport>
void Connection<Transport>::linger_read() {
    m_transport.socket().async_read_some(
        boost::asio::buffer(m_in.get(), m_capacity),
        [self = this->shared_from_this()](const boost::system::error_code& ec, std::size_t) {
            if (ec || self->m_phase == Phase::closed) {
                self->close();
            } else {
                self->linger_read();
            }
        });
}

template <class Transport>
void Connection<Transport>::close() {
    if (m_phase == Phase::closed) {
        return;
    }
    m_phase = Phase::closed;
    boost::system::error_code ignored;
    m_transport.socket().close(ignored);
    // The place under --max-handshakes is free once the peer sees the close, not later when the
    // aborted handshake's handler runs: a client may connect again before then.
    release_handshake();
    if (m_self) {
        // Closed while its password was on the pool: let go of it from the event loop, not from
        // inside a sweep that is walking the connection list.
        boost::asio::post(m_worker.executor(), [self = std::move(m_self)] {});
    }
}

template <class Transport>
void Connection<Transport>::release_handshake() {
    if constexpr (Transport::k_tls) {
        if (m_counted_handshake) {
            m_counted_handshake = false;
            m_worker.handshake_ended();
        }
    }
}

template <class Transport>
void Connection<Transport>::check_deadline(std::int64_t now_ms) {
    if (m_phase == Phase::closed || now_ms < m_deadline_ms) {
        return;
    }
    WorkerMetrics& metrics = m_worker.mutable_metrics();
    switch (m_wait) {
    case Wait::handshake: metrics.tls_handshakes_timeout.add(); break;
    case Wait::header: metrics.timeouts_header.add(); break;
    case Wait::idle: metrics.timeouts_idle.add(); break;
    case Wait::send: metrics.timeouts_send.add(); break;
    case Wait::linger:
    case Wait::drain:
    case Wait::check: break;
    }
    close();
}

template <class Transport>
EvictionRank Connection<Transport>::eviction_rank() const {
    switch (m_phase) {
    case Phase::lingering: return {0, m_idle_since_ms};
    case Phase::handshaking: return {1, m_idle_since_ms};
    case Phase::reading: {
        const bool partial = m_begin != m_end || (m_parser && m_parser->got_some());
        return {partial ? 1 : 2, m_idle_since_ms};
    }
    case Phase::writing:
    case Phase::checking:
    case Phase::closed: break;
    }
    return k_never_evict;
}

template <class Transport>
bool Connection<Transport>::has_unread_bytes() const {
    boost::system::error_code ec;
    return m_phase != Phase::closed && m_transport.socket().available(ec) > 0 && !ec;
}

template <class Transport>
void Connection<Transport>::drain(std::int64_t now_ms) {
    const bool idle = m_phase == Phase::reading && m_begin == m_end &&
                      (!m_parser || !m_parser->got_some());
    if (!idle) {
        return;  // its answer says Connection: close, then it closes (a handshake: its request)
    }
    boost::system::error_code ec;
    if (m_transport.socket().available(ec) > 0 && !ec) {
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

template class Connection<PlainTransport>;
template class Connection<TlsTransport>;
template PlainConnection::Connection(Worker&, boost::asio::ip::tcp::socket&&);
template TlsConnection::Connection(Worker&, boost::asio::ip::tcp::socket&&, SSL*&,
                                   std::shared_ptr<const CertTable>&&);

}  // namespace shortlink::serve
