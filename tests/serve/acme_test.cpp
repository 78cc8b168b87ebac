#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include "serve/acme.h"

using namespace shortlink::serve;

namespace {

// A temporary webroot with a sibling directory holding a secret the challenges must not reach.
struct Webroot {
    Webroot() {
        char pattern[] = "/tmp/acme_test.XXXXXX";
        base = ::mkdtemp(pattern);
        root = base + "/webroot";
        std::filesystem::create_directory(root);
        write(base + "/secret", "private key\n");
    }
    ~Webroot() { std::filesystem::remove_all(base); }
    static void write(const std::string& path, const std::string& text) {
        std::ofstream(path, std::ios::binary) << text;
    }
    std::string base;
    std::string root;
};

std::string challenge(std::string_view token) { return std::string(k_acme_challenge_prefix) + std::string(token); }

}  // namespace

TEST_CASE("AcmeTokenIsBase64urlOnly", "[acme]") {
    CHECK(is_acme_token("LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"));
    CHECK(is_acme_token("a-b_C9"));
    CHECK(is_acme_token(std::string(k_max_acme_token_bytes, 'a')));
    CHECK_FALSE(is_acme_token(std::string(k_max_acme_token_bytes + 1, 'a')));
    const std::vector<std::string> refused = {"",    ".",   "..",  "a.b", "a/b", "%2e%2e", "a%2Fb",
                                              "a b", "a?x=1", "a=", "a+b", "\\x", std::string("a\0b", 3),
                                              "\xc3\xa9"};
    for (const std::string& bad : refused) {
        CAPTURE(bad);
        CHECK_FALSE(is_acme_token(bad));
    }
}

TEST_CASE("AcmeTokenNeedsTheExactPrefix", "[acme]") {
    CHECK(acme_token("/.well-known/acme-challenge/abc") == "abc");
    CHECK(acme_token("/.well-known/acme-challenge/") == "");
    CHECK(acme_token("/.well-known/acme-challenge/../secret") == "");
    CHECK(acme_token("/.well-known/acme-challenge/abc/") == "");
    CHECK(acme_token("/.well-known/acme-challenge//abc") == "");
    CHECK(acme_token("/.well-known/acme-challenge/abc?x") == "");
    CHECK(acme_token("/.well-known/ACME-challenge/abc") == "");
    CHECK(acme_token("/.well-known/acme-challengeabc") == "");
    CHECK(acme_token("http://a.example/.well-known/acme-challenge/abc") == "");
    CHECK(is_acme_challenge("/.well-known/acme-challenge/../x"));
    CHECK_FALSE(is_acme_challenge("/.well-known/acme-challeng"));
}

TEST_CASE("AcmeServesARegularFileInTheWebroot", "[acme]") {
    Webroot w;
    Webroot::write(w.root + "/tok_en-1", "tok_en-1.thumbprint");
    const AcmeAnswer a = answer_acme(w.root, challenge("tok_en-1"));
    CHECK(a.status == 200);
    CHECK(a.body == "tok_en-1.thumbprint");
    CHECK(answer_acme(w.root, challenge("missing")).status == 404);
    CHECK(answer_acme(w.root + "/gone", challenge("tok_en-1")).status == 404);
}

TEST_CASE("AcmeRefusesEverythingButASmallRegularFile", "[acme]") {
    Webroot w;
    REQUIRE(::symlink((w.base + "/secret").c_str(), (w.root + "/link").c_str()) == 0);
    std::filesystem::create_directory(w.root + "/dir");
    REQUIRE(::mkfifo((w.root + "/fifo").c_str(), 0600) == 0);
    Webroot::write(w.root + "/big", std::string(k_max_acme_file_bytes + 1, 'x'));
    Webroot::write(w.root + "/edge", std::string(k_max_acme_file_bytes, 'x'));
    for (const char* name : {"link", "dir", "fifo", "big"}) {
        CAPTURE(name);
        const AcmeAnswer a = answer_acme(w.root, challenge(name));
        CHECK(a.status == 404);
        CHECK(a.body.empty());
    }
    CHECK(answer_acme(w.root, challenge("edge")).body.size() == k_max_acme_file_bytes);
    const std::vector<std::string> hostile = {challenge("../secret"), challenge("..%2Fsecret"),
                                              challenge("%2e%2e/secret"), challenge(".."), challenge(""),
                                              challenge(std::string("secret\0", 7))};
    for (const std::string& target : hostile) {
        CAPTURE(target);
        CHECK(answer_acme(w.root, target).status == 404);
    }
}
