#include "serve/acme.h"

#include <array>
#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/unique_fd.h"

namespace shortlink::serve {

namespace {

constexpr bool is_base64url(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

}  // namespace

bool is_acme_challenge(std::string_view target) { return target.starts_with(k_acme_challenge_prefix); }

bool is_acme_token(std::string_view token) {
    if (token.empty() || token.size() > k_max_acme_token_bytes) {
        return false;
    }
    for (char c : token) {
        if (!is_base64url(c)) {
            return false;
        }
    }
    return true;
}

std::string_view acme_token(std::string_view target) {
    if (!is_acme_challenge(target)) {
        return {};
    }
    const std::string_view token = target.substr(k_acme_challenge_prefix.size());
    return is_acme_token(token) ? token : std::string_view{};
}

AcmeAnswer answer_acme(const std::string& webroot, std::string_view target) {
    AcmeAnswer out;
    const std::string_view token = acme_token(target);
    if (token.empty()) {
        return out;
    }
    const formats::UniqueFd dir(::open(webroot.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir.get() < 0) {
        return out;
    }
    const std::string name(token);  // a token holds no '/' and no NUL: one name in the directory
    const formats::UniqueFd file(::openat(dir.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (file.get() < 0) {
        return out;
    }
    struct stat st {};
    if (::fstat(file.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_size > static_cast<off_t>(k_max_acme_file_bytes)) {
        return out;
    }
    std::array<char, k_max_acme_file_bytes + 1> buffer;
    std::size_t size = 0;
    while (size < buffer.size()) {
        const ssize_t n = ::read(file.get(), buffer.data() + size, buffer.size() - size);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return out;
        }
        if (n == 0) {
            break;
        }
        size += static_cast<std::size_t>(n);
    }
    if (size > k_max_acme_file_bytes) {
        return out;  // it grew after fstat
    }
    out.status = 200;
    out.body.assign(buffer.data(), size);
    return out;
}

}  // namespace shortlink::serve
