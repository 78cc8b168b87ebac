// Password hashes (formats/password.h) and the password block of a rule list (SPEC.md "Section
// 5: rules"): the KDF verifies what it hashed and nothing else, the text form round-trips and
// refuses what it would not write, and hostile blocks and flags are refused precisely.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "compiler/snapshot_builder.h"
#include "formats/password.h"
#include "formats/rules.h"
#include "formats/snapshot.h"
#include "tests/formats/snapshot_fixture.h"

using namespace shortlink;

namespace {

// The cheapest cost a reader accepts keeps the tests fast; the KDF is the same.
formats::PasswordHash cheap_hash(const std::string& password) {
    auto h = formats::hash_password(password, formats::k_scrypt_min_log2_n, 1, 1);
    REQUIRE(h);
    return *h;
}

bool contains(const Status& s, const std::string& what) {
    INFO(s.message());
    return s.message().find(what) != std::string::npos;
}

Status check_list(const std::string& list) {
    const std::string section = formats::encode_rules_section({list});
    std::uint64_t count = 0;
    return formats::check_rules_section(reinterpret_cast<const std::uint8_t*>(section.data()), section.size(),
                                        "section 5 (rules)", count);
}

}  // namespace

TEST_CASE("PasswordVerifiesWhatWasHashedAndNothingElse", "[password]") {
    const formats::PasswordHash h = cheap_hash("correct horse");
    CHECK(formats::verify_password("correct horse", h));
    CHECK_FALSE(formats::verify_password("correct hors", h));
    CHECK_FALSE(formats::verify_password("correct horse ", h));
    CHECK_FALSE(formats::verify_password("", h));
    CHECK_FALSE(formats::verify_password(std::string(formats::k_max_password_size + 1, 'a'), h));
    // A fresh salt each time: the same password never hashes to the same bytes.
    const formats::PasswordHash again = cheap_hash("correct horse");
    CHECK(again.salt != h.salt);
    CHECK(again.hash != h.hash);
    // Out-of-range parameters verify nothing, even the right password.
    formats::PasswordHash hostile = h;
    hostile.log2_n = 40;
    CHECK_FALSE(formats::verify_password("correct horse", hostile));
    hostile = h;
    hostile.hash[0] ^= 1;
    CHECK_FALSE(formats::verify_password("correct horse", hostile));
    CHECK_FALSE(formats::hash_password(""));
    CHECK_FALSE(formats::hash_password(std::string(formats::k_max_password_size + 1, 'a')));
    CHECK(formats::hash_password(std::string(formats::k_max_password_size, 'a'), 10, 1, 1));
}

TEST_CASE("DefaultCostIsInRange", "[password]") {
    CHECK(formats::check_password_params(formats::k_kdf_scrypt, formats::k_scrypt_log2_n, formats::k_scrypt_r,
                                         formats::k_scrypt_p) == nullptr);
}

TEST_CASE("PasswordTextRoundTripsAndRefusesWhatItWouldNotWrite", "[password]") {
    const formats::PasswordHash h = cheap_hash("pw");
    const std::string text = formats::encode_password_text(h);
    CHECK(text.rfind("scrypt$10$1$1$", 0) == 0);
    auto back = formats::parse_password_text(text);
    REQUIRE(back);
    CHECK(back->salt == h.salt);
    CHECK(back->hash == h.hash);
    CHECK(formats::verify_password("pw", *back));
    const std::string salt = text.substr(14, 32);
    const std::string hash = text.substr(47);
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"", "not scrypt$"},
        {"argon2$10$1$1$" + salt + "$" + hash, "not scrypt$"},
        {"scrypt$10$1$1$" + salt, "not scrypt$"},
        {"scrypt$10$1$1$" + salt + "$" + hash + "$", "more than 6 fields"},
        {"scrypt$9$1$1$" + salt + "$" + hash, "log2 N outside 10..20"},
        {"scrypt$21$1$1$" + salt + "$" + hash, "log2 N outside 10..20"},
        {"scrypt$010$1$1$" + salt + "$" + hash, "small decimal"},
        {"scrypt$10$0$1$" + salt + "$" + hash, "r outside 1..32"},
        {"scrypt$10$1$17$" + salt + "$" + hash, "p outside 1..16"},
        {"scrypt$20$32$1$" + salt + "$" + hash, "more than 256 MiB"},
        {"scrypt$-1$1$1$" + salt + "$" + hash, "small decimal"},
        {"scrypt$10$1$1$" + salt.substr(2) + "$" + hash, "salt"},
        {"scrypt$10$1$1$" + std::string(32, 'G') + "$" + hash, "salt"},
        {"scrypt$10$1$1$" + salt + "$" + hash + "00", "the hash"},
        {"scrypt$10$1$1$" + salt + "$" + std::string(64, 'A'), "the hash"},
    };
    for (const auto& [input, message] : bad) {
        INFO(input);
        auto parsed = formats::parse_password_text(input);
        REQUIRE_FALSE(parsed);
        CHECK(contains(parsed.status(), message));
    }
}

