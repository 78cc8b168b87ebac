#include "serve/ticket_keys.h"

#include <cstring>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/rand.h>

namespace shortlink::serve {

namespace {

Status draw(TicketKeys::Key& key) {
    if (RAND_bytes(key.name.data(), static_cast<int>(key.name.size())) != 1 ||
        RAND_bytes(key.aes.data(), static_cast<int>(key.aes.size())) != 1 ||
        RAND_bytes(key.hmac.data(), static_cast<int>(key.hmac.size())) != 1) {
        ERR_clear_error();
        return Status::io_error("cannot draw a session ticket key: the random generator failed");
    }
    return Status::ok();
}

// Keys the ticket's cipher and MAC; `iv` is the ticket's.
bool init(const TicketKeys::Key& key, const unsigned char* iv, EVP_CIPHER_CTX* cipher,
          EVP_MAC_CTX* mac, bool seal) {
    const int ok = seal ? EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes.data(), iv)
                        : EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes.data(), iv);
    if (ok != 1) {
        return false;
    }
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(key.hmac.data()),
                                          key.hmac.size()),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    return EVP_MAC_CTX_set_params(mac, params) == 1;
}

}  // namespace

TicketKeys::Pair::~Pair() {
    OPENSSL_cleanse(&current, sizeof(current));
    OPENSSL_cleanse(&previous, sizeof(previous));
}

Result<std::shared_ptr<TicketKeys>> TicketKeys::make() {
    std::shared_ptr<TicketKeys> keys(new TicketKeys());
    auto pair = std::make_shared<Pair>();
    if (Status s = draw(pair->current); !s) {
        return s;
    }
    keys->m_keys.store(std::move(pair), std::memory_order_release);
    return keys;
}

Status TicketKeys::rotate() {
    const std::shared_ptr<const Pair> old = m_keys.load(std::memory_order_acquire);
    auto pair = std::make_shared<Pair>();
    if (Status s = draw(pair->current); !s) {
        return s;  // the keys in force stay
    }
    pair->previous = old->current;
    pair->has_previous = true;
    m_keys.store(std::move(pair), std::memory_order_release);
    m_rotations.fetch_add(1, std::memory_order_relaxed);
    return Status::ok();
}

int TicketKeys::seal(unsigned char key_name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher,
                     EVP_MAC_CTX* mac) const {
    const std::shared_ptr<const Pair> keys = m_keys.load(std::memory_order_acquire);
    const int iv_length = EVP_CIPHER_get_iv_length(EVP_aes_256_cbc());
    if (RAND_bytes(iv, iv_length) != 1) {
        ERR_clear_error();
        return -1;
    }
    std::memcpy(key_name, keys->current.name.data(), keys->current.name.size());
    return init(keys->current, iv, cipher, mac, true) ? 1 : -1;
}

int TicketKeys::open(const unsigned char key_name[16], const unsigned char* iv, EVP_CIPHER_CTX* cipher,
                     EVP_MAC_CTX* mac) const {
    const std::shared_ptr<const Pair> keys = m_keys.load(std::memory_order_acquire);
    const auto named = [key_name](const Key& key) {
        return CRYPTO_memcmp(key_name, key.name.data(), key.name.size()) == 0;
    };
    if (named(keys->current)) {
        return init(keys->current, iv, cipher, mac, false) ? 1 : -1;
    }
    if (keys->has_previous && named(keys->previous)) {
        return init(keys->previous, iv, cipher, mac, false) ? 2 : -1;
    }
    return 0;
}

}  // namespace shortlink::serve
