// Signed cookies: the cookie a password link sets after the right password (`sl_pw`) and the
// one that keeps a visitor on their split variant (`sl_split`).
//
// A value carries what it asserts and an HMAC-SHA256 over it, the link it is for and (for a
// password cookie) the link's password block, under the server's cookie key:
//
//     sl_pw    = <expires: Unix seconds> "." <64 hex digits: HMAC("sl_pw" 0 host 0 code 0 expires 0 block)>
//     sl_split = <share: 0..99> "." <64 hex digits: HMAC("sl_split" 0 host 0 code 0 share)>
//
// so a cookie is good for one link (host as the snapshot names the domain, "*" for the default
// one, and code), until its time, and only while the password it was earned with is the link's:
// a new password (a new salt) invalidates every cookie. Hosts that share a cookie key (a fleet)
// accept each other's cookies; another key accepts none.
//
// Thread-safety: a CookieKey is immutable after load; the functions are pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "formats/status.h"

namespace shortlink::serve {

inline constexpr std::string_view k_password_cookie = "sl_pw";
inline constexpr std::string_view k_split_cookie = "sl_split";
// Bytes of a cookie key at least (256 bits, HMAC-SHA256's own strength), and at most (a key
// file is read whole).
inline constexpr std::size_t k_min_cookie_key = 32;
inline constexpr std::size_t k_max_cookie_key = 4096;
// How long a split cookie keeps a visitor on a variant: 30 days, a campaign's usual length.
inline constexpr std::uint32_t k_split_cookie_max_age_s = 30 * 24 * 3600;

class CookieKey {
public:
    // A fresh random key (tests; a server without a state directory).
    static CookieKey generate();
    // --cookie-key FILE: 32 to 4096 bytes, used as they are, from a regular file that neither
    // group nor others may read or write (chmod 600).
    static Result<CookieKey> load(const std::string& path);
    // The key kept in `state_dir`/cookie.key, created (mode 0600, from the CSPRNG) when absent,
    // so a restart keeps every cookie valid.
    static Result<CookieKey> load_or_create(const std::string& state_dir);

    std::string_view bytes() const { return {reinterpret_cast<const char*>(m_key.data()), m_key.size()}; }

private:
    std::vector<std::uint8_t> m_key;
};

// The value of a password cookie for link (host, code) whose password block is `block`
// (formats::k_password_block_size bytes), good until `expires`.
std::string password_cookie_value(const CookieKey& key, std::string_view host, std::string_view code,
                                  const std::uint8_t* block, std::int64_t expires);
// Whether the Cookie header `cookie_header` holds a password cookie for that link, signed by
// `key`, not expired at `now`.
bool has_password_cookie(const CookieKey& key, std::string_view cookie_header, std::string_view host,
                         std::string_view code, const std::uint8_t* block, std::int64_t now);

std::string split_cookie_value(const CookieKey& key, std::string_view host, std::string_view code,
                               std::uint8_t share);
// The share a valid split cookie of the Cookie header names for that link; nullopt otherwise.
std::optional<std::uint8_t> split_cookie_share(const CookieKey& key, std::string_view cookie_header,
                                               std::string_view host, std::string_view code);

// A Set-Cookie header value: NAME=VALUE; Path=/CODE; Max-Age=N; HttpOnly; SameSite=Lax
// (and Secure over TLS). `code` is a snapshot code: it holds no ';', ',' or space.
std::string set_cookie_header(std::string_view name, std::string_view value, std::string_view code,
                              std::uint32_t max_age_s, bool secure);

// Calls fn(value) for each cookie called `name` in a Cookie header ("a=1; b=2"), until fn
// returns true; returns whether one did.
template <class Fn>
bool find_cookie(std::string_view header, std::string_view name, Fn&& fn) {
    std::size_t pos = 0;
    while (pos < header.size()) {
        std::size_t end = header.find(';', pos);
        if (end == std::string_view::npos) {
            end = header.size();
        }
        std::string_view pair = header.substr(pos, end - pos);
        while (!pair.empty() && (pair.front() == ' ' || pair.front() == '\t')) {
            pair.remove_prefix(1);
        }
        const std::size_t eq = pair.find('=');
        if (eq != std::string_view::npos && pair.substr(0, eq) == name) {
            std::string_view value = pair.substr(eq + 1);
            while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
                value.remove_suffix(1);
            }
            if (fn(value)) {
                return true;
            }
        }
        pos = end + 1;
    }
    return false;
}

}  // namespace shortlink::serve
