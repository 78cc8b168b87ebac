// Validation and normalization of user input. See validate.h.
#include "store/validate.h"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include "store/idna.h"

namespace shortlink::validate {
namespace {

// The one path `serve` answers itself on its public listener, whatever the domain: ACME HTTP-01
// challenges (`serve --acme-webroot`). Everything else a request asks for is a code; the health
// checks and metrics are on the admin listener. Compared case-insensitively, as a case-insensitive
// domain would fold a code onto it.
constexpr std::string_view k_reserved_prefix = ".well-known/acme-challenge/";

constexpr std::string_view k_credentials_refused =
    "URL contains credentials (user@host); they are refused because they disguise the real host";

std::string hex_byte(unsigned char c) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02x", c);
    return buf;
}

bool ieq(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i];
        char y = b[i];
        if (x >= 'A' && x <= 'Z') {
            x = static_cast<char>(x - 'A' + 'a');
        }
        if (y >= 'A' && y <= 'Z') {
            y = static_cast<char>(y - 'A' + 'a');
        }
        if (x != y) {
            return false;
        }
    }
    return true;
}

bool is_code_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

// One label in ASCII form, 1-63 bytes. DNS rules: letters, digits and '-', no hyphen at either
// end. Web rules add what browsers resolve and real sites use: '_', and '-' at either end.
Status check_label(std::string_view label, std::string_view host, HostRules rules) {
    if (label.empty()) {
        return Status::invalid_argument("host '" + printable(host, k_max_host_bytes) + "' has an empty label");
    }
    if (label.size() > 63) {
        return Status::invalid_argument("host '" + printable(host, k_max_host_bytes) + "' has a label longer than 63 bytes");
    }
    const bool web = rules == HostRules::web;
    if (!web && (label.front() == '-' || label.back() == '-')) {
        return Status::invalid_argument("host '" + printable(host, k_max_host_bytes) + "' has a label that starts or ends with '-'");
    }
    for (char c : label) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || (web && c == '_'))) {
            return Status::invalid_argument("host '" + printable(host, k_max_host_bytes) + "' contains '" + std::string(1, c) +
                                            (web ? "'; only letters, digits, '-', '_' and '.' are allowed"
                                                 : "'; only letters, digits, '-' and '.' are allowed"));
        }
    }
    return Status::ok();
}

// The full stops UTS #46 maps to '.': ideographic, fullwidth and halfwidth ideographic.
std::string with_ascii_dots(std::string_view host) {
    std::string out;
    for (std::size_t i = 0; i < host.size();) {
        const std::string_view rest = host.substr(i);
        if (rest.starts_with("\xe3\x80\x82") || rest.starts_with("\xef\xbc\x8e") || rest.starts_with("\xef\xbd\xa1")) {
            out.push_back('.');
            i += 3;
        } else {
            out.push_back(host[i]);
            ++i;
        }
    }
    return out;
}

// A URL typed with UTF-8 in it, as browsers take it: the host in A-labels, every other non-ASCII
// byte percent-encoded. The result is ASCII; the caller goes on to parse and check it.
Result<std::string> encode_international_url(std::string_view url) {
    if (auto decoded = decode_utf8(url); !decoded) {
        return Status::invalid_argument("URL is not valid UTF-8: " + decoded.status().message());
    }
    std::size_t authority = url.find("://");
    authority = authority == std::string_view::npos ? 0 : authority + 3;
    std::size_t authority_end = url.find_first_of("/?#\\", authority);
    if (authority_end == std::string_view::npos) {
        authority_end = url.size();
    }
    std::string out(url.substr(0, authority));
    const std::string_view auth = url.substr(authority, authority_end - authority);
    if (auth.find('@') != std::string_view::npos) {
        return Status::invalid_argument(std::string(k_credentials_refused));
    }
    std::string_view host = auth;
    std::string_view port;
    if (const std::size_t colon = auth.rfind(':'); colon != std::string_view::npos && auth.find('[') == std::string_view::npos) {
        host = auth.substr(0, colon);
        port = auth.substr(colon);
    }
    if (std::any_of(host.begin(), host.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; })) {
        auto ascii = normalize_host(with_ascii_dots(host), HostRules::web);
        if (!ascii) {
            return Status::invalid_argument("URL " + ascii.status().message());
        }
        out += *ascii;
    } else {
        out += host;
    }
    static constexpr char k_hex[] = "0123456789ABCDEF";
    for (const char c : port) {
        if (static_cast<unsigned char>(c) >= 0x80) {
            return Status::invalid_argument("URL port '" + printable(port.substr(1)) + "' is not a port number (1-65535)");
        }
    }
    out += port;
    for (const char c : url.substr(authority_end)) {
        const auto b = static_cast<unsigned char>(c);
        if (b >= 0x80) {
            out.push_back('%');
            out.push_back(k_hex[b >> 4]);
            out.push_back(k_hex[b & 0xf]);
        } else {
            out.push_back(c);
        }
    }
    return out;
}

