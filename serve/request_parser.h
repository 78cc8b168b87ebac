// RequestParser: Boost.Beast's basic_parser with callbacks that keep only what the redirect
// answer needs (method, target, Host, the headers rules read) and that enforce the framing rules a redirect server must
// be strict about (RFC 9112 section 6.3 and 11.2, request smuggling):
//
//   - Content-Length together with Transfer-Encoding (Beast refuses this), a second
//     Content-Length even with the same value, a Transfer-Encoding other than exactly "chunked",
//   - obs-fold (a header line continued on the next line),
//   - a second Host, a missing Host in HTTP/1.1, more than the allowed number of header fields.
//
// The parser stores no header bytes: target, Host and the other headers are kept as offsets into the connection's
// input buffer (the connection moves that buffer's contents and adjusts them with rebase()).
// Bodies are counted and discarded. One parser parses one request (Beast's parsers are not
// reusable); the connection re-emplaces it, which allocates nothing.
//
// Thread-safety: owned by one connection on one thread.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/beast/http/basic_parser.hpp>

namespace shortlink::serve {

enum class ParseFlaw : std::uint8_t {
    none,
    obs_fold,
    duplicate_host,
    duplicate_content_length,
    bad_transfer_encoding,
    too_many_fields,
    value_outside_buffer,
};

// The request headers a link's rules (serve/rules_eval.h) and the click log (serve/click_log.h)
// read. Those rules read are always kept; referer and the purpose headers only when clicks are
// recorded.
enum class ClientField : std::uint8_t {
    user_agent,
    referer,
    sec_purpose,   // Sec-Purpose (Chrome's prefetch and prerender)
    purpose,       // Purpose or X-Purpose or X-Moz (older prefetchers and link previews)
    ch_mobile,     // Sec-CH-UA-Mobile
    ch_platform,   // Sec-CH-UA-Platform
    country,       // the trusted country header (serve --country-header)
    accept_language,
};
inline constexpr std::size_t k_client_field_count = 8;

class RequestParser : public boost::beast::http::basic_parser<true> {
public:
    struct Span {
        std::uint32_t offset = 0;
        std::uint32_t size = 0;
    };

    // `base`: start of the connection's input buffer, `capacity` its size. `client`: also keep
    // the headers only the click log reads. The country header is the one named
    // `country_header` (empty: none). `forwarded`: keep the X-Forwarded-For lines (the server
    // trusts proxies; serve/client_address.h).
    RequestParser(const char* base, std::size_t capacity, std::uint32_t max_fields,
                  bool client = false, std::string_view country_header = {}, bool forwarded = false)
        : m_base(base), m_capacity(capacity), m_max_fields(max_fields), m_client(client),
          m_forwarded(forwarded), m_country_header(country_header) {}

    // A ClientField header's value; empty when absent (or not kept). The first one counts.
    Span client_field(ClientField f) const { return m_client_fields[static_cast<std::size_t>(f)]; }

    // The last k_forwarded_lines non-empty X-Forwarded-For lines, in the order received (the
    // right end of the list is what trusted proxies wrote; earlier lines are dropped).
    static constexpr std::size_t k_forwarded_lines = 8;
    std::size_t forwarded_count() const { return m_forwarded_count; }
    Span forwarded_line(std::size_t i) const { return m_forwarded_lines[i]; }

    boost::beast::http::verb verb() const { return m_verb; }
    unsigned version() const { return m_version; }
    bool has_host() const { return m_host_seen; }
    Span target() const { return m_target; }
    Span host() const { return m_host; }
    // The first Cookie and Content-Type headers (a password link reads them); empty when absent.
    Span cookie() const { return m_cookie; }
    Span content_type() const { return m_content_type; }

    // Keep the body's first `limit` bytes in `out` (a password form's submission) instead of
    // discarding them; body_over_limit() tells whether more came.
    void capture_body(std::string* out, std::size_t limit) {
        m_body = out;
        m_body_limit = limit;
    }
    bool body_over_limit() const { return m_body_over; }
    ParseFlaw flaw() const { return m_flaw; }

