// The ACME challenge fuzz target: a request-target as a client sends it, answered from a webroot
// that holds a challenge file, a symbolic link to a secret outside it, a directory and a FIFO.
// Whatever the bytes, the answer is the challenge file or nothing: never the secret, never a
// file named by anything but a base64url token right after the prefix.
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include <sys/stat.h>
#include <unistd.h>

#include "serve/acme.h"
#include "tests/fuzz/fuzz_checks.h"
#include "tests/fuzz/fuzz_targets.h"

namespace shortlink::fuzz {

namespace {

constexpr std::string_view k_challenge = "tok_EN-123.thumbprint";
constexpr std::string_view k_secret = "SECRET outside the webroot";

// Made once per process and removed at its exit: BASE/secret, and BASE/webroot holding
// tok_EN-123, link -> ../secret, dir and fifo.
struct Webroot {
    Webroot() {
        char pattern[] = "/tmp/fuzz_acme.XXXXXX";
        base = ::mkdtemp(pattern);
        dir = base + "/webroot";
        std::filesystem::create_directory(dir);
        std::ofstream(base + "/secret") << k_secret;
        std::ofstream(dir + "/tok_EN-123") << k_challenge;
        std::filesystem::create_directory(dir + "/dir");
        if (::symlink("../secret", (dir + "/link").c_str()) != 0 || ::mkfifo((dir + "/fifo").c_str(), 0600) != 0) {
            fail("cannot make the webroot", dir);
        }
    }
    ~Webroot() {
        std::error_code ignored;
        std::filesystem::remove_all(base, ignored);
    }
    std::string base;
    std::string dir;
};

const std::string& webroot() {
    static const Webroot root;
    return root.dir;
}

}  // namespace

int fuzz_acme_one(const std::uint8_t* data, std::size_t size) {
    const std::string target(reinterpret_cast<const char*>(data), size);
    const std::string_view token = serve::acme_token(target);
    if (!token.empty()) {
        if (!serve::is_acme_token(token) || std::string(serve::k_acme_challenge_prefix) + std::string(token) != target) {
            fail("acme_token returned something that is not the whole rest of the target", target);
        }
    }
    const serve::AcmeAnswer answer = serve::answer_acme(webroot(), target);
    if (answer.status != 200) {
        if (answer.status != 404 || !answer.body.empty()) {
            fail("a refused challenge answers other than an empty 404", target);
        }
        return 0;
    }
    if (token != "tok_EN-123" || answer.body != k_challenge) {
        fail("a challenge answered with something other than the challenge file", target + " -> " + answer.body);
    }
    return 1;
}

}  // namespace shortlink::fuzz