// Why Boost.URL refused `url`, in the words of someone who typed it.
std::string unparsable_url_reason(std::string_view url) {
    const std::size_t scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos || scheme_end == 0) {
        return "'" + printable(url) + "' is not an absolute URL: it needs a scheme and a host, like "
               "https://example.com/page";
    }
    // Allowed in a URI (RFC 3986): unreserved, reserved and '%' followed by two hex digits.
    static constexpr std::string_view k_allowed =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;=";
    const auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
    for (std::size_t i = 0; i < url.size(); ++i) {
        if (url[i] == '%') {
            if (i + 2 >= url.size() || !hex(url[i + 1]) || !hex(url[i + 2])) {
                return "URL has a '%' at byte " + std::to_string(i) +
                       " that is not followed by two hex digits; write a literal '%' as %25";
            }
            continue;
        }
        if (k_allowed.find(url[i]) == std::string_view::npos) {
            std::string shown;
            shown.append(1, '\'').append(1, url[i]).append(1, '\'');
            return "URL contains " + shown + " at byte " + std::to_string(i) + "; percent-encode it";
        }
    }
    if (const std::string_view scheme = url.substr(0, scheme_end);
        scheme.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-.") !=
            std::string_view::npos ||
        !std::isalpha(static_cast<unsigned char>(scheme.front()))) {
        return "URL scheme '" + printable(scheme) + "' is not a scheme; use http or https";
    }
    return "'" + printable(url) + "' is not a valid URL";
}

}  // namespace

