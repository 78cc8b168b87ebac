#include "serve/answer.h"

#include <charconv>

#include "serve/client_class.h"
#include "serve/patched.h"

namespace shortlink::serve {

std::string_view status_text(std::uint16_t status) {
    switch (status) {
    case 200: return "OK";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 410: return "Gone";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

std::string_view reason_name(Reason reason) {
    switch (reason) {
    case Reason::redirect: return "redirect";
    case Reason::https_redirect: return "https_redirect";
    case Reason::not_found: return "not_found";
    case Reason::unknown_host: return "unknown_host";
    case Reason::disabled: return "disabled";
    case Reason::deleted: return "deleted";
    case Reason::expired: return "expired";
    case Reason::not_yet_valid: return "not_yet_valid";
    case Reason::method_not_allowed: return "method_not_allowed";
    case Reason::bad_request: return "bad_request";
    case Reason::no_snapshot: return "no_snapshot";
    case Reason::snapshot_damaged: return "snapshot_damaged";
    case Reason::blocked: return "blocked";
    case Reason::password_form: return "password_form";
    case Reason::password_check: return "password_check";
    case Reason::password_ok: return "password_ok";
    case Reason::password_refused: return "password_refused";
    case Reason::rate_limited: return "rate_limited";
    case Reason::unsupported_media_type: return "unsupported_media_type";
    case Reason::body_too_large: return "body_too_large";
    case Reason::password_busy: return "password_busy";
    }
    return "unknown";
}

namespace {

// The name of a query parameter: the bytes before its '='.
std::string_view param_name(std::string_view param) { return param.substr(0, param.find('=')); }

bool names_param(std::string_view query, std::string_view name) {
    std::size_t start = 0;
    while (start <= query.size()) {
        std::size_t end = query.find('&', start);
        if (end == std::string_view::npos) {
            end = query.size();
        }
        if (param_name(query.substr(start, end - start)) == name) {
            return true;
        }
        start = end + 1;
    }
    return false;
}

}  // namespace

const Response& merged_location(const Response& r, Response& merged, std::string& storage) {
    if (!r.replace_params) {
        return r;
    }
    const std::string_view prefix = r.location_prefix;
    const std::size_t mark = prefix.find('?');
    const std::string_view own = prefix.substr(mark + 1);
    storage.assign(prefix.substr(0, mark + 1));
    bool any = false;
    std::size_t start = 0;
    while (start < own.size()) {
        std::size_t end = own.find('&', start);
        if (end == std::string_view::npos) {
            end = own.size();
        }
        const std::string_view param = own.substr(start, end - start);
        if (!param.empty() && !names_param(r.location_query, param_name(param))) {
            if (any) {
                storage.push_back('&');
            }
            storage.append(param);
            any = true;
        }
        start = end + 1;
    }
    merged = r;
    merged.location_prefix = storage;
    merged.query_separator = any ? '&' : '\0';
    merged.replace_params = false;
    return merged;
}

std::string_view head_field(std::string_view head, std::string_view name) {
    std::size_t at = head.find('\n');  // the request line is no field
    while (at != std::string_view::npos && at + 1 < head.size()) {
        const std::size_t start = at + 1;
        at = head.find('\n', start);
        std::string_view line = head.substr(start, at == std::string_view::npos ? head.size() - start : at - start);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (line.empty()) {
            break;  // the end of the head: what follows is a body
        }
        const std::size_t colon = line.find(':');
        if (colon != name.size() || name.empty() || !equal_ignoring_case(line.substr(0, colon), name)) {
            continue;
        }
        if (const std::string_view value = trim_ows(line.substr(colon + 1)); !value.empty()) {
            return value;
        }
    }
    return {};
}

std::string location_string(const Response& response) {
    Response merged;
    std::string storage;
    const Response& r = merged_location(response, merged, storage);
    std::string out(r.location_prefix);
    append_lowercase(out, r.location_authority);
    if (r.query_separator != '\0') {
        out.push_back(r.query_separator);
    }
    append_forwarded_query(out, r.location_query);
    out.append(r.location_suffix);
    return out;
}

namespace {

void append_number(std::string& out, std::uint32_t v) {
    char buf[16];
    const auto res = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, static_cast<std::size_t>(res.ptr - buf));
}

}  // namespace

void append_cache_control(std::string& out, const Response& r) {
    switch (r.cache) {
    case CacheKind::max_age:
        out.append(r.cache_public ? "public, max-age=" : "max-age=");
        append_number(out, r.max_age_s);
        if (r.stale_while_revalidate_s != 0) {
            out.append(", stale-while-revalidate=");
            append_number(out, r.stale_while_revalidate_s);
        }
        if (r.stale_if_error_s != 0) {
            out.append(", stale-if-error=");
            append_number(out, r.stale_if_error_s);
        }
        return;
    case CacheKind::no_store: out.append("no-store"); return;
    case CacheKind::private_max_age:
        out.append("private, max-age=");
        append_number(out, r.max_age_s);
        return;
    case CacheKind::none: return;
    }
}

std::string cache_control_string(const Response& r) {
    std::string out;
    append_cache_control(out, r);
    return out;
}

std::string vary_string(const Response& r) {
    std::string out;
    if (r.vary_accept_language) {
        out = "Accept-Language";
    }
    if (!r.vary_country.empty()) {
        out += out.empty() ? "" : ", ";
        out += r.vary_country;
    }
    return out;
}

std::string hsts_string(const Response& r) {
    if (r.hsts_max_age_s == 0) {
        return "";
    }
    return "max-age=" + std::to_string(r.hsts_max_age_s) + (r.hsts_include_subdomains ? "; includeSubDomains" : "");
}

std::string_view body_text(const Response& response) {
    if (response.reason == Reason::blocked) {
        return "This short link has been disabled.";
    }
    if (!response.page_text.empty()) {
        return response.page_text;
    }
    return status_text(response.status);
}

Response limited(const Response& miss, std::uint32_t retry_after_s) {
    Response r = detail::simple(429, Reason::rate_limited, CacheKind::no_store, 0);
    r.retry_after_s = retry_after_s;
    r.domain = miss.domain;
    r.code = miss.code;
    r.root = miss.root;
    r.qr = miss.qr;
    r.head = miss.head;
    r.hsts_max_age_s = miss.hsts_max_age_s;
    r.hsts_include_subdomains = miss.hsts_include_subdomains;
    return r;
}

Response answer(const formats::Snapshot* snapshot, const formats::DenySet* deny,
                const Request& request, std::int64_t now) {
    return detail::answer_from(snapshot, deny, request, now);
}

Response answer(const PatchedSnapshot* patched, const formats::DenySet* deny,
                const Request& request, std::int64_t now) {
    return detail::answer_from(patched, deny, request, now);
}

}  // namespace shortlink::serve
