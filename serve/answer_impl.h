// The body of the redirect answer as a template over the snapshot type, so unit tests can drive
// it with an in-memory fake (tests/serve/answer_test.cpp) while serve and resolve use
// formats::Snapshot (instantiated once in serve/answer.cpp). Include serve/answer.h, not this.
#pragma once

#include <algorithm>
#include <optional>

#include "formats/deny.h"
#include "formats/snapshot.h"
#include "serve/answer.h"
#include "serve/cookies.h"
#include "serve/rules_eval.h"

namespace shortlink::serve::detail {

// Splits `destination` around where a forwarded query goes: before any '#fragment', joined with
// '?' when the destination has no query yet, '&' when it has one (none if it already ends in
// '?' or '&'). When the destination has a query and `keep_both` is false, the writer leaves out
// its parameters that the forwarded query names again.
inline void set_location(Response& r, std::string_view destination, std::string_view query,
                         bool forward, bool keep_both) {
    if (!forward || query.empty()) {
        r.location_prefix = destination;
        return;
    }
    const std::size_t hash = destination.find('#');
    const std::string_view before = destination.substr(0, hash);
    r.location_prefix = before;
    r.location_suffix = hash == std::string_view::npos ? std::string_view{}
                                                       : destination.substr(hash);
    r.location_query = query;
    if (before.find('?') == std::string_view::npos) {
        r.query_separator = '?';
    } else {
        if (before.back() != '?' && before.back() != '&') {
            r.query_separator = '&';
        }
        r.replace_params = !keep_both;
    }
}

// The QR marker `shortlink qr` puts first in a short URL's query ("sl_qr=1", any case, any
// value): true when `query` starts with it, and `query` is left with what follows it.
inline bool strip_qr_marker(std::string_view& query) {
    constexpr std::string_view name = "sl_qr";
    if (query.size() < name.size() ||
        (query.size() > name.size() && query[name.size()] != '=' && query[name.size()] != '&')) {
        return false;
    }
    for (std::size_t i = 0; i < name.size(); ++i) {
        const char c = query[i];
        if ((c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c) != name[i]) {
            return false;
        }
    }
    const std::size_t amp = query.find('&');
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    return true;
}

// The path of a request-target as received, without its leading '/' and its query: what a
// miss records (a view into the request, unlike ParsedTarget's decoded code).
inline std::string_view requested_path(std::string_view request_target) {
    std::string_view path = path_and_query(request_target);
    path = path.substr(0, path.find('?'));
    if (!path.empty() && path.front() == '/') {
        path.remove_prefix(1);
    }
    return path;
}

inline Response simple(std::uint16_t status, Reason reason, CacheKind cache,
                       std::uint32_t max_age) {
    Response r;
    r.status = status;
    r.reason = reason;
    r.cache = cache;
    r.max_age_s = max_age;
    return r;
}

// Blocked answers are never cached: an unblock must take effect at once.
inline Response blocked() { return simple(410, Reason::blocked, CacheKind::no_store, 0); }

// A fallback the domain or the link names in place of a 404 or a 410: 302, cached no longer than
// the answer it replaces (a link created or restored later must take over as soon), the query
// never forwarded (it was meant for a link that does not answer). The reason stays what it was,
// so the click log counts a miss or an expired link, not a redirect.
inline Response fallback_redirect(Reason reason, std::string_view url, std::uint32_t max_age) {
    Response r = simple(302, reason, CacheKind::max_age, max_age);
    r.location_prefix = url;
    return r;
}

// The domain's cache policy on an answer a cache may keep: permanent redirects capped at its
// permanent_max_age_s; "private" for every such answer or else "public" when it says so; and
// on redirects (never on a 404 or a 410, whose staleness would hide a link created meanwhile)
// RFC 5861's stale-while-revalidate and stale-if-error. Answers that are no-store stay so, and
// private ones (rules that read what a cache cannot key on) get no stale directive: nothing may
// be served to another visitor from them.
inline void apply_cache_policy(Response& r, const formats::DomainView& domain) {
    if (r.cache != CacheKind::max_age && r.cache != CacheKind::private_max_age) {
        return;
    }
    if (r.status == 301 || r.status == 308) {
        r.max_age_s = std::min(r.max_age_s, domain.permanent_max_age_s);
    }
    if (r.cache == CacheKind::private_max_age) {
        return;
    }
    if (domain.cache_scope == formats::format::k_cache_scope_private) {
        r.cache = CacheKind::private_max_age;
        return;
    }
    r.cache_public = domain.cache_scope == formats::format::k_cache_scope_public;
    if (r.reason == Reason::redirect || r.reason == Reason::https_redirect) {
        r.stale_while_revalidate_s = domain.stale_while_revalidate_s;
        r.stale_if_error_s = domain.stale_if_error_s;
    }
}

// 308 to the same path and query on https://HOST. HOST is the domain's own host, never taken
// from the request, except on the default domain, which answers any host: there it is the host
// the request named (normalize_host() accepted it: no userinfo, path or port survives). The
// redirect is cached like the domain's redirects, as it is as permanent as its setting.
inline Response https_redirect(const formats::DomainView& domain, const ParsedTarget& target,
                               std::string_view request_target) {
    Response r = simple(308, Reason::https_redirect, CacheKind::max_age, domain.cache_max_age_s);
    r.location_prefix = "https://";
    r.location_authority = domain.is_default ? target.raw_host : domain.host;
    r.location_query = path_and_query(request_target);
    if (r.location_query.empty() || r.location_query.front() != '/') {
        r.query_separator = '/';
    }
    return r;
}

inline constexpr std::uint16_t kind_bit(formats::RuleKind kind) {
    return static_cast<std::uint16_t>(1u << static_cast<unsigned>(kind));
}

// The redirect of an active link with rules: the first rule that holds, else the link's own
// destination; either way cached only as far as what the rules read allows. Accept-Language
// and the trusted country header (the domain's own, else the server's) are named in Vary (an
// edge can key on them); the device, the client's address (a GeoIP country among it) and its
// split share are not headers an edge can key on, so such an answer is private, and so is one
// that reads the country when no header carries it. A rule with a time bound is not cached past it.
// A rule's destination on a blocked host answers as blocked, as the link's own would.
inline Response ruled_redirect(const formats::LinkView& link, const formats::DomainView& domain,
                               const formats::DenySet* deny, const ParsedTarget& target,
                               const Request& request, std::int64_t now, std::uint32_t max_age) {
    using formats::RuleKind;
    const std::uint16_t kinds = link.rules.kinds();
    RuleContext context;
    context.client = &request.client;
    // A domain that trusts a country header of its own reads that one, and only that one.
    std::string_view country_header = request.country_header;
    ClientInput own_country;
    if (!domain.country_header.empty() && (kinds & kind_bit(RuleKind::country)) != 0) {
        country_header = domain.country_header;
        own_country = request.client;
        own_country.country = head_field(request.head, country_header);
        context.client = &own_country;
    }
    context.query = target.query;
    context.now = now;
    context.domain = domain.host;
    context.code = link.code;
    // A visitor keeps the share a signed split cookie names; without one, the stable hash
    // decides and the answer asks for the cookie, so a new address or browser update keeps it.
    bool split_cookie = false;
    if ((kinds & kind_bit(RuleKind::split)) != 0) {
        std::optional<std::uint8_t> kept;
        if (request.cookie_key != nullptr && !request.cookie.empty()) {
            kept = split_cookie_share(*request.cookie_key, request.cookie, domain.host, link.code);
        }
        context.share = kept ? *kept : split_share(request.client, domain.host, link.code);
        split_cookie = !kept && request.cookie_key != nullptr;
    }
    const RuleOutcome outcome = evaluate_rules(link.rules, context);
    if (outcome.matched && deny != nullptr && deny->blocks_destination(outcome.destination)) {
        return blocked();
    }
    if (outcome.changes_at != 0) {
        max_age = static_cast<std::uint32_t>(std::min<std::uint64_t>(
            max_age, static_cast<std::uint64_t>(outcome.changes_at - now)));
    }
    // A country from the GeoIP database is a fact about the client's address, like an ip rule:
    // a cache can key on the header, not on that; without a trusted header it is not keyable either.
    const bool per_client =
        (kinds & (kind_bit(RuleKind::device) | kind_bit(RuleKind::ip) | kind_bit(RuleKind::split))) != 0 ||
        ((kinds & kind_bit(RuleKind::country)) != 0 &&
         (country_header.empty() || request.client.country_source != nullptr));
    Response r = simple(outcome.matched && outcome.redirect_type != 0 ? outcome.redirect_type
                                                                      : link.redirect_type,
                        Reason::redirect,
                        per_client ? CacheKind::private_max_age : CacheKind::max_age, max_age);
    set_location(r, outcome.matched ? outcome.destination : link.destination, target.query,
                 link.forward_query, request.keep_both_params);
    r.rule = outcome.matched ? static_cast<std::uint8_t>(outcome.index + 1) : 0;
    r.vary_accept_language = (kinds & kind_bit(RuleKind::lang)) != 0;
    if ((kinds & kind_bit(RuleKind::country)) != 0) {
        r.vary_country = country_header;
    }
    if (context.share >= 0) {
        r.split_share = static_cast<std::uint8_t>(context.share);
        r.split_cookie = split_cookie;
    }
    return r;
}

// Whether a Content-Type names application/x-www-form-urlencoded (parameters such as a charset
// allowed, the type in any case).
inline bool is_form_content_type(std::string_view value) {
    constexpr std::string_view form = "application/x-www-form-urlencoded";
    value = value.substr(0, value.find(';'));
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
        value.remove_suffix(1);
    }
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
        value.remove_prefix(1);
    }
    if (value.size() != form.size()) {
        return false;
    }
    for (std::size_t i = 0; i < form.size(); ++i) {
        const char c = value[i];
        if ((c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c) != form[i]) {
            return false;
        }
    }
    return true;
}

