// Secret and public key files: round trip, encryption, and the clear errors for wrong
// passphrase, truncated file and a public key where a secret key is needed.
#include "formats/keys.h"

#include <sys/stat.h>

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