TEST_CASE("RuleListCarriesAPasswordWithOrWithoutRules", "[password][rules]") {
    const formats::PasswordHash h = cheap_hash("pw");
    auto alone = formats::encode_rule_list({}, &h);
    REQUIRE(alone);
    CHECK(alone->size() == formats::k_rule_list_header + formats::k_password_block_size);
    CHECK(check_list(*alone));
    const formats::RuleListView view(reinterpret_cast<const std::uint8_t*>(alone->data()));
    CHECK(view.rule_count() == 0);
    CHECK(view.flags() == formats::k_rule_list_password);
    REQUIRE(view.password() != nullptr);
    CHECK(formats::verify_password("pw", formats::read_password_block(view.password())));
    CHECK(view.bytes() == *alone);

    formats::RuleInput rule;
    rule.destination = "https://e.example/fr";
    formats::RuleConditionInput lang;
    lang.kind = formats::RuleKind::lang;
    lang.values = {"fr"};
    rule.conditions = {lang};
    auto with_rules = formats::encode_rule_list({rule}, &h);
    REQUIRE(with_rules);
    CHECK(check_list(*with_rules));
    const formats::RuleListView both(reinterpret_cast<const std::uint8_t*>(with_rules->data()));
    CHECK(both.rule_count() == 1);
    REQUIRE(both.password() != nullptr);
    CHECK(formats::read_password_block(both.password()).hash == h.hash);
    CHECK(both.bytes() == *with_rules);
    auto plain = formats::encode_rule_list({rule});
    REQUIRE(plain);
    CHECK(formats::RuleListView(reinterpret_cast<const std::uint8_t*>(plain->data())).password() == nullptr);
    CHECK_FALSE(formats::encode_rule_list({}));
}

TEST_CASE("HostilePasswordBlocksAndFlagsAreRefused", "[password][rules]") {
    const formats::PasswordHash h = cheap_hash("pw");
    auto good = formats::encode_rule_list({}, &h);
    REQUIRE(good);
    auto damaged = [&](std::size_t offset, std::uint8_t value) {
        std::string list = *good;
        list[offset] = static_cast<char>(value);
        return check_list(list);
    };
    const std::size_t block = formats::k_rule_list_header;
    CHECK(contains(damaged(1, 0), "rule count must be 1 to 32"));        // no flag, no rule
    CHECK(contains(damaged(1, 0x80), "unknown list flags 128"));
    CHECK(contains(damaged(1, 0x07), "unknown list flags 7"));
    // Bit 1 (an expired URL) after the block: its length would be read past the list.
    CHECK(contains(damaged(1, 0x03), "expired URL"));
    CHECK(contains(damaged(block, 2), "password block: unknown password KDF"));
    CHECK(contains(damaged(block + 1, 9), "log2 N outside 10..20"));
    CHECK(contains(damaged(block + 1, 255), "log2 N outside 10..20"));
    CHECK(contains(damaged(block + 2, 0), "r outside 1..32"));
    CHECK(contains(damaged(block + 3, 200), "p outside 1..16"));
    std::string huge = *good;
    huge[block + 1] = 20;
    huge[block + 2] = 32;
    CHECK(contains(check_list(huge), "more than 256 MiB"));
    CHECK(contains(check_list(good->substr(0, good->size() - 1)), "truncated password block"));
    CHECK(contains(check_list(*good + "x"), "bytes after the last list"));
    // Every byte flip is refused or leaves a list that reads back in bounds.
    for (std::size_t off = 0; off < good->size(); ++off) {
        std::string list = *good;
        list[off] = static_cast<char>(list[off] ^ 0x81);
        if (check_list(list)) {
            const formats::RuleListView v(reinterpret_cast<const std::uint8_t*>(list.data()));
            CHECK(v.bytes().size() == list.size());
        }
    }
}

TEST_CASE("SnapshotLinkWithPasswordAndNoRules", "[password][rules]") {
    auto key = test::test_key();
    test::TempDir dir;
    const formats::PasswordHash h = cheap_hash("pw");
    auto list = formats::encode_rule_list({}, &h);
    REQUIRE(list);
    compiler::SnapshotBuilder builder;
    auto d = builder.add_domain({.host = "*", .is_default = true});
    REQUIRE(d);
    REQUIRE(builder.add_link({.domain = *d, .code = "secret", .destination = "https://e.example/s", .rules = *list}));
    REQUIRE(builder.add_link({.domain = *d, .code = "open", .destination = "https://e.example/o"}));
    auto compiled = std::move(builder).build();
    REQUIRE(compiled);
    const std::string path = dir.path + "/s";
    REQUIRE(compiled->write_file(path, {.serial = 3, .created_at = 1000}, key));
    auto snap = formats::Snapshot::open(path, {key.trusted()});
    REQUIRE(snap);
    auto secret = (*snap)->lookup(0, "secret");
    REQUIRE(secret);
    REQUIRE(secret->rules.password() != nullptr);
    CHECK(secret->rules.rule_count() == 0);
    CHECK(formats::verify_password("pw", formats::read_password_block(secret->rules.password())));
    auto plain = (*snap)->lookup(0, "open");
    REQUIRE(plain);
    CHECK(plain->rules.password() == nullptr);
}
