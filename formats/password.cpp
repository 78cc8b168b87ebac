#include "formats/password.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <cstring>
#include <memory>

#include "formats/bytes.h"

namespace shortlink::formats {
namespace {

struct KdfFree {
    void operator()(EVP_KDF* k) const { EVP_KDF_free(k); }
    void operator()(EVP_KDF_CTX* c) const { EVP_KDF_CTX_free(c); }
};

bool derive(std::string_view password, const PasswordHash& params, std::uint8_t* out) {
    std::unique_ptr<EVP_KDF, KdfFree> kdf(EVP_KDF_fetch(nullptr, "SCRYPT", nullptr));
    if (!kdf) {
        return false;
    }
    std::unique_ptr<EVP_KDF_CTX, KdfFree> ctx(EVP_KDF_CTX_new(kdf.get()));
    if (!ctx) {
        return false;
    }
    std::uint64_t n = std::uint64_t{1} << params.log2_n;
    std::uint32_t r = params.r;
    std::uint32_t p = params.p;
    std::uint64_t maxmem = k_scrypt_max_memory + (std::uint64_t{1} << 20);
    OSSL_PARAM list[] = {
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, const_cast<char*>(password.data()),
                                          password.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<std::uint8_t*>(params.salt.data()),
                                          params.salt.size()),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
        OSSL_PARAM_construct_end(),
    };
    return EVP_KDF_derive(ctx.get(), out, k_password_hash_size, list) == 1;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

bool parse_hex(std::string_view text, std::uint8_t* out, std::size_t n) {
    if (text.size() != 2 * n) {
        return false;
    }
    for (std::size_t i = 0; i < n; ++i) {
        const int hi = hex_value(text[2 * i]);
        const int lo = hex_value(text[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
    }
    return true;
}

// A decimal 1..3 digits without a leading zero.
bool parse_small(std::string_view text, std::uint8_t& out) {
    if (text.empty() || text.size() > 3 || (text.size() > 1 && text[0] == '0')) {
        return false;
    }
    unsigned v = 0;
    for (char c : text) {
        if (c < '0' || c > '9') {
            return false;
        }
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v > 255) {
        return false;
    }
    out = static_cast<std::uint8_t>(v);
    return true;
}

}  // namespace

const char* check_password_params(std::uint8_t kdf, std::uint8_t log2_n, std::uint8_t r, std::uint8_t p) {
    if (kdf != k_kdf_scrypt) {
        return "unknown password KDF";
    }
    if (log2_n < k_scrypt_min_log2_n || log2_n > k_scrypt_max_log2_n) {
        return "scrypt log2 N outside 10..20";
    }
    if (r == 0 || r > k_scrypt_max_r) {
        return "scrypt r outside 1..32";
    }
    if (p == 0 || p > k_scrypt_max_p) {
        return "scrypt p outside 1..16";
    }
    if (std::uint64_t{128} * r * (std::uint64_t{1} << log2_n) > k_scrypt_max_memory) {
        return "scrypt parameters need more than 256 MiB";
    }
    return nullptr;
}

Result<PasswordHash> hash_password(std::string_view password, std::uint8_t log2_n, std::uint8_t r, std::uint8_t p) {
    if (password.empty() || password.size() > k_max_password_size) {
        return Status::invalid_argument("a password is 1 to " + std::to_string(k_max_password_size) + " bytes");
    }
    if (const char* defect = check_password_params(k_kdf_scrypt, log2_n, r, p)) {
        return Status::invalid_argument(defect);
    }
    PasswordHash h;
    h.log2_n = log2_n;
    h.r = r;
    h.p = p;
    if (RAND_bytes(h.salt.data(), static_cast<int>(h.salt.size())) != 1) {
        return Status::io_error("cannot draw a random salt");
    }
    if (!derive(password, h, h.hash.data())) {
        return Status::io_error("scrypt failed (OpenSSL)");
    }
    return h;
}

bool verify_password(std::string_view password, const PasswordHash& stored) {
    if (password.size() > k_max_password_size ||
        check_password_params(stored.kdf, stored.log2_n, stored.r, stored.p) != nullptr) {
        return false;
    }
    std::array<std::uint8_t, k_password_hash_size> computed{};
    if (!derive(password, stored, computed.data())) {
        return false;
    }
    return CRYPTO_memcmp(computed.data(), stored.hash.data(), computed.size()) == 0;
}

std::string encode_password_text(const PasswordHash& h) {
    return "scrypt$" + std::to_string(h.log2_n) + "$" + std::to_string(h.r) + "$" + std::to_string(h.p) + "$" +
           bytes::hex_encode(h.salt.data(), h.salt.size()) + "$" + bytes::hex_encode(h.hash.data(), h.hash.size());
}

Result<PasswordHash> parse_password_text(std::string_view text) {
    std::string_view parts[6];
    std::size_t n = 0;
    std::size_t pos = 0;
    while (n < 6) {
        const std::size_t dollar = text.find('$', pos);
        parts[n++] = text.substr(pos, dollar == std::string_view::npos ? std::string_view::npos : dollar - pos);
        if (dollar == std::string_view::npos) {
            break;
        }
        pos = dollar + 1;
        if (n == 6) {
            return Status::invalid_argument("password hash: more than 6 fields");
        }
    }
    if (n != 6 || parts[0] != "scrypt") {
        return Status::invalid_argument("password hash: not scrypt$LOG2N$R$P$SALT$HASH");
    }
    PasswordHash h;
    if (!parse_small(parts[1], h.log2_n) || !parse_small(parts[2], h.r) || !parse_small(parts[3], h.p)) {
        return Status::invalid_argument("password hash: parameters are not small decimal numbers");
    }
    if (const char* defect = check_password_params(h.kdf, h.log2_n, h.r, h.p)) {
        return Status::invalid_argument(std::string("password hash: ") + defect);
    }
    if (!parse_hex(parts[4], h.salt.data(), h.salt.size())) {
        return Status::invalid_argument("password hash: the salt is not 32 lowercase hex digits");
    }
    if (!parse_hex(parts[5], h.hash.data(), h.hash.size())) {
        return Status::invalid_argument("password hash: the hash is not 64 lowercase hex digits");
    }
    return h;
}

void append_password_block(std::string& out, const PasswordHash& h) {
    out.push_back(static_cast<char>(h.kdf));
    out.push_back(static_cast<char>(h.log2_n));
    out.push_back(static_cast<char>(h.r));
    out.push_back(static_cast<char>(h.p));
    out.append(reinterpret_cast<const char*>(h.salt.data()), h.salt.size());
    out.append(reinterpret_cast<const char*>(h.hash.data()), h.hash.size());
}

const char* password_block_defect(const std::uint8_t* p) { return check_password_params(p[0], p[1], p[2], p[3]); }

PasswordHash read_password_block(const std::uint8_t* p) {
    PasswordHash h;
    h.kdf = p[0];
    h.log2_n = p[1];
    h.r = p[2];
    h.p = p[3];
    std::memcpy(h.salt.data(), p + 4, h.salt.size());
    std::memcpy(h.hash.data(), p + 4 + h.salt.size(), h.hash.size());
    return h;
}

}  // namespace shortlink::formats
