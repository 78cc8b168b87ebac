// Signed cookies (serve/cookies.h): a password cookie is good for its link, until its time,
// under its key and while the link keeps the password it was earned with; a split cookie names
// a share for one link. Tampered, expired, foreign and malformed values are refused; key files
// that others may read, or that are short, are refused with the reason.
#include <sys/stat.h>

#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "formats/password.h"
#include "serve/cookies.h"
#include "tests/formats/snapshot_fixture.h"

using namespace shortlink;
using serve::CookieKey;

namespace {

std::string block_of(const std::string& password) {
    auto h = formats::hash_password(password, formats::k_scrypt_min_log2_n, 1, 1);
    REQUIRE(h);
    std::string out;
    formats::append_password_block(out, *h);
    return out;
}

const std::uint8_t* bytes(const std::string& s) { return reinterpret_cast<const std::uint8_t*>(s.data()); }

std::string write_key(const std::string& path, std::size_t size, mode_t mode) {
    std::ofstream(path, std::ios::binary) << std::string(size, 'k');
    ::chmod(path.c_str(), mode);
    return path;
}

}  // namespace

TEST_CASE("PasswordCookieIsGoodForItsLinkTimeKeyAndPassword", "[cookies]") {
    const CookieKey key = CookieKey::generate();
    const std::string block = block_of("pw");
    const std::string value = serve::password_cookie_value(key, "go.example", "doc", bytes(block), 2000);
    const std::string header = "theme=dark; sl_pw=" + value + "; other=1";
    CHECK(serve::has_password_cookie(key, header, "go.example", "doc", bytes(block), 1999));
    CHECK_FALSE(serve::has_password_cookie(key, header, "go.example", "doc", bytes(block), 2000));  // expired
    CHECK_FALSE(serve::has_password_cookie(key, header, "go.example", "other", bytes(block), 1000));  // other link
    CHECK_FALSE(serve::has_password_cookie(key, header, "*", "doc", bytes(block), 1000));           // other domain
    CHECK_FALSE(serve::has_password_cookie(CookieKey::generate(), header, "go.example", "doc", bytes(block), 1000));
    // A new password (a new salt even for the same words) invalidates the cookie.
    CHECK_FALSE(serve::has_password_cookie(key, header, "go.example", "doc", bytes(block_of("pw")), 1000));
    // Tampered: the expiry pushed later, a flipped MAC digit, truncated, empty, junk.
    std::string later = value;
    later[0] = '9';
    CHECK_FALSE(serve::has_password_cookie(key, "sl_pw=" + later, "go.example", "doc", bytes(block), 1000));
    std::string flipped = value;
    flipped.back() = flipped.back() == '0' ? '1' : '0';
    CHECK_FALSE(serve::has_password_cookie(key, "sl_pw=" + flipped, "go.example", "doc", bytes(block), 1000));
    for (const std::string& bad : {std::string("sl_pw=") + value.substr(0, value.size() - 1), std::string("sl_pw="),
                                  std::string("sl_pw=.") + value.substr(value.find('.') + 1),
                                  std::string("sl_pw=-5.") + value.substr(value.find('.') + 1),
                                  std::string("sl_pw"), std::string(";;;"), std::string("sl_pwx=") + value}) {
        INFO(bad);
        CHECK_FALSE(serve::has_password_cookie(key, bad, "go.example", "doc", bytes(block), 1000));
    }
    // A bad cookie first does not hide a good one after it.
    CHECK(serve::has_password_cookie(key, "sl_pw=" + flipped + "; sl_pw=" + value, "go.example", "doc",
                                     bytes(block), 1000));
}

TEST_CASE("SplitCookieNamesAShareForOneLink", "[cookies]") {
    const CookieKey key = CookieKey::generate();
    const std::string value = serve::split_cookie_value(key, "*", "promo", 42);
    CHECK(serve::split_cookie_share(key, "sl_split=" + value, "*", "promo") == std::optional<std::uint8_t>(42));
    CHECK_FALSE(serve::split_cookie_share(key, "sl_split=" + value, "*", "other"));
    CHECK_FALSE(serve::split_cookie_share(CookieKey::generate(), "sl_split=" + value, "*", "promo"));
    std::string changed = value;
    changed[0] = '7';  // "72.<mac of 42>"
    CHECK_FALSE(serve::split_cookie_share(key, "sl_split=" + changed, "*", "promo"));
    // A share above 99 is refused even when signed (it never is).
    CHECK_FALSE(serve::split_cookie_share(key, "sl_split=" + serve::split_cookie_value(key, "*", "promo", 100), "*",
                                          "promo"));
}

TEST_CASE("SetCookieHeaderIsHttpOnlyLaxAndScopedToTheLink", "[cookies]") {
    CHECK(serve::set_cookie_header("sl_pw", "1.ab", "doc", 60, false) ==
          "sl_pw=1.ab; Path=/doc; Max-Age=60; HttpOnly; SameSite=Lax");
    CHECK(serve::set_cookie_header("sl_pw", "1.ab", "doc", 60, true) ==
          "sl_pw=1.ab; Path=/doc; Max-Age=60; HttpOnly; SameSite=Lax; Secure");
}

TEST_CASE("CookieKeyFilesAreRefusedWhenOthersCanReadThemOrTheyAreShort", "[cookies]") {
    test::TempDir dir;
    CHECK(CookieKey::load(write_key(dir.path + "/good", 32, 0600)));
    CHECK(CookieKey::load(write_key(dir.path + "/owner-read", 64, 0400)));
    auto world = CookieKey::load(write_key(dir.path + "/world", 32, 0644));
    REQUIRE_FALSE(world);
    CHECK_THAT(world.status().message(), Catch::Contains("mode 644") && Catch::Contains("chmod 600"));
    auto group = CookieKey::load(write_key(dir.path + "/group", 32, 0640));
    CHECK_FALSE(group);
    auto shortk = CookieKey::load(write_key(dir.path + "/short", 31, 0600));
    REQUIRE_FALSE(shortk);
    CHECK_THAT(shortk.status().message(), Catch::Contains("31 bytes"));
    auto missing = CookieKey::load(dir.path + "/missing");
    REQUIRE_FALSE(missing);
    CHECK(missing.status().code() == Status::Code::not_found);
    auto directory = CookieKey::load(dir.path);
    CHECK_FALSE(directory);
    // The state directory's key is created once and read back the same.
    auto first = CookieKey::load_or_create(dir.path);
    REQUIRE(first);
    auto second = CookieKey::load_or_create(dir.path);
    REQUIRE(second);
    CHECK(first->bytes() == second->bytes());
    struct stat st {};
    REQUIRE(::stat((dir.path + "/cookie.key").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
}
