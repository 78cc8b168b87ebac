// Secret and public key files: round trip, encryption, and the clear errors for wrong
// passphrase, truncated file and a public key where a secret key is needed.
#include "formats/keys.h"

#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include <algorithm>
#include <chrono>

#include <catch2/catch.hpp>

#include "tests/formats/snapshot_fixture.h"

using namespace shortlink;
using formats::SigningKey;

TEST_CASE("KeyRoundTripPlain", "[keys]") {
    test::TempDir dir;
    auto key = test::test_key();
    REQUIRE(key.key_id().size() == 16);
    REQUIRE(key.write_secret(dir.path + "/k", std::nullopt, false));
    REQUIRE(key.write_public(dir.path + "/k.pub", false));
    struct stat st {};
    REQUIRE(::stat((dir.path + "/k").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    auto loaded = SigningKey::load(dir.path + "/k", std::nullopt);
    REQUIRE(loaded);
    CHECK(loaded->key_id() == key.key_id());
    auto pub = formats::load_public_key(dir.path + "/k.pub");
    REQUIRE(pub);
    CHECK(pub->key_id == key.key_id());
    CHECK(pub->public_key == key.public_key());
    CHECK_FALSE(*SigningKey::is_encrypted(dir.path + "/k"));
}

TEST_CASE("RefusesToOverwriteWithoutForce", "[keys]") {
    test::TempDir dir;
    auto key = test::test_key();
    REQUIRE(key.write_secret(dir.path + "/k", std::nullopt, false));
    auto st = key.write_secret(dir.path + "/k", std::nullopt, false);
    CHECK(st.code() == Status::Code::conflict);
    CHECK(key.write_secret(dir.path + "/k", std::nullopt, true));
}

TEST_CASE("EncryptedKeyAndWrongPassphrase", "[keys]") {
    test::TempDir dir;
    auto key = test::test_key();
    REQUIRE(key.write_secret(dir.path + "/k", std::string("correct horse"), false));
    CHECK(*SigningKey::is_encrypted(dir.path + "/k"));
    auto ok = SigningKey::load(dir.path + "/k", std::string("correct horse"));
    REQUIRE(ok);
    CHECK(ok->key_id() == key.key_id());
    auto wrong = SigningKey::load(dir.path + "/k", std::string("battery staple"));
    REQUIRE_FALSE(wrong);
    CHECK(wrong.status().code() == Status::Code::permission_denied);
    CHECK(wrong.status().message().find("wrong passphrase") != std::string::npos);
    auto none = SigningKey::load(dir.path + "/k", std::nullopt);
    REQUIRE_FALSE(none);
    CHECK(none.status().code() == Status::Code::permission_denied);
    CHECK(none.status().message() ==
          dir.path + "/k is encrypted: give its passphrase (SHORTLINK_KEY_PASSPHRASE or a terminal)");
}

TEST_CASE("TruncatedKeyFile", "[keys]") {
    test::TempDir dir;
    auto key = test::test_key();
    REQUIRE(key.write_secret(dir.path + "/k", std::nullopt, false));
    const std::string full = test::read_file(dir.path + "/k");
    const std::string t = dir.path + "/t";
    const std::pair<std::size_t, std::string> cases[] = {
        {0, t + ": empty key file"},
        {10, t + ": not a shortlink key file (no PEM key block)"},  // the comment line only
        {full.size() / 2, t + ": truncated key file (no END line)"},
        {full.size() - 30, t + ": truncated key file (no END line)"},
    };
    for (const auto& [len, message] : cases) {
        test::write_file(t, full.substr(0, len));
        auto r = SigningKey::load(t, std::nullopt);
        INFO("length " << len);
        REQUIRE_FALSE(r);
        CHECK(r.status().code() == Status::Code::corruption);
        CHECK(r.status().message() == message);
    }
}

TEST_CASE("PublicKeyWhereSecretNeeded", "[keys]") {
    test::TempDir dir;
    auto key = test::test_key();
    REQUIRE(key.write_public(dir.path + "/k.pub", false));
    REQUIRE(key.write_secret(dir.path + "/k", std::nullopt, false));
    auto r = SigningKey::load(dir.path + "/k.pub", std::nullopt);
    REQUIRE_FALSE(r);
    CHECK(r.status().code() == Status::Code::invalid_argument);
    CHECK(r.status().message().find("is a public key") != std::string::npos);
    auto p = formats::load_public_key(dir.path + "/k");
    REQUIRE_FALSE(p);
    CHECK(p.status().message().find("is a secret key") != std::string::npos);
    CHECK(SigningKey::load(dir.path + "/missing", std::nullopt).status().code() ==
          Status::Code::not_found);
}

TEST_CASE("SignAndVerify", "[keys]") {
    auto key = test::test_key();
    const std::string msg = "hello";
    auto sig = key.sign(reinterpret_cast<const std::uint8_t*>(msg.data()), msg.size());
    REQUIRE(sig);
    CHECK(formats::verify_signature(key.trusted(), reinterpret_cast<const std::uint8_t*>(msg.data()),
                                    msg.size(), *sig));
    auto bad = *sig;
    bad[0] ^= 1;
    CHECK_FALSE(formats::verify_signature(key.trusted(),
                                          reinterpret_cast<const std::uint8_t*>(msg.data()),
                                          msg.size(), bad));
}

namespace {

// The DER of the PEM block in `pem` with the first `from` replaced by `to` (same length), as a
// PEM block again: a key file whose encryption parameters were edited.
std::string edit_der(const std::string& pem, const std::string& label, const std::string& from, const std::string& to) {
    const std::string begin = "-----BEGIN " + label + "-----\n";
    const std::size_t start = pem.find(begin) + begin.size();
    std::string b64;
    for (char c : pem.substr(start, pem.find("-----END") - start)) {
        if (c != '\n') {
            b64.push_back(c);
        }
    }
    std::string der(b64.size(), '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(der.data()),
                            reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()));
    REQUIRE(n > 0);
    der.resize(static_cast<std::size_t>(n) - static_cast<std::size_t>(std::count(b64.end() - 2, b64.end(), '=')));
    const std::size_t at = der.find(from);
    REQUIRE(at != std::string::npos);
    der.replace(at, from.size(), to);
    std::string out(4 * ((der.size() + 2) / 3) + 1, '\0');
    n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                        reinterpret_cast<const unsigned char*>(der.data()), static_cast<int>(der.size()));
    out.resize(static_cast<std::size_t>(n));
    std::string text = begin;
    for (std::size_t i = 0; i < out.size(); i += 64) {
        text += out.substr(i, 64) + "\n";
    }
    return text + "-----END " + label + "-----\n";
}

// A key encrypted with PBKDF2 (2^16 iterations), as `openssl pkcs8 -topk8 -v2 aes-256-cbc` writes it.
std::string pbkdf2_key(const SigningKey& key, const std::string& dir, const std::string& passphrase) {
    REQUIRE(key.write_secret(dir + "/plain", std::nullopt, false));
    const std::string plain = test::read_file(dir + "/plain");
    BIO* in = BIO_new_mem_buf(plain.data(), static_cast<int>(plain.size()));
    EVP_PKEY* pkey = PEM_read_bio_PrivateKey(in, nullptr, nullptr, const_cast<char*>(""));
    BIO_free(in);
    REQUIRE(pkey != nullptr);
    X509_ALGOR* pbe = PKCS5_pbe2_set_iv(EVP_aes_256_cbc(), 1 << 16, nullptr, 0, nullptr, NID_hmacWithSHA256);
    PKCS8_PRIV_KEY_INFO* p8 = EVP_PKEY2PKCS8(pkey);
    X509_SIG* sealed = PKCS8_set0_pbe(passphrase.data(), static_cast<int>(passphrase.size()), p8, pbe);
    REQUIRE(sealed != nullptr);
    BIO* out = BIO_new(BIO_s_mem());
    REQUIRE(PEM_write_bio_PKCS8(out, sealed) == 1);
    char* data = nullptr;
    const long len = BIO_get_mem_data(out, &data);
    std::string text(data, static_cast<std::size_t>(len));
    BIO_free(out);
    X509_SIG_free(sealed);
    PKCS8_PRIV_KEY_INFO_free(p8);
    EVP_PKEY_free(pkey);
    return text;
}

}  // namespace