// An active password link: the redirect itself only with a valid password cookie for the link,
// else the form; a POST is handed to the connection to check (password_check). Every answer is
// no-store: it depends on a cookie or a secret, and a cache must never replay a redirect that
// was earned with a password.
inline Response password_answer(const formats::LinkView& link, const formats::DomainView& domain,
                                const formats::DenySet* deny, const ParsedTarget& target,
                                const Request& request, std::int64_t now, std::uint32_t max_age,
                                const std::uint8_t* block) {
    Response redirect = ruled_redirect(link, domain, deny, target, request, now, max_age);
    if (redirect.reason == Reason::blocked) {
        return redirect;
    }
    redirect.cache = CacheKind::no_store;
    redirect.max_age_s = 0;
    Response r;
    if (request.method == Method::post) {
        if (!is_form_content_type(request.content_type)) {
            r = simple(415, Reason::unsupported_media_type, CacheKind::no_store, 0);
        } else {
            r = redirect;
            r.status = 303;
            r.reason = Reason::password_check;
            r.split_cookie = false;
        }
    } else if (request.cookie_key != nullptr && !request.cookie.empty() &&
               has_password_cookie(*request.cookie_key, request.cookie, domain.host, link.code, block, now)) {
        r = redirect;
    } else {
        r = simple(200, Reason::password_form, CacheKind::no_store, 0);
    }
    r.password = block;
    return r;
}