Result<std::string> normalize_destination(std::string_view url) {
    if (url.empty()) {
        return Status::invalid_argument("URL is empty");
    }
    if (url.size() > k_max_url_bytes) {
        return Status::invalid_argument("URL is " + std::to_string(url.size()) + " bytes; the limit is " +
                                        std::to_string(k_max_url_bytes));
    }
    for (std::size_t i = 0; i < url.size(); ++i) {
        auto c = static_cast<unsigned char>(url[i]);
        if (c < 0x20 || c == 0x7f) {
            return Status::invalid_argument("URL contains control character " + hex_byte(c) + " at byte " +
                                            std::to_string(i) + " (CR/LF or NUL would corrupt the Location header)");
        }
        if (c == ' ') {
            return Status::invalid_argument("URL contains a space at byte " + std::to_string(i) +
                                            "; percent-encode it as %20");
        }
    }
    std::string encoded;
    if (std::any_of(url.begin(), url.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; })) {
        auto ascii = encode_international_url(url);
        if (!ascii) {
            return ascii.status();
        }
        encoded = std::move(*ascii);
        url = encoded;
    }
    auto parsed = boost::urls::parse_uri(boost::core::string_view(url.data(), url.size()));
    if (!parsed) {
        return Status::invalid_argument(unparsable_url_reason(url));
    }
    boost::urls::url u(*parsed);
    std::string scheme(u.scheme());
    for (char& c : scheme) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    if (scheme != "http" && scheme != "https") {
        return Status::invalid_argument("scheme '" + scheme + "' is not allowed; only http and https");
    }
    if (!u.has_authority() || u.encoded_host().empty()) {
        return Status::invalid_argument("URL has no host");
    }
    // After the authority a path is empty or starts with '/' (RFC 3986 path-abempty), but
    // Boost.URL 1.81 also takes text glued to an IP literal or a port as a path: a browser reads
    // "https://[::1]@evil.example/" as user info and the host evil.example, and
    // "https://example.com:80x/" as no URL at all.
    if (const std::string_view path = u.encoded_path(); !path.empty() && path.front() != '/') {
        return Status::invalid_argument("URL has '" + printable(path, 32) +
                                        "' right after its host or port; a path starts with '/'");
    }
    if (u.has_userinfo()) {
        return Status::invalid_argument(std::string(k_credentials_refused));
    }
    switch (u.host_type()) {
    case boost::urls::host_type::ipv4:
    case boost::urls::host_type::ipv6: break;
    case boost::urls::host_type::name: {
        std::string host(u.encoded_host());
        if (host.find('%') != std::string::npos) {
            return Status::invalid_argument("URL host must not be percent-encoded");
        }
        auto normalized = normalize_host(host, HostRules::web);
        if (!normalized) {
            return Status::invalid_argument("URL " + normalized.status().message());
        }
        if (*normalized != host) {
            u.set_encoded_host(*normalized);
        }
        break;
    }
    default: return Status::invalid_argument("URL host is not a DNS name or IP address");
    }
    if (u.has_port()) {
        // Read the port from the authority text: Boost.URL 1.81 accepts "host:abc" and then
        // reports an empty port().
        std::string authority(u.encoded_authority());
        std::size_t bracket = authority.rfind(']');
        std::size_t colon = authority.rfind(':');
        std::string_view port = (colon != std::string::npos && (bracket == std::string::npos || colon > bracket))
                                    ? std::string_view(authority).substr(colon + 1)
                                    : std::string_view();
        if (port.empty()) {
            return Status::invalid_argument("URL has an empty or malformed port");
        }
        bool digits_only = port.size() <= 5 && port.find_first_not_of("0123456789") == std::string_view::npos;
        if (!digits_only || std::stoul(std::string(port)) == 0 || std::stoul(std::string(port)) > 65535) {
            return Status::invalid_argument("URL port '" + std::string(port) + "' is not a port number (1-65535)");
        }
    }
    if (u.encoded_path().empty()) {
        u.set_path_absolute(true);  // "https://x.org" and "https://x.org/" are one destination
    }
    u.normalize();
    std::string out(u.buffer());
    if (out.size() > k_max_url_bytes) {
        return Status::invalid_argument("normalized URL exceeds " + std::to_string(k_max_url_bytes) + " bytes");
    }
    return out;
}

bool is_reserved_code(std::string_view code) {
    return code.size() >= k_reserved_prefix.size() && ieq(code.substr(0, k_reserved_prefix.size()), k_reserved_prefix);
}

Status check_code(std::string_view code) {
    if (code.empty()) {
        return Status::invalid_argument("code is empty");
    }
    if (code.size() > k_max_code_bytes) {
        return Status::invalid_argument("code is " + std::to_string(code.size()) + " bytes; the limit is " +
                                        std::to_string(k_max_code_bytes));
    }
    if (code.front() == '/' || code.back() == '/') {
        return Status::invalid_argument("code '" + printable(code, k_max_code_bytes) + "' must not start or end with '/'");
    }
    std::size_t start = 0;
    while (start <= code.size()) {
        std::size_t slash = code.find('/', start);
        if (slash == std::string_view::npos) {
            slash = code.size();
        }
        std::string_view segment = code.substr(start, slash - start);
        if (segment.empty()) {
            return Status::invalid_argument("code '" + printable(code, k_max_code_bytes) + "' has an empty segment ('//')");
        }
        if (segment == "." || segment == "..") {
            return Status::invalid_argument("code '" + printable(code, k_max_code_bytes) + "' has a '" + std::string(segment) +
                                            "' segment");
        }
        for (std::size_t i = 0; i < segment.size(); ++i) {
            if (!is_code_char(segment[i])) {
                auto c = static_cast<unsigned char>(segment[i]);
                // Built with append rather than operator+ chains: GCC 12 at -O3 reports a false
                // -Wrestrict on "'" + std::string(1, ch) + "'".
                std::string shown;
                if (c >= 0x21 && c < 0x7f) {
                    shown.append(1, '\'').append(1, segment[i]).append(1, '\'');
                } else {
                    shown = hex_byte(c);
                }
                return Status::invalid_argument("code contains " + shown + " at byte " + std::to_string(start + i) +
                                                "; allowed: A-Z a-z 0-9 - _ . ~ and / between segments");
            }
        }
        start = slash + 1;
    }
    if (is_reserved_code(code)) {
        return Status::invalid_argument("code '" + printable(code, k_max_code_bytes) +
                                        "' is reserved: serve answers /.well-known/acme-challenge/ itself");
    }
    return Status::ok();
}

