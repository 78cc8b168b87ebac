#include "serve/request_target.h"

#include <boost/url/authority_view.hpp>
#include <boost/url/decode_view.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

namespace shortlink::serve {

namespace {

// The query bytes RFC 3986 allows raw: unreserved, sub-delims, ':', '@', '/', '?' ('%' is
// checked apart), and the ones clients send raw anyway (query_byte_needs_encoding).
constexpr std::array<bool, 256> make_query_table(bool lenient) {
    std::array<bool, 256> t{};
    for (char c = 'a'; c <= 'z'; ++c) {
        t[static_cast<unsigned char>(c)] = !lenient;
    }
    for (char c = 'A'; c <= 'Z'; ++c) {
        t[static_cast<unsigned char>(c)] = !lenient;
    }
    for (char c = '0'; c <= '9'; ++c) {
        t[static_cast<unsigned char>(c)] = !lenient;
    }
    for (char c : std::string_view("-._~!$&'()*+,;=:@/?")) {
        t[static_cast<unsigned char>(c)] = !lenient;
    }
    for (char c : std::string_view("\"<>[\\]^`{|}")) {
        t[static_cast<unsigned char>(c)] = lenient;
    }
    for (unsigned b = 0x80; b < 0x100; ++b) {
        t[b] = lenient;
    }
    return t;
}

constexpr std::array<bool, 256> k_query_byte = make_query_table(false);
constexpr std::array<bool, 256> k_raw_query_byte = make_query_table(true);

bool is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// A query as clients send it: RFC 3986's grammar plus the raw bytes of k_raw_query_byte.
bool is_lenient_query(std::string_view query) {
    for (std::size_t i = 0; i < query.size(); ++i) {
        const auto b = static_cast<unsigned char>(query[i]);
        if (query[i] == '%') {
            if (i + 2 >= query.size() || !is_hex(query[i + 1]) || !is_hex(query[i + 2])) {
                return false;
            }
            i += 2;
        } else if (!k_query_byte[b] && !k_raw_query_byte[b]) {
            return false;
        }
    }
    return true;
}

char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// Decodes the path of `url` after its leading '/' into `out`, dropping one trailing '/'.
TargetError decode_path(const boost::urls::url_view& url, ParsedTarget& out) {
    const boost::urls::pct_string_view encoded = url.encoded_path();
    std::string_view path(encoded.data(), encoded.size());
    if (path.empty() || path == "/") {
        out.is_root = true;
        out.code = {};
        return TargetError::none;
    }
    // Origin-form always starts with '/'; absolute-form with an authority does too.
    if (path.front() != '/') {
        return TargetError::malformed;
    }
    path.remove_prefix(1);
    if (path.size() > 1 && path.back() == '/') {
        path.remove_suffix(1);
    }
    if (path.size() > 3 * k_max_code_bytes) {
        return TargetError::code_too_long;
    }
    // The grammar was validated by the parser, so every '%' is followed by two hex digits.
    const auto pct = boost::urls::make_pct_string_view(
        boost::core::string_view(path.data(), path.size()));
    if (!pct) {
        return TargetError::malformed;
    }
    const boost::urls::decode_view decoded = **pct;
    if (decoded.size() > k_max_code_bytes) {
        return TargetError::code_too_long;
    }
    std::size_t n = 0;
    for (char c : decoded) {
        out.code_buffer[n++] = c;
    }
    out.code = std::string_view(out.code_buffer.data(), n);
    out.is_root = false;
    return TargetError::none;
}

void take_query(const boost::urls::url_view& url, ParsedTarget& out) {
    if (url.has_query()) {
        const auto q = url.encoded_query();
        out.query = std::string_view(q.data(), q.size());
    } else {
        out.query = {};
    }
}

}  // namespace

bool normalize_host(std::string_view raw, std::array<char, k_max_host_bytes>& out,
                    std::string_view& host, std::string_view* spelt) {
    if (raw.empty()) {
        host = {};
        if (spelt != nullptr) {
            *spelt = {};
        }
        return true;
    }
    auto parsed = boost::urls::parse_authority(boost::core::string_view(raw.data(), raw.size()));
    if (!parsed || parsed->has_userinfo()) {
        return false;
    }
    const auto encoded = parsed->encoded_host();
    std::string_view h(encoded.data(), encoded.size());
    if (!h.empty() && h.back() == '.' && h.size() > 1) {
        h.remove_suffix(1);
    }
    // A percent-encoded reg-name is legal URI syntax but never a DNS name we serve.
    if (h.empty() || h.size() > out.size() || h.find('%') != std::string_view::npos) {
        return false;
    }
    for (std::size_t i = 0; i < h.size(); ++i) {
        out[i] = ascii_lower(h[i]);
    }
    host = std::string_view(out.data(), h.size());
    if (spelt != nullptr) {
        *spelt = h;
    }
    return true;
}

void append_lowercase(std::string& out, std::string_view s) {
    for (char c : s) {
        out.push_back(ascii_lower(c));
    }
}

bool is_plain_host(std::string_view host) {
    if (host.empty()) {
        return false;
    }
    const bool literal = host.size() > 2 && host.front() == '[' && host.back() == ']';
    if (literal) {
        host = host.substr(1, host.size() - 2);
    }
    for (char c : host) {
        const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        const bool ok = literal ? hex || c == ':' || c == '.'
                                : hex || (c >= 'g' && c <= 'z') || (c >= 'G' && c <= 'Z') || c == '-' || c == '.';
        if (!ok) {
            return false;
        }
    }
    return true;
}

std::string_view path_and_query(std::string_view target) {
    if (!target.empty() && target.front() == '/') {
        return target;
    }
    const std::size_t scheme_end = target.find("://");
    if (scheme_end == std::string_view::npos) {
        return {};
    }
    const std::string_view rest = target.substr(scheme_end + 3);
    const std::size_t authority_end = rest.find_first_of("/?");
    return authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
}

namespace {

TargetError parse_strict(std::string_view target, std::string_view host_header, ParsedTarget& out) {
    const boost::core::string_view t(target.data(), target.size());
    if (!target.empty() && target.front() == '/') {
        auto url = boost::urls::parse_origin_form(t);
        if (!url) {
            return TargetError::malformed;
        }
        if (!normalize_host(host_header, out.host_buffer, out.host, &out.raw_host)) {
            return TargetError::bad_host;
        }
        take_query(*url, out);
        return decode_path(*url, out);
    }
    auto url = boost::urls::parse_absolute_uri(t);
    if (!url) {
        return TargetError::malformed;
    }
    const auto scheme = url->scheme_id();
    if (scheme != boost::urls::scheme::http && scheme != boost::urls::scheme::https) {
        return TargetError::bad_scheme;
    }
    // RFC 9112 3.2.2: the authority of an absolute-form target replaces Host.
    const auto authority = url->encoded_authority();
    if (!url->has_authority() || authority.empty() ||
        !normalize_host(std::string_view(authority.data(), authority.size()), out.host_buffer,
                        out.host, &out.raw_host)) {
        return TargetError::bad_host;
    }
    take_query(*url, out);
    return decode_path(*url, out);
}

}  // namespace

TargetError parse_target(std::string_view target, std::string_view host_header, ParsedTarget& out) {
    const TargetError strict = parse_strict(target, host_header, out);
    if (strict != TargetError::malformed) {
        return strict;
    }
    // Boost.URL follows RFC 3986 to the letter; a query the way clients send it gets a second
    // chance, with the part before '?' still parsed strictly.
    const std::size_t q = target.find('?');
    if (q == std::string_view::npos || !is_lenient_query(target.substr(q + 1))) {
        return strict;
    }
    const TargetError head = parse_strict(target.substr(0, q), host_header, out);
    out.query = target.substr(q + 1);
    return head;
}

bool query_byte_needs_encoding(char c) { return k_raw_query_byte[static_cast<unsigned char>(c)]; }

void append_forwarded_query(std::string& out, std::string_view query) {
    constexpr char k_hex[] = "0123456789ABCDEF";
    std::size_t start = 0;
    for (std::size_t i = 0; i < query.size(); ++i) {
        if (query_byte_needs_encoding(query[i])) {
            const auto b = static_cast<unsigned char>(query[i]);
            out.append(query.substr(start, i - start));
            out.push_back('%');
            out.push_back(k_hex[b >> 4]);
            out.push_back(k_hex[b & 0xf]);
            start = i + 1;
        }
    }
    out.append(query.substr(start));
}

void fold_code(ParsedTarget& target) {
    if (target.code.empty()) {
        return;
    }
    char* p = target.code_buffer.data();
    for (std::size_t i = 0; i < target.code.size(); ++i) {
        p[i] = ascii_lower(p[i]);
    }
}

}  // namespace shortlink::serve
