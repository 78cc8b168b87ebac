// Validation and normalization of everything a user types into the store: destination URLs,
// codes, hosts, tags and redirect types. Pure functions: no I/O except generate_code(), which
// reads the OpenSSL CSPRNG. Every error message says what is wrong, so the CLI prints it as is.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "formats/status.h"

namespace shortlink::validate {

inline constexpr std::size_t k_max_url_bytes = 8192;   // 8 KiB: above what browsers and proxies keep
inline constexpr std::size_t k_max_code_bytes = 128;
inline constexpr std::size_t k_max_host_bytes = 253;   // RFC 1035 name length without the root dot
inline constexpr std::size_t k_max_tag_bytes = 64;
inline constexpr std::size_t k_max_reason_bytes = 512;  // a block's reason: a sentence, not a report
inline constexpr std::size_t k_max_title_bytes = 512;   // a link's title: a page title, not a page
inline constexpr std::size_t k_generated_code_length = 7;
// Base62 without look-alikes (0 O o, 1 l I i): 55 symbols, 55^7 ~ 1.5e12 codes.
inline constexpr std::string_view k_code_alphabet =
    "23456789abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";

// An absolute http(s) URL with a host, no control characters or spaces, at most 8 KiB; returned
// normalized (Boost.URL: lowercase scheme and host, percent-encoding and dot segments normalized).
// UTF-8 is taken as browsers take it: an international host becomes A-labels and non-ASCII
// bytes elsewhere are percent-encoded. The host follows HostRules::web.
Result<std::string> normalize_destination(std::string_view url);

// 1-128 bytes of A-Za-z0-9-_.~ with '/' between segments; no empty, "." or ".." segment; not
// under .well-known/acme-challenge/, which serve answers itself. Returned unchanged (case is
// preserved).
Status check_code(std::string_view code);
bool is_reserved_code(std::string_view code);

// Which host names are accepted. dns: letters, digits and '-' inside a label (a domain served
// here, which DNS must resolve). web: also '_' and '-' at either end of a label, as browsers
// resolve them and real destinations use them (WHATWG URL).
enum class HostRules { dns, web };

// A host name, lowercased, trailing dot removed, no port; non-ASCII labels become A-labels
// (UTS #46 mapping and punycode, see idna.h). "*" (the default domain) is accepted as is.
Result<std::string> normalize_host(std::string_view host, HostRules rules = HostRules::dns);

// A destination host to block: what normalize_host() accepts except "*", refused with a message
// that names what was pasted instead of a bare host (a URL, a path, a port, user@host, "*.").
Result<std::string> normalize_blocked_host(std::string_view host);

// Why a block was made: empty, or at most k_max_reason_bytes of UTF-8 without control or
// bidirectional-override characters, so it prints as one honest line in tables and messages.
Status check_block_reason(std::string_view reason);

// A link's title as stored: spaces, tabs and line breaks at either end removed, then at most
// k_max_title_bytes of UTF-8 on one line, without control or bidirectional-override characters
// (what check_block_reason() takes). Blank text gives "", no title. Byte positions in the errors
// count from the first character kept.
Result<std::string> normalize_title(std::string_view title);

// A domain's 404 or 410 page text: a sentence or two, held to what a title is (one line of
// UTF-8 without control or bidirectional-override characters), at most this many bytes.
inline constexpr std::size_t k_max_page_text_bytes = 512;
Status check_page_text(std::string_view text);

// 1-64 bytes of A-Za-z0-9-_.:
Status check_tag(std::string_view tag);

// "301", "302", "307" or "308".
Result<std::uint16_t> parse_redirect_type(std::string_view text);

// `text` made safe to print in an error message: bytes outside printable ASCII become \xHH and
// anything past `max_bytes` is cut with "...", so hostile input cannot garble a terminal or log.
std::string printable(std::string_view text, std::size_t max_bytes = 64);

// A random code of k_generated_code_length symbols of k_code_alphabet from RAND_bytes.
// Throws nothing; aborts only if the CSPRNG itself fails (OpenSSL cannot seed).
std::string generate_code();

}  // namespace shortlink::validate
