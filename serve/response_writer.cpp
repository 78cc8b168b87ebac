#include "serve/response_writer.h"

#include <array>
#include <charconv>
#include <cstring>
#include <time.h>

#include "formats/clock.h"

namespace shortlink::serve {

namespace {

void append_uint(std::string& out, std::uint64_t v) {
    char buf[24];
    const auto res = std::to_chars(buf, buf + sizeof(buf), v);
    out.append(buf, static_cast<std::size_t>(res.ptr - buf));
}

// One table lookup per Location byte answers both questions the writer asks: may the byte go
// into a header (bit 7 set: CR, LF or NUL may not), and how many bytes HTML escaping adds
// (low bits). Destinations are normalized URLs, so nearly every byte maps to 0 and the common
// answer is "safe, nothing to escape": the body then copies the Location as it is.
constexpr std::uint8_t k_unsafe_header_byte = 0x80;

constexpr std::array<std::uint8_t, 256> make_location_byte_table() {
    std::array<std::uint8_t, 256> t{};
    t[static_cast<unsigned char>('\r')] = k_unsafe_header_byte;
    t[static_cast<unsigned char>('\n')] = k_unsafe_header_byte;
    t[0] = k_unsafe_header_byte;
    t[static_cast<unsigned char>('&')] = 4;  // &amp;
    t[static_cast<unsigned char>('<')] = 3;  // &lt;
    t[static_cast<unsigned char>('>')] = 3;  // &gt;
    t[static_cast<unsigned char>('"')] = 5;  // &quot;
    return t;
}

constexpr std::array<std::uint8_t, 256> k_location_byte = make_location_byte_table();

// What one pass over the pieces of a Location found.
struct LocationScan {
    std::size_t size = 0;          // bytes of the Location as sent in the header
    std::size_t escape_extra = 0;  // bytes HTML escaping adds (0: the body copies it verbatim)
    bool safe = true;              // no CR, LF or NUL
};

void scan_piece(LocationScan& scan, std::string_view s) {
    std::uint8_t seen = 0;
    std::size_t extra = 0;
    for (char c : s) {
        const std::uint8_t b = k_location_byte[static_cast<unsigned char>(c)];
        seen |= b;
        extra += b & 0x7f;
    }
    scan.size += s.size();
    scan.escape_extra += extra;
    scan.safe = scan.safe && (seen & k_unsafe_header_byte) == 0;
}

// The forwarded query goes out percent-encoded where it holds bytes a URI may not hold raw
// (serve/request_target.h); each of them grows by two bytes and needs no HTML escaping.
void scan_query(LocationScan& scan, std::string_view query) {
    std::uint8_t seen = 0;
    std::size_t extra = 0;
    std::size_t encoded = 0;
    for (char c : query) {
        if (query_byte_needs_encoding(c)) {
            ++encoded;
            continue;
        }
        const std::uint8_t b = k_location_byte[static_cast<unsigned char>(c)];
        seen |= b;
        extra += b & 0x7f;
    }
    scan.size += query.size() + 2 * encoded;
    scan.escape_extra += extra;
    scan.safe = scan.safe && (seen & k_unsafe_header_byte) == 0;
}

LocationScan scan_location(const Response& r) {
    LocationScan scan;
    scan_piece(scan, r.location_prefix);
    scan_piece(scan, r.location_authority);
    if (r.query_separator != '\0') {
        scan_piece(scan, std::string_view(&r.query_separator, 1));
    }
    scan_query(scan, r.location_query);
    scan_piece(scan, r.location_suffix);
    return scan;
}

void append_location(std::string& out, const Response& r) {
    out.append(r.location_prefix);
    append_lowercase(out, r.location_authority);
    if (r.query_separator != '\0') {
        out.push_back(r.query_separator);
    }
    append_forwarded_query(out, r.location_query);
    out.append(r.location_suffix);
}

void append_escaped(std::string& out, std::string_view s) {
    std::size_t start = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char* rep = nullptr;
        switch (s[i]) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        default: break;
        }
        if (rep != nullptr) {
            out.append(s.substr(start, i - start));
            out.append(rep);
            start = i + 1;
        }
    }
    out.append(s.substr(start));
}

