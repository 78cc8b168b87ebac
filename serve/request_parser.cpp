#include "serve/request_parser.h"

#include <algorithm>
#include <cstring>
#include <string_view>

#include <boost/beast/core/string.hpp>

namespace shortlink::serve {

void RequestParser::on_request_impl(boost::beast::http::verb method, boost::beast::string_view /*method_str*/,
                                    boost::beast::string_view target_sv, int version,
                                    boost::beast::error_code& ec) {
    const std::string_view target(target_sv.data(), target_sv.size());
    if (!inside(target)) {
        fail(ParseFlaw::value_outside_buffer, ec);
        return;
    }
    m_verb = method;
    m_version = static_cast<unsigned>(version);
    m_target = span_of(target);
}

void RequestParser::on_field_impl(boost::beast::http::field name, boost::beast::string_view name_string,
                                  boost::beast::string_view value_sv, boost::beast::error_code& ec) {
    using boost::beast::http::field;
    const std::string_view value(value_sv.data(), value_sv.size());
    if (++m_fields > m_max_fields) {
        fail(ParseFlaw::too_many_fields, ec);
        return;
    }
    // Beast joins folded lines in a buffer of its own; any value outside ours was folded.
    if (!value.empty() && !inside(value)) {
        fail(ParseFlaw::obs_fold, ec);
        return;
    }
    switch (name) {
    case field::host:
        if (m_host_seen) {
            fail(ParseFlaw::duplicate_host, ec);
            return;
        }
        m_host_seen = true;
        m_host = value.empty() ? Span{} : span_of(value);
        break;
    case field::content_length:
        if (m_content_length_seen) {
            fail(ParseFlaw::duplicate_content_length, ec);
            return;
        }
        m_content_length_seen = true;
        // Beast accepts a list of equal values ("5, 5"); a proxy in front may not read it the
        // same way, so only plain digits are allowed.
        if (value.empty() || value.find_first_not_of("0123456789") != std::string_view::npos) {
            fail(ParseFlaw::duplicate_content_length, ec);
            return;
        }
        break;
    case field::transfer_encoding:
        // Only a lone "chunked" has a meaning we can frame; anything else (gzip, chunked twice,
        // "chunked, gzip") leaves the body length undefined and is refused (RFC 9112 6.3).
        if (!boost::beast::iequals(value_sv, boost::beast::string_view("chunked"))) {
            fail(ParseFlaw::bad_transfer_encoding, ec);
            return;
        }
        break;
    case field::user_agent:
        keep_client_field(ClientField::user_agent, value);
        break;
    case field::accept_language:
        keep_client_field(ClientField::accept_language, value);
        break;
    case field::cookie:
        if (m_cookie.size == 0 && !value.empty()) {
            m_cookie = span_of(value);
        }
        break;
    case field::content_type:
        if (m_content_type.size == 0 && !value.empty()) {
            m_content_type = span_of(value);
        }
        break;
    case field::referer:
        if (m_client) {
            keep_client_field(ClientField::referer, value);
        }
        break;
    default:
        keep_unknown_field(std::string_view(name_string.data(), name_string.size()), value);
        break;
    }
}

void RequestParser::keep_unknown_field(std::string_view name, std::string_view value) {
    const auto is = [&](std::string_view want) {
        return name.size() == want.size() &&
               boost::beast::iequals(boost::beast::string_view(name.data(), name.size()),
                                     boost::beast::string_view(want.data(), want.size()));
    };
    if (m_forwarded && is("x-forwarded-for")) {
        if (value.empty()) {
            return;
        }
        if (m_forwarded_count == k_forwarded_lines) {
            std::copy(m_forwarded_lines.begin() + 1, m_forwarded_lines.end(), m_forwarded_lines.begin());
            --m_forwarded_count;
        }
        m_forwarded_lines[m_forwarded_count++] = span_of(value);
    } else if (!m_country_header.empty() && is(m_country_header)) {
        keep_client_field(ClientField::country, value);
    } else if (is("sec-ch-ua-mobile")) {
        keep_client_field(ClientField::ch_mobile, value);
    } else if (is("sec-ch-ua-platform")) {
        keep_client_field(ClientField::ch_platform, value);
    } else if (!m_client) {
        return;
    } else if (is("sec-purpose")) {
        keep_client_field(ClientField::sec_purpose, value);
    } else if (is("purpose") || is("x-purpose") || is("x-moz")) {
        keep_client_field(ClientField::purpose, value);
    }
}

bool has_obs_fold(const char* begin, const char* end) {
    const char* p = begin;
    while (p < end) {
        const void* hit = std::memchr(p, '\n', static_cast<std::size_t>(end - p));
        if (hit == nullptr) {
            return false;
        }
        p = static_cast<const char*>(hit) + 1;
        if (p < end && (*p == ' ' || *p == '\t')) {
            return true;
        }
    }
    return false;
}

const char* request_line_version(const char* begin, const char* end) {
    const void* hit = std::memchr(begin, '\n', static_cast<std::size_t>(end - begin));
    if (hit == nullptr) {
        return nullptr;
    }
    const std::string_view line(begin, static_cast<std::size_t>(static_cast<const char*>(hit) - begin));
    // "METHOD SP target SP HTTP/d.d CR": the version is the last 8 bytes before CR.
    constexpr std::string_view k_prefix = " HTTP/";
    constexpr std::size_t k_tail = k_prefix.size() + 3;  // " HTTP/d.d"
    if (line.size() < 1 + k_tail + 1 || line.back() != '\r') {
        return nullptr;
    }
    const std::size_t at = line.size() - 1 - k_tail;
    const std::string_view tail = line.substr(at, k_tail);
    const auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (tail.substr(0, k_prefix.size()) != k_prefix || !digit(tail[6]) || tail[7] != '.' ||
        !digit(tail[8]) || line.find(' ') >= at) {
        return nullptr;
    }
    return begin + at + 1;
}

bool is_unsupported_version(const char* begin, const char* end) {
    const char* version = request_line_version(begin, end);
    return version != nullptr && version[5] != '1';
}

bool downgrade_minor_version(char* begin, const char* end) {
    const char* version = request_line_version(begin, end);
    if (version == nullptr || version[5] != '1' || version[7] < '2') {
        return false;
    }
    begin[version + 7 - begin] = '1';
    return true;
}

std::size_t leading_empty_lines(const char* begin, const char* end) {
    const char* p = begin;
    while (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
        p += 2;
    }
    return static_cast<std::size_t>(p - begin);
}

}  // namespace shortlink::serve