std::string printable(std::string_view text, std::size_t max_bytes) {
    std::string out;
    for (std::size_t i = 0; i < text.size() && i < max_bytes; ++i) {
        auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c < 0x7f) {
            out.push_back(static_cast<char>(c));
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        }
    }
    if (text.size() > max_bytes) {
        out += "...";
    }
    return out;
}

Result<std::string> normalize_host(std::string_view host, HostRules rules) {
    if (host == "*") {
        return std::string(host);
    }
    if (host.empty()) {
        return Status::invalid_argument("host is empty");
    }
    if (host.back() == '.') {
        host.remove_suffix(1);  // the root label is implied
    }
    if (host.find(':') != std::string_view::npos) {
        return Status::invalid_argument("host '" + printable(host, k_max_host_bytes) + "' must not include a port or be an IPv6 literal");
    }
    std::string out;
    std::size_t start = 0;
    while (start <= host.size()) {
        std::size_t dot = host.find('.', start);
        if (dot == std::string_view::npos) {
            dot = host.size();
        }
        std::string label(host.substr(start, dot - start));
        for (char& c : label) {
            if (c >= 'A' && c <= 'Z') {
                c = static_cast<char>(c - 'A' + 'a');
            }
        }
        auto ascii = label_to_ascii(label);
        if (!ascii) {
            return Status::invalid_argument("host '" + printable(host, k_max_host_bytes) + "': " + ascii.status().message());
        }
        Status st = check_label(*ascii, host, rules);
        if (!st) {
            return st;
        }
        if (!out.empty()) {
            out += '.';
        }
        out += *ascii;
        start = dot + 1;
    }
    if (out.size() > k_max_host_bytes) {
        return Status::invalid_argument("host is longer than " + std::to_string(k_max_host_bytes) + " bytes");
    }
    return out;
}

Result<std::string> normalize_blocked_host(std::string_view host) {
    if (host.empty()) {
        return Status::invalid_argument("destination host is empty");
    }
    // A UTF-8 host longer than this cannot fit 253 bytes of A-labels (a code point costs at least
    // one punycode digit and at most four UTF-8 bytes); refused before anything quotes it.
    if (host.size() > 4 * k_max_host_bytes) {
        return Status::invalid_argument("destination host is " + std::to_string(host.size()) +
                                        " bytes; a host name is at most " + std::to_string(k_max_host_bytes));
    }
    for (std::size_t i = 0; i < host.size(); ++i) {
        auto c = static_cast<unsigned char>(host[i]);
        if (c < 0x20 || c == 0x7f) {
            return Status::invalid_argument("destination host contains control character " + hex_byte(c) +
                                            " at byte " + std::to_string(i));
        }
        if (c == ' ') {
            return Status::invalid_argument("destination host contains a space at byte " + std::to_string(i));
        }
    }
    const std::string shown = printable(host);
    if (host == "*") {
        return Status::invalid_argument("'*' is not a destination host; name the host whose links to block");
    }
    if (host.find("://") != std::string_view::npos) {
        return Status::invalid_argument("destination host '" + shown +
                                        "' is a URL; give the host alone (e.g. evil.example)");
    }
    if (host.starts_with("*.")) {
        return Status::invalid_argument("destination host '" + shown + "' has a wildcard; a block of '" +
                                        printable(host.substr(2)) + "' already covers its subdomains");
    }
    if (host.find('@') != std::string_view::npos) {
        return Status::invalid_argument("destination host '" + shown + "' contains user info ('@'); give the host alone");
    }
    if (host.find('/') != std::string_view::npos || host.find('?') != std::string_view::npos ||
        host.find('#') != std::string_view::npos) {
        return Status::invalid_argument("destination host '" + shown +
                                        "' contains a path, query or fragment; give the host alone");
    }
    if (host.find(':') != std::string_view::npos || host.find('[') != std::string_view::npos) {
        return Status::invalid_argument("destination host '" + shown +
                                        "' has a port or is an IPv6 literal; give the host name alone "
                                        "(a block covers every port)");
    }
    return normalize_host(host, HostRules::web);
}

