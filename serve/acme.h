// ACME HTTP-01 challenges (RFC 8555 section 8.3) answered from a webroot directory, so that a
// certificate client such as certbot (`--webroot`) can prove control of a domain to its CA
// through the plain listeners while the server keeps running.
//
// Only `GET` or `HEAD /.well-known/acme-challenge/TOKEN` in origin-form is a challenge. TOKEN
// must be 1..k_max_acme_token_bytes base64url characters (A-Z a-z 0-9 - _), nothing else: no
// dot, slash, percent-encoding, query or NUL reaches the file system, so a request can name no
// file but one directly inside the webroot. That file is opened relative to the webroot with
// O_NOFOLLOW (a symbolic link planted there is refused) and O_NONBLOCK (a FIFO cannot stall the
// thread), and served only if it is a regular file of at most k_max_acme_file_bytes.
//
// The webroot is opened again for every challenge: certbot may remove the directory it created
// after a run and make a new one next time. Challenges are a handful of requests every few
// weeks; the two opens and one read of a small, cached file on the request thread cost about
// what a log line does.
//
// Thread-safety: pure functions over their arguments and the file system.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace shortlink::serve {

inline constexpr std::string_view k_acme_challenge_prefix = "/.well-known/acme-challenge/";
// Tokens of Let's Encrypt are 43 characters (256 random bits); RFC 8555 asks for at least 128
// bits. Anything far beyond that is not a token.
inline constexpr std::size_t k_max_acme_token_bytes = 128;
// A key authorization is the token, a dot and a 43-character thumbprint: about 90 bytes.
inline constexpr std::size_t k_max_acme_file_bytes = 4096;

// True when `target` starts with the challenge prefix (the server answers it itself then).
bool is_acme_challenge(std::string_view target);

// The token of a challenge target, or empty when `target` is not the prefix followed by a valid
// token (the answer is then 404).
std::string_view acme_token(std::string_view target);

// True for 1..k_max_acme_token_bytes base64url characters.
bool is_acme_token(std::string_view token);

struct AcmeAnswer {
    std::uint16_t status = 404;  // 200, or 404 for a missing, refused or unreadable file
    std::string body;            // the file's content when 200
};

// The answer to a challenge request for `target` from the directory `webroot`.
AcmeAnswer answer_acme(const std::string& webroot, std::string_view target);

}  // namespace shortlink::serve