// The forwarded query as HTML text: encoded as in the header, after which '&' is the one byte
// left to escape (quotes and angle brackets were percent-encoded).
void append_query_html(std::string& out, std::string_view query) {
    std::size_t start = 0;
    for (std::size_t i = 0; i < query.size(); ++i) {
        if (query[i] == '&') {
            append_forwarded_query(out, query.substr(start, i - start));
            out.append("&amp;");
            start = i + 1;
        }
    }
    append_forwarded_query(out, query.substr(start));
}

// The Location as HTML text; `scan` says whether there is anything to escape at all.
void append_location_html(std::string& out, const Response& r, const LocationScan& scan) {
    if (scan.escape_extra == 0) {
        append_location(out, r);
        return;
    }
    append_escaped(out, r.location_prefix);
    std::string authority;
    append_lowercase(authority, r.location_authority);
    append_escaped(out, authority);
    if (r.query_separator != '\0') {
        append_escaped(out, std::string_view(&r.query_separator, 1));
    }
    append_query_html(out, r.location_query);
    append_escaped(out, r.location_suffix);
}

void append_status_line(std::string& out, std::uint16_t status) {
    // The common answers as one literal each: one append instead of four.
    switch (status) {
    case 301: out.append("HTTP/1.1 301 Moved Permanently\r\n"); return;
    case 302: out.append("HTTP/1.1 302 Found\r\n"); return;
    case 307: out.append("HTTP/1.1 307 Temporary Redirect\r\n"); return;
    case 308: out.append("HTTP/1.1 308 Permanent Redirect\r\n"); return;
    case 404: out.append("HTTP/1.1 404 Not Found\r\n"); return;
    default: break;
    }
    out.append("HTTP/1.1 ");
    append_uint(out, status);
    out.push_back(' ');
    out.append(status_text(status));
    out.append("\r\n");
}

void append_tail(std::string& out, std::string_view date, const FramingOptions& framing) {
    out.append("Date: ");
    out.append(date);
    out.append("\r\n");
    if (framing.close) {
        out.append("Connection: close\r\n");
    } else if (framing.http10_keep_alive) {
        out.append("Connection: keep-alive\r\n");
    }
    out.append("\r\n");
}

// A password link's form: self-contained (no script, style, image or font to fetch), posted to
// the link's own URL. The Content-Security-Policy allows nothing to load and no framing.
constexpr std::string_view k_form_open =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    "<meta name=\"robots\" content=\"noindex\"><title>Password required</title></head>\n<body>\n";
constexpr std::string_view k_form_refused = "<p role=\"alert\">Wrong password. Try again.</p>\n";
constexpr std::string_view k_form_close =
    "<form method=\"post\">\n<p><label for=\"password\">This link is protected by a password.</label></p>\n"
    "<p><input type=\"password\" id=\"password\" name=\"password\" required autofocus "
    "autocomplete=\"current-password\" maxlength=\"1024\"></p>\n"
    "<p><button type=\"submit\">Continue</button></p>\n</form>\n</body></html>\n";
constexpr std::string_view k_form_csp =
    "Content-Security-Policy: default-src 'none'; base-uri 'none'; frame-ancestors 'none'\r\n";

bool has_form(const Response& r) {
    return r.reason == Reason::password_form || r.reason == Reason::password_refused;
}

constexpr std::string_view k_redirect_open = "<a href=\"";
constexpr std::string_view k_redirect_mid = "\">";
constexpr std::string_view k_redirect_close = "</a>\n";
constexpr std::string_view k_html_type = "Content-Type: text/html; charset=utf-8\r\n";

}  // namespace

bool is_safe_header_value(std::string_view value) {
    for (char c : value) {
        if (c == '\r' || c == '\n' || c == '\0') {
            return false;
        }
    }
    return true;
}