template <class SnapshotT>
Response answer_from(const SnapshotT* snapshot, const formats::DenySet* deny,
                     const Request& request, std::int64_t now) {
    // One comparison decides for the common case of an empty deny set.
    if (deny != nullptr && deny->empty()) {
        deny = nullptr;
    }
    Response r;
    // Another method is answered 405 after all, unless a plain request meets a domain's HTTPS
    // redirect: over TLS nothing below can change that, so no lookup is spent on it.
    if (request.method == Method::other && request.tls) {
        r = simple(405, Reason::method_not_allowed, CacheKind::none, 0);
    } else if (snapshot == nullptr) {
        r = simple(503, Reason::no_snapshot, CacheKind::no_store, 0);
    } else {
        ParsedTarget target;
        const TargetError err = parse_target(request.target, request.host, target);
        const bool qr = strip_qr_marker(target.query);
        if (err == TargetError::malformed || err == TargetError::bad_host ||
            err == TargetError::bad_scheme) {
            r = simple(400, Reason::bad_request, CacheKind::no_store, 0);
        } else {
            const std::optional<std::uint32_t> domain_index = snapshot->find_domain(target.host);
            if (!domain_index) {
                r = simple(404, Reason::unknown_host, CacheKind::max_age, k_unknown_host_max_age_s);
                r.domain = target.raw_host;
                r.code = requested_path(request.target);
            } else {
                const formats::DomainView domain = snapshot->domain(*domain_index);
                std::string_view code = requested_path(request.target);
                const auto not_found = [&] {
                    Response miss = simple(404, Reason::not_found, CacheKind::max_age,
                                           domain.negative_max_age_s);
                    miss.page_text = domain.not_found_text;
                    return miss;
                };
                // An unknown code: the domain's not-found URL, else its 404.
                const auto unknown_code = [&] {
                    return domain.not_found_url.empty()
                               ? not_found()
                               : fallback_redirect(Reason::not_found, domain.not_found_url,
                                                   domain.negative_max_age_s);
                };
                // A link that has ended (expired, disabled, deleted): the link's expired URL,
                // else the domain's, else 410 with the domain's text.
                const auto ended = [&](const formats::LinkView& link, Reason reason) {
                    const std::string_view own = link.rules.expired_url();
                    const std::string_view url = own.empty() ? domain.expired_url : own;
                    if (!url.empty()) {
                        return fallback_redirect(reason, url, domain.negative_max_age_s);
                    }
                    Response gone = simple(410, reason, CacheKind::max_age, domain.negative_max_age_s);
                    gone.page_text = domain.gone_text;
                    return gone;
                };
                if (deny != nullptr && deny->blocks_domain(domain.host)) {
                    r = blocked();  // a suspended domain: every path, its root included
                } else if (domain.https_redirect && !request.tls) {
                    // Every path. The default domain redirects to the host the request named,
                    // so that must be a plain host name.
                    r = !domain.is_default || is_plain_host(target.raw_host)
                            ? https_redirect(domain, target, request.target)
                            : simple(400, Reason::bad_request, CacheKind::no_store, 0);
                } else if (request.method == Method::other) {
                    r = simple(405, Reason::method_not_allowed, CacheKind::none, 0);
                } else if (err == TargetError::code_too_long) {
                    r = unknown_code();
                } else if (target.is_root) {
                    if (domain.root_url.empty()) {
                        r = not_found();
                    } else if (deny != nullptr && deny->blocks_destination(domain.root_url)) {
                        r = blocked();
                    } else {
                        r = simple(domain.default_redirect, Reason::redirect, CacheKind::max_age,
                                   domain.cache_max_age_s);
                        set_location(r, domain.root_url, target.query, domain.forward_query, request.keep_both_params);
                    }
                } else {
                    if (domain.case_insensitive) {
                        fold_code(target);
                    }
                    const std::optional<formats::LinkView> link =
                        snapshot->lookup(*domain_index, target.code);
                    if (link) {
                        code = link->code;  // the stored spelling, not the request's
                    }
                    if (!link) {
                        // A lazily loaded snapshot refuses every lookup once a block fails its
                        // digest: that is not evidence the link does not exist.
                        r = snapshot->intact() ? unknown_code()
                                               : simple(503, Reason::snapshot_damaged,
                                                        CacheKind::no_store, 0);
                    } else if (deny != nullptr &&
                               deny->blocks(domain.host, link->code, link->destination)) {
                        r = blocked();
                    } else if (link->status == formats::LinkState::disabled ||
                               link->status == formats::LinkState::deleted) {
                        // Short-lived like a 404: the link may be restored or re-enabled.
                        r = ended(*link, link->status == formats::LinkState::disabled
                                             ? Reason::disabled
                                             : Reason::deleted);
                    } else if (link->not_before != 0 && now < link->not_before) {
                        // A link that has not started (or is reserved, with no start time) does
                        // not exist yet as far as anyone outside can tell: a 404 like a miss's,
                        // but never cached, so no cache still says 404 once it starts; and
                        // nothing of its destination.
                        r = simple(404, Reason::not_yet_valid, CacheKind::no_store, 0);
                        r.page_text = domain.not_found_text;
                    } else if (link->expires != 0 && now >= link->expires) {
                        r = ended(*link, Reason::expired);
                    } else {
                        // A cache must not keep serving the redirect after the link expires.
                        std::uint32_t max_age = domain.cache_max_age_s;
                        if (link->expires != 0) {
                            max_age = static_cast<std::uint32_t>(std::min<std::uint64_t>(
                                max_age, static_cast<std::uint64_t>(link->expires - now)));
                        }
                        if (const std::uint8_t* block = link->rules.password()) {
                            r = password_answer(*link, domain, deny, target, request, now, max_age, block);
                        } else if (link->rules.rule_count() == 0) {
                            r = simple(link->redirect_type, Reason::redirect, CacheKind::max_age,
                                       max_age);
                            set_location(r, link->destination, target.query, link->forward_query,
                                         request.keep_both_params);
                        } else {
                            r = ruled_redirect(*link, domain, deny, target, request, now, max_age);
                        }
                    }
                }
                apply_cache_policy(r, domain);
                r.domain = domain.is_default ? target.raw_host : domain.host;
                r.code = code;
                r.link_host = domain.host;
                r.miss_budget = domain.miss_budget;
                r.domain_country_header = domain.country_header;
                r.root = target.is_root;
                // Over TLS, every answer for the domain (404 and 410 too) renews the policy.
                if (request.tls && domain.hsts_max_age_s != 0) {
                    r.hsts_max_age_s = domain.hsts_max_age_s;
                    r.hsts_include_subdomains = domain.hsts_include_subdomains;
                }
            }
        }
        r.qr = qr;
    }
    // Only GET and HEAD are answered, but the HTTPS redirect answers every method: a 308 keeps
    // the method and body, so a form posted over plain HTTP is posted again over HTTPS.
    // POST only to a password link (its form's submission).
    if ((request.method == Method::other || (request.method == Method::post && r.password == nullptr)) &&
        r.reason != Reason::https_redirect) {
        r = simple(405, Reason::method_not_allowed, CacheKind::none, 0);
    }
    r.head = request.method == Method::head;
    return r;
}

}  // namespace shortlink::serve::detail