    // The buffer contents moved `delta` bytes towards its start.
    void rebase(std::uint32_t delta) {
        m_target.offset -= delta;
        m_host.offset -= delta;
        m_cookie.offset = m_cookie.size == 0 ? 0 : m_cookie.offset - delta;
        m_content_type.offset = m_content_type.size == 0 ? 0 : m_content_type.offset - delta;
        for (Span& f : m_client_fields) {
            f.offset = f.size == 0 ? 0 : f.offset - delta;
        }
        for (std::size_t i = 0; i < m_forwarded_count; ++i) {
            m_forwarded_lines[i].offset -= delta;
        }
    }

private:
    Span span_of(std::string_view s) const {
        return Span{static_cast<std::uint32_t>(s.data() - m_base), static_cast<std::uint32_t>(s.size())};
    }
    bool inside(std::string_view s) const {
        return s.data() >= m_base && s.data() + s.size() <= m_base + m_capacity;
    }
    void fail(ParseFlaw flaw, boost::beast::error_code& ec) {
        m_flaw = flaw;
        ec = boost::beast::http::error::bad_field;
    }

    void on_request_impl(boost::beast::http::verb method, boost::beast::string_view method_str,
                         boost::beast::string_view target_sv, int version,
                         boost::beast::error_code& ec) override;
    void on_response_impl(int, boost::beast::string_view, int, boost::beast::error_code&) override {}
    void on_field_impl(boost::beast::http::field name, boost::beast::string_view name_string,
                       boost::beast::string_view value_sv, boost::beast::error_code& ec) override;
    void on_header_impl(boost::beast::error_code&) override {}
    void on_body_init_impl(const boost::optional<std::uint64_t>&, boost::beast::error_code&) override {}
    std::size_t on_body_impl(boost::beast::string_view body, boost::beast::error_code&) override {
        keep_body(body);
        return body.size();
    }
    void on_chunk_header_impl(std::uint64_t, boost::beast::string_view, boost::beast::error_code&) override {}
    std::size_t on_chunk_body_impl(std::uint64_t, boost::beast::string_view body,
                                   boost::beast::error_code&) override {
        keep_body(body);
        return body.size();
    }
    void keep_body(boost::beast::string_view body) {
        if (m_body == nullptr) {
            return;
        }
        if (m_body->size() + body.size() > m_body_limit) {
            m_body_over = true;
            return;
        }
        m_body->append(body.data(), body.size());
    }
    void on_finish_impl(boost::beast::error_code&) override {}

    void keep_client_field(ClientField f, std::string_view value) {
        Span& span = m_client_fields[static_cast<std::size_t>(f)];
        if (span.size == 0 && !value.empty()) {
            span = span_of(value);
        }
    }
    void keep_unknown_field(std::string_view name, std::string_view value);

    const char* m_base;
    std::size_t m_capacity;
    std::uint32_t m_max_fields;
    bool m_client;
    bool m_forwarded;
    std::string_view m_country_header;
    std::array<Span, k_client_field_count> m_client_fields{};
    std::array<Span, k_forwarded_lines> m_forwarded_lines{};
    std::size_t m_forwarded_count = 0;
    std::uint32_t m_fields = 0;
    boost::beast::http::verb m_verb = boost::beast::http::verb::unknown;
    unsigned m_version = 11;
    bool m_host_seen = false;
    bool m_content_length_seen = false;
    Span m_target;
    Span m_host;
    Span m_cookie;
    Span m_content_type;
    std::string* m_body = nullptr;
    std::size_t m_body_limit = 0;
    bool m_body_over = false;
    ParseFlaw m_flaw = ParseFlaw::none;
};

// True when the header block [begin, end) continues a field on a following line (obs-fold).
bool has_obs_fold(const char* begin, const char* end);

// Where the version ("HTTP/<digit>.<digit>") of the first line in [begin, end) starts, when that
// line is a complete request line (method, target, version, CRLF); nullptr otherwise.
const char* request_line_version(const char* begin, const char* end);

// True when the first line in [begin, end) is a complete, well-formed request line whose version
// is HTTP/<digit>.<digit> with a major version other than 1. Beast refuses such a line as a bad
// version; it deserves 505 (RFC 9110 15.6.6), not the 400 a malformed version gets.
bool is_unsupported_version(const char* begin, const char* end);

// HTTP/1.2 to HTTP/1.9: a server must treat any HTTP/1.x it does not know as the highest minor
// version it implements (RFC 9110 section 2.5), but Beast refuses them as bad versions. When the
// first line in [begin, end) is a complete request line with such a version, its minor digit is
// rewritten to '1' in place and true returned, so that the request parses again as HTTP/1.1.
bool downgrade_minor_version(char* begin, const char* end);

// How many bytes of empty lines (CRLF) start [begin, end): RFC 9112 section 2.2 asks a server
// to ignore at least one before a request line (some clients send one after a POST body).
// A trailing CR whose LF has not arrived yet is not counted.
std::size_t leading_empty_lines(const char* begin, const char* end);

}  // namespace shortlink::serve