bool write_response(std::string& out, const Response& r, const FramingOptions& framing,
                    std::string_view date) {
    if (r.replace_params) {
        // A forwarded query meeting a destination's own: the one answer that builds a string.
        Response merged;
        std::string storage;
        return write_response(out, merged_location(r, merged, storage), framing, date);
    }
    // Scanned once: the same pass checks the header is safe and sizes the escaped body.
    const LocationScan scan = r.has_location() ? scan_location(r) : LocationScan{};
    if (!scan.safe) {
        write_error(out, 500, date);
        return false;
    }
    append_status_line(out, r.status);
    std::size_t body_size = 0;
    if (r.has_location()) {
        out.append("Location: ");
        append_location(out, r);
        out.append("\r\n");
        body_size = k_redirect_open.size() + k_redirect_mid.size() + k_redirect_close.size() +
                    2 * (scan.size + scan.escape_extra);
    } else if (has_form(r)) {
        body_size = k_form_open.size() + (r.reason == Reason::password_refused ? k_form_refused.size() : 0) +
                    k_form_close.size();
    } else {
        // "<p>Not Found</p>\n"; a domain's own text is escaped for HTML.
        LocationScan text;
        scan_piece(text, body_text(r));
        body_size = 8 + text.size + text.escape_extra;
    }
    if (r.cache != CacheKind::none) {
        out.append("Cache-Control: ");
        append_cache_control(out, r);
        out.append("\r\n");
    }
    if (r.vary_accept_language || !r.vary_country.empty()) {
        out.append("Vary: ");
        if (r.vary_accept_language) {
            out.append(r.vary_country.empty() ? "Accept-Language" : "Accept-Language, ");
        }
        out.append(r.vary_country);
        out.append("\r\n");
    }
    if (r.hsts_max_age_s != 0) {
        out.append("Strict-Transport-Security: max-age=");
        append_uint(out, r.hsts_max_age_s);
        out.append(r.hsts_include_subdomains ? "; includeSubDomains\r\n" : "\r\n");
    }
    if (r.status == 405) {
        out.append("Allow: GET, HEAD\r\n");
    } else if (r.status == 503 || r.status == 429) {
        out.append("Retry-After: ");
        append_uint(out, r.retry_after_s != 0 ? r.retry_after_s : 5);
        out.append("\r\n");
    }
    if (r.password != nullptr) {
        // Neither the form's URL nor the destination travels on in a Referer.
        out.append("Referrer-Policy: no-referrer\r\n");
    }
    if (has_form(r)) {
        out.append(k_form_csp);
    }
    if (!r.set_cookie.empty() && is_safe_header_value(r.set_cookie)) {
        out.append("Set-Cookie: ");
        out.append(r.set_cookie);
        out.append("\r\n");
    }
    out.append(k_html_type);
    out.append("Content-Length: ");
    append_uint(out, body_size);
    out.append("\r\n");
    append_tail(out, date, framing);
    if (r.head) {
        return true;
    }
    if (r.has_location()) {
        out.append(k_redirect_open);
        append_location_html(out, r, scan);
        out.append(k_redirect_mid);
        append_location_html(out, r, scan);
        out.append(k_redirect_close);
    } else if (has_form(r)) {
        out.append(k_form_open);
        if (r.reason == Reason::password_refused) {
            out.append(k_form_refused);
        }
        out.append(k_form_close);
    } else {
        out.append("<p>");
        append_escaped(out, body_text(r));
        out.append("</p>\n");
    }
    return true;
}

void write_text(std::string& out, std::uint16_t status, std::string_view body,
                const FramingOptions& framing, std::string_view date, bool head) {
    append_status_line(out, status);
    out.append("Content-Type: text/plain\r\nCache-Control: no-store\r\nContent-Length: ");
    append_uint(out, body.size());
    out.append("\r\n");
    append_tail(out, date, framing);
    if (!head) {
        out.append(body);
    }
}

void write_error(std::string& out, std::uint16_t status, std::string_view date) {
    append_status_line(out, status);
    out.append(k_html_type);
    out.append("Content-Length: ");
    append_uint(out, 8 + status_text(status).size());
    out.append("\r\nCache-Control: no-store\r\n");
    append_tail(out, date, FramingOptions{.close = true, .http10_keep_alive = false});
    out.append("<p>");
    out.append(status_text(status));
    out.append("</p>\n");
}

std::string_view HttpDate::now() {
    const std::time_t second = clock::coarse_unix_seconds();
    if (second != m_second) {
        m_second = second;
        std::tm tm{};
        gmtime_r(&m_second, &tm);
        m_size = std::strftime(m_text, sizeof(m_text), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    }
    return {m_text, m_size};
}

}  // namespace shortlink::serve