namespace {

// At most `max_bytes` of UTF-8 without control, bidirectional-override or line-separator
// characters: text that prints as one honest line in tables and messages. `what` names it.
Status check_one_line(std::string_view text, std::string_view what, std::size_t max_bytes) {
    if (text.size() > max_bytes) {
        return Status::invalid_argument(std::string(what) + " is " + std::to_string(text.size()) +
                                        " bytes; the limit is " + std::to_string(max_bytes));
    }
    auto decoded = decode_utf8(text);
    if (!decoded) {
        return Status::invalid_argument(std::string(what) + " must be one line of UTF-8 text: " +
                                        decoded.status().message());
    }
    for (std::uint32_t cp : *decoded) {
        // Explicit embeddings, overrides and isolates reorder what a terminal shows.
        if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 || cp == 0x2029) {
            return Status::invalid_argument(std::string(what) + " contains a bidirectional or line-separator character");
        }
    }
    return Status::ok();
}

}  // namespace

Status check_block_reason(std::string_view reason) { return check_one_line(reason, "reason", k_max_reason_bytes); }

Result<std::string> normalize_title(std::string_view title) {
    constexpr std::string_view k_blank = " \t\r\n";
    const std::size_t first = title.find_first_not_of(k_blank);
    if (first == std::string_view::npos) {
        return std::string();
    }
    title = title.substr(first, title.find_last_not_of(k_blank) - first + 1);
    if (Status st = check_one_line(title, "title", k_max_title_bytes); !st) {
        return st;
    }
    return std::string(title);
}

Status check_page_text(std::string_view text) {
    return check_one_line(text, "page text", k_max_page_text_bytes);
}

Status check_tag(std::string_view tag) {
    if (tag.empty() || tag.size() > k_max_tag_bytes) {
        return Status::invalid_argument("tag must be 1 to " + std::to_string(k_max_tag_bytes) + " bytes");
    }
    for (char c : tag) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                  c == '_' || c == '.' || c == ':';
        if (!ok) {
            return Status::invalid_argument("tag '" + std::string(tag) +
                                            "' may only contain A-Z a-z 0-9 - _ . :");
        }
    }
    return Status::ok();
}

Result<std::uint16_t> parse_redirect_type(std::string_view text) {
    for (std::uint16_t t : {301, 302, 307, 308}) {
        if (text == std::to_string(t)) {
            return t;
        }
    }
    return Status::invalid_argument("redirect type '" + std::string(text) + "' is not one of 301, 302, 307, 308");
}

std::string generate_code() {
    // Rejection sampling keeps every symbol equally likely: bytes >= 4 * 55 are drawn again.
    constexpr unsigned k_n = static_cast<unsigned>(k_code_alphabet.size());
    constexpr unsigned k_limit = (256 / k_n) * k_n;
    std::string code;
    while (code.size() < k_generated_code_length) {
        std::array<unsigned char, 16> bytes{};
        if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
            std::abort();  // no entropy: never fall back to a predictable code
        }
        for (unsigned char b : bytes) {
            if (b < k_limit && code.size() < k_generated_code_length) {
                code.push_back(k_code_alphabet[b % k_n]);
            }
        }
    }
    return code;
}

}  // namespace shortlink::validate
