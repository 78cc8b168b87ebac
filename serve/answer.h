// The redirect answer: a pure function of (snapshot, deny set, request, now) -> response.
//
// Everything `shortlink serve` says to a well-formed request is decided here, apart from the
// connection (which only frames bytes) so that it can be tested directly and so that
// `shortlink resolve` prints exactly what a server would answer. No I/O; no allocation but to check a
// signed cookie (password and split links): the Response holds views into the snapshot and into the
// request bytes, and the caller keeps both alive while it writes the response (response_writer.h).
//
// Thread-safety: pure; call from any number of threads at once.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "serve/request_target.h"
#include "serve/rules_eval.h"

namespace shortlink::formats {
class Snapshot;
class DenySet;
}

namespace shortlink::serve {

class PatchedSnapshot;

class CookieKey;

// POST is answered by a password link alone (the form's submission); elsewhere it is another
// method (405).
enum class Method : std::uint8_t { get, head, post, other };

struct Request {
    Method method = Method::get;
    std::string_view target;  // request-target as received (origin-form or absolute-form)
    std::string_view host;    // Host header value as received; empty when absent
    bool tls = false;         // arrived on a TLS listener (HTTPS redirects, HSTS)
    // How a forwarded query meets the destination's own (serve --query-params): false, a
    // visitor's parameter replaces the destination's parameters of the same name; true, both
    // are kept.
    bool keep_both_params = false;
    // What a link's rules read (serve/rules_eval.h): headers and the client's address.
    ClientInput client;
    // The name of the request header trusted for the client's country (serve --country-header),
    // as an answer that depends on it names it in Vary; empty: none is trusted. A domain that
    // trusts a header of its own (its policy's country_header) reads that one from `head`.
    std::string_view country_header;
    // The request's head as received: the request line and the header fields, up to the blank
    // line (head_field()); empty when the caller has none.
    std::string_view head;
    // The Cookie and Content-Type headers as received; empty when absent.
    std::string_view cookie;
    std::string_view content_type;
    // What signed cookies are checked against (serve/cookies.h); nullptr: no cookie is valid
    // and none is set (a password link always answers with its form).
    const CookieKey* cookie_key = nullptr;
};

// Why the answer is what it is; picks the body text and appears in `resolve --json`.
enum class Reason : std::uint8_t {
    redirect,            // active link or root URL
    https_redirect,      // 308 to https://: the domain's --https-redirect, on a plain listener
    not_found,           // unknown code, or "/" without a root URL
    unknown_host,        // no domain answers this host and there is no default domain
    disabled,            // 410
    deleted,             // 410
    expired,             // 410: past the link's expiry
    not_yet_valid,       // 404, never cached: before the link's not-before time, or reserved
    method_not_allowed,  // 405
    bad_request,         // 400: malformed target or Host
    no_snapshot,         // 503: nothing loaded yet
    snapshot_damaged,    // 503: a lazily loaded snapshot failed a deferred check (being replaced)
    blocked,             // 410, never cached: the link, its domain or its destination is blocked
    // A password link (every answer no-store, Referrer-Policy: no-referrer):
    password_form,       // 200: GET or HEAD without a valid cookie for the link: the form
    password_check,      // a POST to check: the connection reads the body and checks it on the
                         // pool (the Location is where the right password leads)
    password_ok,         // 303 to the destination, with the password cookie
    password_refused,    // 403: the form again, saying the password was wrong
    // 429 with Retry-After, never cached: a miss past the client's miss budget (limited()), or
    // too many failed password attempts from the client or on the link
    rate_limited,
    unsupported_media_type,  // 415: a POST that is not application/x-www-form-urlencoded
    body_too_large,      // 413: a POST body above the password form's limit
    password_busy,       // 503 with Retry-After: the check pool's queue is full
};

// private_max_age: "private, max-age=N", for an answer that depends on what a shared cache
// cannot key on (the device, the client's address, its split share).
enum class CacheKind : std::uint8_t { none, max_age, no_store, private_max_age };

struct Response {
    std::uint16_t status = 500;
    Reason reason = Reason::no_snapshot;
    bool head = false;  // HEAD: same headers, no body

    // Location = prefix + authority + separator + query + suffix. A link's: prefix and suffix
    // point into the snapshot (the destination split before its '#fragment'), the query into
    // the request target, and the separator is '?', '&' or none. An HTTPS redirect's: prefix
    // "https://", the authority (written in lowercase) the domain's host from the snapshot or,
    // for the default domain, the request's host as it spelt it, and the query the request's
    // path and query, after a separator '/' when that is empty or starts with '?'.
    std::string_view location_prefix;
    std::string_view location_authority;
    char query_separator = '\0';
    std::string_view location_query;
    std::string_view location_suffix;
    // The prefix ends in the destination's query, some of whose parameters the forwarded query
    // names again: those are left out when the Location is written (merged_location()).
    bool replace_params = false;

    CacheKind cache = CacheKind::none;
    std::uint32_t max_age_s = 0;
    // Only with CacheKind::max_age (the domain's policy): "public", and RFC 5861's directives,
    // which go on redirects alone (a stale 404 would hide a link created meanwhile).
    bool cache_public = false;
    std::uint32_t stale_while_revalidate_s = 0;  // 0: not sent
    std::uint32_t stale_if_error_s = 0;          // 0: not sent
    // The body of an answer without a Location: the domain's 404 or 410 text (a view into the
    // snapshot); empty: the status text.
    std::string_view page_text;
    // The domain's own miss budget, misses per client and minute (domain set --miss-budget);
    // 0: the server's --miss-budget.
    std::uint32_t miss_budget = 0;

