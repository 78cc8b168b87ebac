// The key file fuzz target: secret keys (PKCS#8 PEM, encrypted or not) through
// SigningKey::load() and public keys through parse_public_key(). A key that loads must sign
// what its public half verifies.
#include <openssl/evp.h>

#include <optional>
#include <string>
#include <string_view>

#include "formats/keys.h"
#include "tests/formats/snapshot_fixture.h"
#include "tests/fuzz/fuzz_checks.h"
#include "tests/fuzz/fuzz_targets.h"

namespace shortlink::fuzz {

namespace {

// The passphrase the encrypted seeds were written with (tests/fuzz/make_corpus.py).
constexpr std::string_view k_passphrase = "fuzz passphrase";

// `der` as a PEM block with `label`, 64 base64 characters a line, after a comment line as
// keygen writes one.
std::string pem(std::string_view label, std::string_view der) {
    std::string b64(4 * ((der.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()),
                                  reinterpret_cast<const unsigned char*>(der.data()), static_cast<int>(der.size()));
    b64.resize(static_cast<std::size_t>(n));
    std::string out = "shortlink key\n-----BEGIN " + std::string(label) + "-----\n";
    for (std::size_t i = 0; i < b64.size(); i += 64) {
        out += b64.substr(i, 64) + "\n";
    }
    return out + "-----END " + std::string(label) + "-----\n";
}

void check_signs(const formats::SigningKey& key) {
    static constexpr std::string_view k_message = "shortlink fuzz";
    auto signature = key.sign(reinterpret_cast<const std::uint8_t*>(k_message.data()), k_message.size());
    if (!signature || !formats::verify_signature(key.trusted(), reinterpret_cast<const std::uint8_t*>(k_message.data()),
                                                 k_message.size(), *signature)) {
        fail("a loaded key whose signature does not verify", key.key_id());
    }
    if (key.key_id() != formats::key_id_for(key.public_key())) {
        fail("a loaded key with another key id", key.key_id());
    }
}

}  // namespace

int fuzz_keys_one(const std::uint8_t* data, std::size_t size) {
    static const test::TempDir dir;
    static const std::string path = dir.path + "/k.key";
    if (size == 0) {
        return 0;
    }
    const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    std::string text;
    switch (data[0] & 3) {
    case 0: text = rest; break;
    case 1: text = pem("PRIVATE KEY", rest); break;
    case 2: text = pem("ENCRYPTED PRIVATE KEY", rest); break;
    default: text = pem("PUBLIC KEY", rest); break;
    }
    const std::optional<std::string> passphrase =
        (data[0] & 4) != 0 ? std::optional<std::string>(k_passphrase) : std::nullopt;
    int accepted = 0;
    if (auto trusted = formats::parse_public_key(text, "fuzz")) {
        if (trusted->key_id != formats::key_id_for(trusted->public_key)) {
            fail("a public key with another key id", trusted->key_id);
        }
        accepted = 1;
    }
    test::write_file(path, text);
    auto encrypted = formats::SigningKey::is_encrypted(path);
    if (!encrypted) {
        fail("is_encrypted cannot read the file", encrypted.status().message());
    }
    auto key = formats::SigningKey::load(path, passphrase);
    if (key) {
        check_signs(*key);
        if (*encrypted && !passphrase) {
            fail("an encrypted key loaded without its passphrase", text);
        }
        accepted = 1;
    } else if (key.status().message().empty()) {
        fail("a key refused without a message", text);
    }
    return accepted;
}

}  // namespace shortlink::fuzz
