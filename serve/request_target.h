// Request-target and Host normalization for the redirect answer (serve/answer.h).
//
// These turn the raw bytes of a request line and Host header into the (host, code, query) triple
// a snapshot lookup needs: the authority of an absolute-form target wins over Host, the port is
// dropped and the host lowercased, the path is percent-decoded (Boost.URL validates the grammar)
// with one trailing '/' tolerated. Everything is written into caller-provided fixed buffers, so
// the request path allocates nothing.
//
// Thread-safety: pure functions over their arguments.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace shortlink::serve {

// Longest decoded code we look up. Longer paths cannot name a link (the store refuses such codes
// long before this) and answer 404 without touching the snapshot.
inline constexpr std::size_t k_max_code_bytes = 1024;
// RFC 1035 limits a host name to 253 characters; a bracketed IPv6 literal is shorter.
inline constexpr std::size_t k_max_host_bytes = 255;

enum class TargetError {
    none,
    malformed,    // not a valid origin-form or absolute-form target, bad percent-encoding: 400
    bad_host,     // Host header or authority is not a valid host[:port]: 400
    bad_scheme,   // absolute-form with a scheme other than http/https: 400
    code_too_long // decoded path longer than k_max_code_bytes: answered 404
};

// The parts of a request the redirect answer needs. Views point into the request bytes or into
// the owning ParsedTarget's buffers.
struct ParsedTarget {
    std::string_view host;    // lowercase, no port, no trailing dot; empty if none was given
    std::string_view raw_host;  // the same host as the request spells it (case kept), a view
                                // into the request bytes that outlives this ParsedTarget
    std::string_view code;    // percent-decoded path without the leading '/' and one trailing '/'
    std::string_view query;   // encoded query without '?'; empty when absent or empty
    bool is_root = false;     // the path was "/" (or empty in absolute-form)

    // Left uninitialized on purpose: zeroing 1.3 KB per request costs more than the lookup.
    std::array<char, k_max_host_bytes> host_buffer;
    std::array<char, k_max_code_bytes> code_buffer;
};

// Lowercases `raw` (a Host header value or an authority) into `out` and strips the port and one
// trailing dot. Returns false for anything that is not a valid host[:port] without userinfo.
// `spelt`, when given, gets the host as `raw` spells it (a view into `raw`, without the port and
// the trailing dot).
bool normalize_host(std::string_view raw, std::array<char, k_max_host_bytes>& out,
                    std::string_view& host, std::string_view* spelt = nullptr);

// The path and query of a request-target that parse_target() accepted: the target itself in
// origin-form, what follows the authority in absolute-form (empty when nothing does).
std::string_view path_and_query(std::string_view target);

// Parses `target` (origin-form or absolute-form) with `host_header` as the fallback authority.
// `fold_case` is applied later by the caller once the domain is known (see fold_code()).
//
// The query is accepted as real clients send it: besides RFC 3986's query characters, the bytes
// that browsers, `curl -g` and Python's http.client leave raw (" < > [ \ ] ^ ` { | } and bytes
// above 0x7f), as nginx accepts them. Such a query is forwarded percent-encoded
// (append_forwarded_query). Space, '#', control bytes and a '%' not followed by two hex digits
// stay malformed, and the path keeps the strict grammar.
TargetError parse_target(std::string_view target, std::string_view host_header, ParsedTarget& out);

// True for a query byte that parse_target() accepts but a URI may not hold raw, so that it is
// percent-encoded when the query is forwarded.
bool query_byte_needs_encoding(char c);

// Appends `query` (as parse_target() accepted it) to a Location: the bytes a URI may not hold
// raw become %XX (uppercase hex), everything else is copied, '%XX' escapes included.
void append_forwarded_query(std::string& out, std::string_view query);

// Appends `s` with ASCII letters lowercased.
void append_lowercase(std::string& out, std::string_view s);

// True for a host made of letters, digits, '-' and '.' (a DNS name or an IPv4 address) or a
// bracketed IPv6 literal: what a Location may name as its host without any escaping. A reg-name
// may also hold sub-delimiters ("a&b"), which no served name has.
bool is_plain_host(std::string_view host);

// ASCII-lowercases the code in place (case-insensitive domains store codes folded).
void fold_code(ParsedTarget& target);

}  // namespace shortlink::serve