    // Strict-Transport-Security: only over TLS, for a domain with an HSTS max-age.
    std::uint32_t hsts_max_age_s = 0;  // 0: no header
    bool hsts_include_subdomains = false;

    // Vary: the answer came from a link with rules that read these headers, which a cache can
    // key on: Accept-Language, and the trusted country header (its name; empty: not read).
    bool vary_accept_language = false;
    std::string_view vary_country;
    // The link's rule that answered, 1 for the first; 0: none (the link's own destination).
    std::uint8_t rule = 0;

    // A password link's answers: its password block (formats/password.h) in the snapshot;
    // nullptr for every other answer.
    const std::uint8_t* password = nullptr;
    // The link's domain as the snapshot names it ("*": the default domain): what a signed
    // cookie is bound to, with `code`.
    std::string_view link_host;
    // A link with a split rule: the visitor's share, and whether the answer should set the
    // split cookie (it had none valid; the caller has the key to sign it).
    bool split_cookie = false;
    std::uint8_t split_share = 0;
    // Retry-After for a 429 or a password_busy 503 (seconds; 0: the writer's default).
    std::uint32_t retry_after_s = 0;
    // A Set-Cookie header value the caller built (serve/cookies.h); empty: none.
    std::string_view set_cookie;

    // What the answer was about, for the click log: the domain's host (for an unknown host or
    // the default domain, the Host as received) and the link's stored code (otherwise the
    // requested path as received, without '/' and query); views into the snapshot or the
    // request. Empty when the request never got that far.
    std::string_view domain;
    std::string_view code;
    // The country header the domain trusts instead of the server's (its policy); empty: the
    // server's. The click log records the country from it.
    std::string_view domain_country_header;
    bool root = false;  // the domain's root ("/")
    bool qr = false;    // the query began with the QR marker (SPEC.md "The QR marker"), removed

    bool has_location() const { return !location_prefix.empty(); }
    std::size_t location_size() const {
        return location_prefix.size() + location_authority.size() + (query_separator != '\0' ? 1 : 0) +
               location_query.size() + location_suffix.size();
    }
};

// The first non-empty value of a field named `name` (any case) in a request head (the request
// line, then "Name: value" lines up to the first blank one), optional whitespace trimmed, as
// the parser keeps the fields it knows; empty when there is none.
std::string_view head_field(std::string_view head, std::string_view name);

// Whether the miss budget (serve/miss_budget.h) counts this answer: an unknown code, answered
// 404 or redirected to the domain's not-found URL (a scanner learns as much from either), or
// an unknown host.
inline bool is_miss(const Response& r) {
    return (r.status == 404 || r.status == 302) && (r.reason == Reason::not_found || r.reason == Reason::unknown_host);
}

// The 429 that replaces a miss past the client's budget, never cached; it keeps what the miss
// was about (domain, code, QR marker) for the click log.
Response limited(const Response& miss, std::uint32_t retry_after_s);

// Cache lifetime of a 404 for a host no domain answers (no policy to read it from).
inline constexpr std::uint32_t k_unknown_host_max_age_s = 60;

// Reason phrase for the status codes the server sends ("Moved Permanently").
std::string_view status_text(std::uint16_t status);
std::string_view reason_name(Reason reason);

// A response whose Location has the destination's parameters the forwarded query replaces
// left out, its prefix in `storage`; `r` itself when there is nothing to leave out. Parameters
// are matched by name (the bytes before '=') as written, case-sensitively.
const Response& merged_location(const Response& r, Response& merged, std::string& storage);

// The Location and Cache-Control header values as strings (for `shortlink resolve` and tests;
// the server writes them without building strings). Empty when the response has none.
std::string location_string(const Response& response);
std::string cache_control_string(const Response& response);
// Appends the Cache-Control value ("public, max-age=300, stale-if-error=86400"); nothing for
// CacheKind::none. The one writer of it, for the server and cache_control_string().
void append_cache_control(std::string& out, const Response& response);
// "Accept-Language, CF-IPCountry"; empty without Vary.
std::string vary_string(const Response& response);
// "max-age=N" or "max-age=N; includeSubDomains"; empty without HSTS.
std::string hsts_string(const Response& response);

// The text of the short HTML body of an answer without a Location ("Not Found", the domain's own
// 404 or 410 text, or for a blocked link a sentence saying it was disabled: never its
// destination). Raw text: the writer escapes it for HTML.
std::string_view body_text(const Response& response);

// The answer for `request` at Unix time `now` from `snapshot` (nullptr: none loaded -> 503),
// with `deny` the current deny set (the newer of the snapshot's own and a deny overlay's;
// nullptr or empty: nothing is blocked).
Response answer(const formats::Snapshot* snapshot, const formats::DenySet* deny,
                const Request& request, std::int64_t now);
// The same with a patch on top of the snapshot (serve/patched.h); never nullptr.
Response answer(const PatchedSnapshot* patched, const formats::DenySet* deny,
                const Request& request, std::int64_t now);

}  // namespace shortlink::serve

#include "serve/answer_impl.h"
