#include "serve/request_target.h"

#include <boost/url/authority_view.hpp>
#include <boost/url/decode_view.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

namespace shortlink::serve {

namespace {

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
                    std::string_view& host) {
    if (raw.empty()) {
        host = {};
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
    return true;
}

TargetError parse_target(std::string_view target, std::string_view host_header, ParsedTarget& out) {
    const boost::core::string_view t(target.data(), target.size());
    if (!target.empty() && target.front() == '/') {
        auto url = boost::urls::parse_origin_form(t);
        if (!url) {
            return TargetError::malformed;
        }
        if (!normalize_host(host_header, out.host_buffer, out.host)) {
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
                        out.host)) {
        return TargetError::bad_host;
    }
    take_query(*url, out);
    return decode_path(*url, out);
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