TEST_CASE("EncryptionCostOverTheLimitIsRefusedUnread", "[keys]") {
    test::TempDir dir;
    auto key = test::test_key();
    const std::string k = dir.path + "/k";
    const std::string label = "ENCRYPTED PRIVATE KEY";
    const auto load = [&](const std::string& text) {
        test::write_file(k, text);
        const auto start = std::chrono::steady_clock::now();
        auto r = SigningKey::load(k, std::string("pw"));
        CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
        return r;
    };
    // PBKDF2: 2^16 iterations load; 2^23 - 1 are refused before any is run.
    const std::string pbkdf2 = pbkdf2_key(key, dir.path, "pw");
    REQUIRE(load(pbkdf2));
    auto refused = load(edit_der(pbkdf2, label, std::string("\x02\x03\x01\x00\x00", 5), "\x02\x03\x7f\xff\xff"));
    REQUIRE_FALSE(refused);
    CHECK(refused.status().code() == Status::Code::unsupported);
    CHECK(refused.status().message() == k + ": its PBKDF2 iteration count is over the limit of 1000000");
    // scrypt as keygen writes it (N = 2^14, r = 8, p = 1), then with p = 127.
    REQUIRE(key.write_secret(k, std::string("pw"), true));
    const std::string scrypt = test::read_file(k);
    REQUIRE(load(scrypt));
    const std::string params("\x02\x02\x40\x00\x02\x01\x08\x02\x01\x01", 10);
    refused = load(edit_der(scrypt, label, params, std::string("\x02\x02\x40\x00\x02\x01\x08\x02\x01\x7f", 10)));
    REQUIRE_FALSE(refused);
    CHECK(refused.status().code() == Status::Code::unsupported);
    CHECK(refused.status().message() == k + ": its scrypt cost (N * r * p) is over the limit of 1048576");
    // r = 127 costs as much.
    refused = load(edit_der(scrypt, label, params, std::string("\x02\x02\x40\x00\x02\x01\x7f\x02\x01\x01", 10)));
    CHECK(refused.status().code() == Status::Code::unsupported);
}
