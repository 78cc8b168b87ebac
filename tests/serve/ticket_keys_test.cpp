#include <catch2/catch.hpp>

#include <array>
#include <memory>

#include <openssl/evp.h>

#include "serve/ticket_keys.h"

using namespace shortlink::serve;

namespace {

// The contexts OpenSSL hands the ticket callback, and a round trip through them.
struct Contexts {
    Contexts() : cipher(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free), hmac(EVP_MAC_fetch(nullptr, "HMAC", nullptr), EVP_MAC_free),
                 mac(EVP_MAC_CTX_new(hmac.get()), EVP_MAC_CTX_free) {}
    std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> cipher;
    std::unique_ptr<EVP_MAC, decltype(&EVP_MAC_free)> hmac;
    std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)> mac;
};

struct Ticket {
    std::array<unsigned char, 16> name{};
    std::array<unsigned char, EVP_MAX_IV_LENGTH> iv{};
    std::array<unsigned char, 64> sealed{};
    int sealed_size = 0;
    std::array<unsigned char, 32> tag{};
};

const unsigned char k_state[] = "session state of the ticket";

Ticket seal(const TicketKeys& keys) {
    Contexts c;
    Ticket t;
    REQUIRE(keys.seal(t.name.data(), t.iv.data(), c.cipher.get(), c.mac.get()) == 1);
    int n = 0;
    int tail = 0;
    REQUIRE(EVP_EncryptUpdate(c.cipher.get(), t.sealed.data(), &n, k_state, sizeof(k_state)) == 1);
    REQUIRE(EVP_EncryptFinal_ex(c.cipher.get(), t.sealed.data() + n, &tail) == 1);
    t.sealed_size = n + tail;
    std::size_t tag_size = 0;
    REQUIRE(EVP_MAC_init(c.mac.get(), nullptr, 0, nullptr) == 1);
    REQUIRE(EVP_MAC_update(c.mac.get(), t.sealed.data(), static_cast<std::size_t>(t.sealed_size)) == 1);
    REQUIRE(EVP_MAC_final(c.mac.get(), t.tag.data(), &tag_size, t.tag.size()) == 1);
    return t;
}

// The callback's answer for `t`, and whether the keys it chose decrypt and authenticate it.
int open(const TicketKeys& keys, const Ticket& t, bool& intact) {
    Contexts c;
    const int result = keys.open(t.name.data(), t.iv.data(), c.cipher.get(), c.mac.get());
    intact = false;
    if (result < 1) {
        return result;
    }
    std::array<unsigned char, 32> tag{};
    std::size_t tag_size = 0;
    REQUIRE(EVP_MAC_init(c.mac.get(), nullptr, 0, nullptr) == 1);
    REQUIRE(EVP_MAC_update(c.mac.get(), t.sealed.data(), static_cast<std::size_t>(t.sealed_size)) == 1);
    REQUIRE(EVP_MAC_final(c.mac.get(), tag.data(), &tag_size, tag.size()) == 1);
    std::array<unsigned char, 64> plain{};
    int n = 0;
    int tail = 0;
    const bool decrypted = EVP_DecryptUpdate(c.cipher.get(), plain.data(), &n, t.sealed.data(), t.sealed_size) == 1 &&
                           EVP_DecryptFinal_ex(c.cipher.get(), plain.data() + n, &tail) == 1;
    intact = tag == t.tag && decrypted && n + tail == static_cast<int>(sizeof(k_state)) &&
             std::equal(plain.begin(), plain.begin() + n + tail, k_state);
    return result;
}

}  // namespace

TEST_CASE("TicketSealedWithTheCurrentKeyOpens", "[tickets]") {
    auto keys = TicketKeys::make();
    REQUIRE(keys);
    const Ticket t = seal(**keys);
    bool intact = false;
    CHECK(open(**keys, t, intact) == 1);
    CHECK(intact);
}

TEST_CASE("TicketSurvivesOneRotationNotTwo", "[tickets]") {
    auto made = TicketKeys::make();
    REQUIRE(made);
    TicketKeys& keys = **made;
    const Ticket t = seal(keys);
    REQUIRE(keys.rotate());
    CHECK(keys.rotations() == 1);
    bool intact = false;
    CHECK(open(keys, t, intact) == 2);  // the previous key: resume, and renew the ticket
    CHECK(intact);
    const Ticket renewed = seal(keys);
    CHECK(renewed.name != t.name);
    REQUIRE(keys.rotate());
    CHECK(open(keys, t, intact) == 0);  // its key is gone: a full handshake
    CHECK_FALSE(intact);
    CHECK(open(keys, renewed, intact) == 2);
    CHECK(intact);
}

TEST_CASE("TicketOfAnotherProcessIsUnknown", "[tickets]") {
    auto a = TicketKeys::make();
    auto b = TicketKeys::make();
    REQUIRE(a);
    REQUIRE(b);
    const Ticket t = seal(**a);
    bool intact = true;
    CHECK(open(**b, t, intact) == 0);
    Ticket forged = t;
    forged.name[0] ^= 1;
    CHECK(open(**a, forged, intact) == 0);
}

TEST_CASE("TicketWithAFlippedByteFailsItsMac", "[tickets]") {
    auto keys = TicketKeys::make();
    REQUIRE(keys);
    Ticket t = seal(**keys);
    t.sealed[3] ^= 0x40;
    bool intact = true;
    CHECK(open(**keys, t, intact) == 1);
    CHECK_FALSE(intact);
}
