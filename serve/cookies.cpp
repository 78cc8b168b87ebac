#include "serve/cookies.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "formats/bytes.h"
#include "formats/password.h"

namespace shortlink::serve {
namespace {

constexpr std::size_t k_mac_hex = 64;

std::string mac_hex(const CookieKey& key, std::string_view kind, std::string_view host, std::string_view code,
                    std::string_view claim, const std::uint8_t* block) {
    std::string message;
    message.reserve(kind.size() + host.size() + code.size() + claim.size() + 4 + formats::k_password_block_size);
    message.append(kind).push_back('\0');
    message.append(host).push_back('\0');
    message.append(code).push_back('\0');
    message.append(claim);
    if (block != nullptr) {
        message.push_back('\0');
        message.append(reinterpret_cast<const char*>(block), formats::k_password_block_size);
    }
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    const std::string_view k = key.bytes();
    HMAC(EVP_sha256(), k.data(), static_cast<int>(k.size()), reinterpret_cast<const unsigned char*>(message.data()),
         message.size(), mac, &size);
    return formats::bytes::hex_encode(mac, size);
}

// Splits "CLAIM.MAC" and checks the MAC in constant time; the claim on success.
std::optional<std::string_view> verified_claim(const CookieKey& key, std::string_view value, std::string_view kind,
                                               std::string_view host, std::string_view code,
                                               const std::uint8_t* block) {
    const std::size_t dot = value.find('.');
    if (dot == std::string_view::npos || dot == 0 || dot > 20 || value.size() - dot - 1 != k_mac_hex) {
        return std::nullopt;
    }
    const std::string_view claim = value.substr(0, dot);
    for (char c : claim) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
    }
    const std::string expected = mac_hex(key, kind, host, code, claim, block);
    if (CRYPTO_memcmp(expected.data(), value.data() + dot + 1, k_mac_hex) != 0) {
        return std::nullopt;
    }
    return claim;
}

Status read_key_file(const std::string& path, std::vector<std::uint8_t>& out) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        const int err = errno;
        return err == ENOENT ? Status::not_found("cookie key " + path + ": no such file")
                             : Status::io_error("cookie key " + path + ": " + std::strerror(err));
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        return Status::invalid_argument("cookie key " + path + ": not a regular file");
    }
    if ((st.st_mode & 077) != 0) {
        ::close(fd);
        char mode[8];
        std::snprintf(mode, sizeof mode, "%03o", static_cast<unsigned>(st.st_mode & 0777));
        return Status::invalid_argument("cookie key " + path + ": mode " + mode +
                                        " lets others read it; chmod 600 it (it signs every cookie)");
    }
    if (st.st_size < static_cast<off_t>(k_min_cookie_key) || st.st_size > static_cast<off_t>(k_max_cookie_key)) {
        ::close(fd);
        return Status::invalid_argument("cookie key " + path + ": " + std::to_string(st.st_size) + " bytes; it needs " +
                                        std::to_string(k_min_cookie_key) + " to " + std::to_string(k_max_cookie_key) +
                                        " random bytes (head -c 32 /dev/urandom)");
    }
    out.resize(static_cast<std::size_t>(st.st_size));
    std::size_t got = 0;
    while (got < out.size()) {
        const ssize_t n = ::read(fd, out.data() + got, out.size() - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            ::close(fd);
            return Status::io_error("cookie key " + path + ": short read");
        }
        got += static_cast<std::size_t>(n);
    }
    ::close(fd);
    return Status::ok();
}

}  // namespace

CookieKey CookieKey::generate() {
    CookieKey k;
    k.m_key.resize(k_min_cookie_key);
    if (RAND_bytes(k.m_key.data(), static_cast<int>(k.m_key.size())) != 1) {
        // OpenSSL's CSPRNG does not fail once seeded; a server must not sign with a known key.
        std::abort();
    }
    return k;
}

Result<CookieKey> CookieKey::load(const std::string& path) {
    CookieKey k;
    if (Status st = read_key_file(path, k.m_key); !st) {
        return st;
    }
    return k;
}

Result<CookieKey> CookieKey::load_or_create(const std::string& state_dir) {
    const std::string path = state_dir + "/cookie.key";
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
        CookieKey fresh = generate();
        const std::string_view b = fresh.bytes();
        const bool ok = ::write(fd, b.data(), b.size()) == static_cast<ssize_t>(b.size()) && ::fsync(fd) == 0;
        ::close(fd);
        if (!ok) {
            ::unlink(path.c_str());
            return Status::io_error("cannot write " + path);
        }
    } else if (errno != EEXIST) {
        return Status::io_error("cannot create " + path + ": " + std::strerror(errno));
    }
    return load(path);
}

std::string password_cookie_value(const CookieKey& key, std::string_view host, std::string_view code,
                                  const std::uint8_t* block, std::int64_t expires) {
    const std::string claim = std::to_string(expires);
    return claim + "." + mac_hex(key, k_password_cookie, host, code, claim, block);
}

bool has_password_cookie(const CookieKey& key, std::string_view cookie_header, std::string_view host,
                         std::string_view code, const std::uint8_t* block, std::int64_t now) {
    return find_cookie(cookie_header, k_password_cookie, [&](std::string_view value) {
        const auto claim = verified_claim(key, value, k_password_cookie, host, code, block);
        if (!claim) {
            return false;
        }
        std::int64_t expires = 0;
        const auto res = std::from_chars(claim->data(), claim->data() + claim->size(), expires);
        return res.ec == std::errc() && now < expires;
    });
}

std::string split_cookie_value(const CookieKey& key, std::string_view host, std::string_view code,
                               std::uint8_t share) {
    const std::string claim = std::to_string(share);
    return claim + "." + mac_hex(key, k_split_cookie, host, code, claim, nullptr);
}

std::optional<std::uint8_t> split_cookie_share(const CookieKey& key, std::string_view cookie_header,
                                               std::string_view host, std::string_view code) {
    std::optional<std::uint8_t> share;
    find_cookie(cookie_header, k_split_cookie, [&](std::string_view value) {
        const auto claim = verified_claim(key, value, k_split_cookie, host, code, nullptr);
        unsigned v = 0;
        if (!claim || claim->size() > 2 ||
            std::from_chars(claim->data(), claim->data() + claim->size(), v).ec != std::errc() || v > 99) {
            return false;
        }
        share = static_cast<std::uint8_t>(v);
        return true;
    });
    return share;
}

std::string set_cookie_header(std::string_view name, std::string_view value, std::string_view code,
                              std::uint32_t max_age_s, bool secure) {
    std::string out;
    out.append(name).append("=").append(value).append("; Path=/").append(code);
    out.append("; Max-Age=").append(std::to_string(max_age_s)).append("; HttpOnly; SameSite=Lax");
    if (secure) {
        out.append("; Secure");
    }
    return out;
}

}  // namespace shortlink::serve
