// shortlink probe: connects to an HTTPS server the way a browser would and reports its
// certificate (names, issuer, expiry, whether the name is covered and the chain verifies), and
// optionally the answer to one GET. Every wait has a deadline, so a probe never hangs: a closed
// port, a server that accepts and says nothing, or one that speaks plain HTTP each end in an
// error with exit status 1. Exit statuses are documented in man/shortlink-probe.1.
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <strings.h>
#include <unistd.h>


#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/probe_cli.h"
#include "formats/clock.h"
#include "formats/unique_fd.h"
#include "serve/certificates.h"
#include "serve/log.h"
#include "serve/resolve_host.h"
#include "store/timefmt.h"

namespace shortlink::cli {
namespace {

// Bytes of an HTTP response head read at most (a redirect's head is a few hundred).
constexpr std::size_t k_max_response_head = 16384;

struct ProbeOptions {
    std::vector<std::string> targets;
    std::string target;  // the one being probed
    std::string connect;
    std::string servername;
    std::string ca;
    double warn_days = 14;
    double timeout_s = 5;
    std::optional<int> expect_status;
    std::string expect_location;
    std::optional<double> max_latency_ms;
    std::string textfile;
    bool json = false;
};

// What the target names: the host to check the certificate for, where to connect, and the path
// to GET (empty: no request).
struct Target {
    bool tls = true;
    std::string host;
    std::string port = "443";
    std::string path;
};

// "HOST", "HOST:PORT", "[V6]:PORT", "https://HOST[:PORT][/PATH]" or "http://HOST[:PORT]/PATH".
Target parse_target(const std::string& text) {
    Target t;
    std::string rest = text;
    const std::size_t scheme = rest.find("://");
    if (scheme != std::string::npos) {
        const std::string name = rest.substr(0, scheme);
        if (name != "https" && name != "http") {
            throw Error(k_exit_usage, "'" + text + "': only https:// and http:// URLs can be probed");
        }
        t.tls = name == "https";
        if (!t.tls) {
            t.port = "80";
        }
        rest = rest.substr(scheme + 3);
        const std::size_t slash = rest.find_first_of("/?");
        if (slash != std::string::npos) {
            t.path = rest.substr(slash);
            if (t.path.front() == '?') {
                t.path.insert(0, "/");
            }
            rest = rest.substr(0, slash);
        }
    }
    if (!rest.empty() && rest.front() == '[') {
        const std::size_t close = rest.find(']');
        if (close == std::string::npos) {
            throw Error(k_exit_usage, "'" + text + "': an IPv6 address needs its closing ']'");
        }
        t.host = rest.substr(1, close - 1);
        rest = rest.substr(close + 1);
        if (!rest.empty() && rest.front() != ':') {
            throw Error(k_exit_usage, "'" + text + "': expected [IPV6]:PORT");
        }
        if (!rest.empty()) {
            t.port = rest.substr(1);
        }
    } else {
        const std::size_t colon = rest.rfind(':');
        t.host = rest.substr(0, colon);
        if (colon != std::string::npos) {
            t.port = rest.substr(colon + 1);
        }
    }
    if (t.host.empty() || t.host.find_first_of(" /@\\") != std::string::npos) {
        throw Error(k_exit_usage, "'" + text + "': no host name (expected HOST[:PORT] or https://HOST/PATH)");
    }
    if (t.port.empty() || t.port.size() > 5 || t.port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoul(t.port) == 0 || std::stoul(t.port) > 65535) {
        throw Error(k_exit_usage, "'" + text + "': the port must be 1-65535");
    }
    if (t.path.find_first_of(" \r\n\t") != std::string::npos) {
        throw Error(k_exit_usage, "'" + text + "': the path may not hold spaces or control characters");
    }
    if (!t.tls && t.path.empty()) {
        t.path = "/";  // plain HTTP has no certificate to check: the answer is the probe
    }
    return t;
}

// A connection failure (exit status 1), with what failed.
[[noreturn]] void fail(const std::string& message) { throw Error(k_exit_runtime, message); }

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left > 0 ? static_cast<int>(left) : 0;
}

// Waits for `events` on `fd`; false when the deadline passed first.
bool wait_for(int fd, short events, Clock::time_point deadline) {
    while (true) {
        pollfd p{fd, events, 0};
        const int n = ::poll(&p, 1, remaining_ms(deadline));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        return n > 0;
    }
}

// Connects to the first address of host:port that answers within the deadline.
formats::UniqueFd connect_to(const std::string& host, const std::string& port, Clock::time_point deadline,
                  std::string& connected) {
    auto resolved = serve::resolve_host(host, port, deadline);
    if (!resolved) {
        fail(resolved.status().message());
    }
    const serve::AddressList addresses = std::move(resolved).value();
    std::string last_error = "no address";
    for (const addrinfo* a = addresses.get(); a != nullptr; a = a->ai_next) {
        char name[NI_MAXHOST] = {};
        ::getnameinfo(a->ai_addr, a->ai_addrlen, name, sizeof(name), nullptr, 0, NI_NUMERICHOST);
        const std::string where = (a->ai_family == AF_INET6 ? "[" + std::string(name) + "]" : std::string(name)) +
                                  ":" + port;
        formats::UniqueFd s(::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol));
        if (s.get() < 0) {
            last_error = std::string("socket: ") + std::strerror(errno);
            continue;
        }
        if (::connect(s.get(), a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
            last_error = "cannot connect to " + where + ": " + std::strerror(errno);
            continue;
        }
        if (!wait_for(s.get(), POLLOUT, deadline)) {
            fail("cannot connect to " + where + ": no answer within the timeout");
        }
        int err = 0;
        socklen_t len = sizeof(err);
        ::getsockopt(s.get(), SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            last_error = "cannot connect to " + where + ": " + std::strerror(err);
            continue;
        }
        connected = where;
        return s;
    }
    fail(last_error);
}

// Runs a non-blocking OpenSSL call until it completes or the deadline passes; `what` names it in
// errors. Returns the call's last result (> 0 on success) and leaves `error` set on failure.
template <class Call>
int drive(SSL* ssl, int fd, Clock::time_point deadline, Call call, int& error) {
    while (true) {
        const int rc = call();
        if (rc > 0) {
            return rc;
        }
        error = SSL_get_error(ssl, rc);
        if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
            if (!wait_for(fd, error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) {
                error = -1;  // timed out
                return 0;
            }
            continue;
        }
        return rc;
    }
}

struct Report {
    std::string target;
    bool tls = true;
    double latency_ms = 0;  // from the start of the connect to the answer's head
    std::string connected;
    std::string servername;
    std::string version;
    std::string cipher;
    std::string alpn;
    std::string subject;
    std::string issuer;
    std::vector<std::string> names;
    std::int64_t not_before = 0;
    std::int64_t not_after = 0;
    double days_left = 0;
    bool name_covered = false;
    bool chain_verified = false;
    std::string chain_error;  // empty when verified
    std::string trust;        // "system" or the --ca file
    std::optional<int> http_status;
    std::string location;
    std::vector<std::string> problems;
    int exit_code = k_exit_ok;
};

bool covered(const std::vector<std::string>& names, const std::string& host) {
    std::string lower = host;
    for (char& c : lower) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    for (const std::string& n : names) {
        if (serve::name_covers(n, lower)) {
            return true;
        }
    }
    return false;
}

// Sends all of `data` or reads some bytes, within a deadline: > 0 bytes moved, 0 at the end of
// the stream, -1 when the deadline passed, -2 on an error (the message in `error`).
struct Channel {
    std::function<int(const char*, int)> send;
    std::function<int(char*, int)> recv;
    std::function<std::string()> error;
};

Channel tls_channel(SSL* ssl, int fd, Clock::time_point deadline) {
    auto last = std::make_shared<int>(0);
    const auto run = [ssl, fd, deadline, last](auto call) {
        const int n = drive(ssl, fd, deadline, call, *last);
        if (n > 0) {
            return n;
        }
        return *last == -1 ? -1 : (*last == SSL_ERROR_ZERO_RETURN ? 0 : -2);
    };
    return {[ssl, run](const char* p, int n) { return run([&] { return SSL_write(ssl, p, n); }); },
            [ssl, run](char* p, int n) { return run([&] { return SSL_read(ssl, p, n); }); },
            [] { return serve::openssl_detail(); }};
}

Channel plain_channel(int fd, Clock::time_point deadline) {
    auto last = std::make_shared<int>(0);
    const auto wait = [fd, deadline](short events) { return wait_for(fd, events, deadline); };
    return {[fd, wait, last](const char* p, int n) {
                while (true) {
                    const ssize_t w = ::send(fd, p, static_cast<std::size_t>(n), MSG_NOSIGNAL);
                    if (w > 0) {
                        return static_cast<int>(w);
                    }
                    if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
                        if (!wait(POLLOUT)) {
                            return -1;
                        }
                        continue;
                    }
                    *last = errno;
                    return -2;
                }
            },
            [fd, wait, last](char* p, int n) {
                while (true) {
                    const ssize_t r = ::recv(fd, p, static_cast<std::size_t>(n), 0);
                    if (r >= 0) {
                        return static_cast<int>(r);
                    }
                    if (errno == EAGAIN || errno == EINTR) {
                        if (!wait(POLLIN)) {
                            return -1;
                        }
                        continue;
                    }
                    *last = errno;
                    return -2;
                }
            },
            [last] { return std::string(std::strerror(*last)); }};
}

// GET `path` over the connection: the status and Location of the answer.
void request(const Channel& channel, const std::string& host, const std::string& path, Report& r) {
    const std::string head = "GET " + path + " HTTP/1.1\r\nHost: " + host +
                             "\r\nUser-Agent: shortlink-probe\r\nConnection: close\r\n\r\n";
    for (std::size_t sent = 0; sent < head.size();) {
        const int n = channel.send(head.data() + sent, static_cast<int>(head.size() - sent));
        if (n <= 0) {
            fail("cannot send GET " + path + (n == -1 ? ": timed out" : ": " + channel.error()));
        }
        sent += static_cast<std::size_t>(n);
    }
    std::string response;
    char buf[4096];
    while (response.find("\r\n\r\n") == std::string::npos && response.size() < k_max_response_head) {
        const int n = channel.recv(buf, sizeof(buf));
        if (n == -1) {
            fail("no answer to GET " + path + " within the timeout");
        }
        if (n <= 0) {
            break;  // closed: parse what came
        }
        response.append(buf, static_cast<std::size_t>(n));
    }
    const std::size_t end = response.find("\r\n");
    const std::string status_line = response.substr(0, end);
    if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12 || status_line[8] != ' ' ||
        status_line.substr(9, 3).find_first_not_of("0123456789") != std::string::npos) {
        fail("the answer to GET " + path + " is not HTTP: '" + status_line.substr(0, 40) + "'");
    }
    r.http_status = std::stoi(status_line.substr(9, 3));
    std::size_t at = end;
    while (at != std::string::npos && at + 2 < response.size()) {
        const std::size_t next = response.find("\r\n", at + 2);
        const std::string line = response.substr(at + 2, next == std::string::npos ? std::string::npos : next - at - 2);
        if (line.empty()) {
            break;
        }
        if (line.size() > 9 && strncasecmp(line.c_str(), "location:", 9) == 0) {
            r.location = line.substr(line.find_first_not_of(' ', 9));
        }
        at = next;
    }
}

// What --expect-status, --expect-location and --max-latency ask of the answer.
void check_expectations(const ProbeOptions& o, Report& r) {
    if (o.expect_status && r.http_status != o.expect_status) {
        r.problems.push_back("the answer is " + (r.http_status ? std::to_string(*r.http_status) : std::string("missing")) +
                             ", not the expected " + std::to_string(*o.expect_status));
    }
    if (!o.expect_location.empty() && r.location != o.expect_location) {
        r.problems.push_back("Location is " + (r.location.empty() ? std::string("absent") : "'" + r.location + "'") +
                             ", not the expected '" + o.expect_location + "'");
    }
    if (o.max_latency_ms && r.latency_ms > *o.max_latency_ms) {
        r.problems.push_back("the answer took " + std::to_string(static_cast<std::int64_t>(r.latency_ms)) +
                             " ms, above --max-latency " + std::to_string(static_cast<std::int64_t>(*o.max_latency_ms)));
    }
}

Report probe(const ProbeOptions& o) {
    Report r;
    r.target = o.target;
    const Target t = parse_target(o.target);
    std::string connect_host = t.host;
    std::string connect_port = t.port;
    if (!o.connect.empty()) {
        const Target c = parse_target(o.connect);
        connect_host = c.host;
        connect_port = c.port;
    }
    r.servername = o.servername.empty() ? t.host : o.servername;
    r.trust = o.ca.empty() ? "system" : o.ca;
    r.tls = t.tls;
    const auto deadline_after = [&] {
        return Clock::now() + std::chrono::milliseconds(static_cast<std::int64_t>(o.timeout_s * 1000));
    };
    const auto started = Clock::now();
    const auto elapsed_ms = [&] {
        return std::chrono::duration<double, std::milli>(Clock::now() - started).count();
    };
    if (!t.tls) {
        formats::UniqueFd sock = connect_to(connect_host, connect_port, deadline_after(), r.connected);
        request(plain_channel(sock.get(), deadline_after()), r.servername, t.path, r);
        r.latency_ms = elapsed_ms();
        check_expectations(o, r);
        r.exit_code = r.problems.empty() ? k_exit_ok : k_exit_invalid;
        return r;
    }

    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
    if (!ctx) {
        fail("cannot make a TLS context: " + serve::openssl_detail());
    }
    // Verification is judged after the handshake, so that a bad chain is reported, not just refused.
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
    if (o.ca.empty() ? SSL_CTX_set_default_verify_paths(ctx.get()) != 1
                     : SSL_CTX_load_verify_locations(ctx.get(), o.ca.c_str(), nullptr) != 1) {
        throw Error(o.ca.empty() ? k_exit_runtime : k_exit_usage,
                    (o.ca.empty() ? std::string("cannot load the system's trusted certificates")
                                  : "--ca " + o.ca + ": not a readable PEM file of certificates") +
                        " (" + serve::openssl_detail() + ")");
    }
    static constexpr unsigned char k_alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(ctx.get(), k_alpn, sizeof(k_alpn));

    formats::UniqueFd sock = connect_to(connect_host, connect_port, deadline_after(), r.connected);
    std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
    if (!ssl || SSL_set_fd(ssl.get(), sock.get()) != 1) {
        fail("cannot make a TLS connection: " + serve::openssl_detail());
    }
    SSL_set_tlsext_host_name(ssl.get(), r.servername.c_str());
    int error = 0;
    if (drive(ssl.get(), sock.get(), deadline_after(), [&] { return SSL_connect(ssl.get()); }, error) <= 0) {
        if (error == -1) {
            fail("TLS handshake with " + r.connected + " timed out after " + std::to_string(static_cast<int>(o.timeout_s)) +
                 " s (the server accepted the connection but did not answer)");
        }
        const std::string reason = serve::openssl_detail();
        if (error == SSL_ERROR_SYSCALL || error == SSL_ERROR_ZERO_RETURN || reason.empty()) {
            fail("TLS handshake with " + r.connected + " failed: the server closed the connection" +
                 (reason.empty() ? "" : " (" + reason + ")"));
        }
        fail("TLS handshake with " + r.connected + " failed: " + reason +
             (reason == "wrong version number" || reason == "packet length too long" ? " (is it TLS at all?)" : ""));
    }
    r.version = SSL_get_version(ssl.get());
    r.cipher = SSL_get_cipher_name(ssl.get());
    const unsigned char* alpn = nullptr;
    unsigned int alpn_len = 0;
    SSL_get0_alpn_selected(ssl.get(), &alpn, &alpn_len);
    r.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);

    std::unique_ptr<X509, decltype(&X509_free)> cert(SSL_get1_peer_certificate(ssl.get()), X509_free);
    if (!cert) {
        fail("the server at " + r.connected + " sent no certificate");
    }
    const std::int64_t now = clock::unix_seconds();
    r.subject = serve::subject_of(cert.get());
    r.issuer = serve::issuer_of(cert.get());
    r.names = serve::dns_names(cert.get());
    r.not_before = serve::unix_time_of(X509_get0_notBefore(cert.get()));
    r.not_after = serve::unix_time_of(X509_get0_notAfter(cert.get()));
    r.days_left = static_cast<double>(r.not_after - now) / 86400.0;
    r.name_covered = covered(r.names, r.servername);
    const long verify = SSL_get_verify_result(ssl.get());
    r.chain_verified = verify == X509_V_OK;
    if (!r.chain_verified) {
        r.chain_error = X509_verify_cert_error_string(verify);
    }
    if (!t.path.empty()) {
        request(tls_channel(ssl.get(), sock.get(), deadline_after()), r.servername, t.path, r);
    }
    r.latency_ms = elapsed_ms();
    ERR_clear_error();
    check_expectations(o, r);

    if (r.not_after <= now) {
        r.problems.push_back("the certificate expired on " + timefmt::format_time(r.not_after));
    } else if (r.not_before > now) {
        r.problems.push_back("the certificate is not valid before " + timefmt::format_time(r.not_before));
    }
    if (!r.name_covered) {
        r.problems.push_back("the certificate does not cover " + r.servername);
    }
    if (!r.chain_verified) {
        r.problems.push_back("the chain does not verify against " +
                             (o.ca.empty() ? std::string("the system's trusted certificates") : o.ca) + ": " +
                             r.chain_error);
    }
    if (!r.problems.empty()) {
        r.exit_code = k_exit_invalid;
    } else if (r.days_left < o.warn_days) {
        r.problems.push_back("the certificate expires in " + std::to_string(static_cast<int>(r.days_left)) +
                             " days (below --warn-days " + std::to_string(static_cast<int>(o.warn_days)) + ")");
        r.exit_code = k_exit_expiring;
    }
    return r;
}

std::string json_text(std::string_view s) {
    std::string out;
    serve::append_json_string(out, s);
    return out;
}

void print_json(const Report& r) {
    std::string out = "{\"target\":" + json_text(r.target) + ",\"connect\":" + json_text(r.connected) +
                      ",\"servername\":" + json_text(r.servername) + ",\"tls\":";
    if (r.tls) {
        out += "{\"version\":" + json_text(r.version) + ",\"cipher\":" + json_text(r.cipher) + ",\"alpn\":" +
               (r.alpn.empty() ? std::string("null") : json_text(r.alpn)) + "}";
        out += ",\"certificate\":{\"subject\":" + json_text(r.subject) + ",\"issuer\":" + json_text(r.issuer) +
               ",\"names\":[";
        for (std::size_t i = 0; i < r.names.size(); ++i) {
            out += (i == 0 ? "" : ",") + json_text(r.names[i]);
        }
        out += "],\"not_before\":" + json_text(timefmt::format_time(r.not_before)) +
               ",\"not_after\":" + json_text(timefmt::format_time(r.not_after)) +
               ",\"days_left\":" + std::to_string(static_cast<std::int64_t>(r.days_left)) + "}";
        out += std::string(",\"name_covered\":") + (r.name_covered ? "true" : "false");
        out += std::string(",\"chain\":{\"verified\":") + (r.chain_verified ? "true" : "false") +
               ",\"error\":" + (r.chain_error.empty() ? std::string("null") : json_text(r.chain_error)) +
               ",\"trust\":" + json_text(r.trust) + "}";
    } else {
        out += "null,\"certificate\":null,\"name_covered\":null,\"chain\":null";
    }
    out += ",\"http\":";
    if (r.http_status) {
        out += "{\"status\":" + std::to_string(*r.http_status) +
               ",\"location\":" + (r.location.empty() ? std::string("null") : json_text(r.location)) + "}";
    } else {
        out += "null";
    }
    out += ",\"latency_ms\":" + std::to_string(static_cast<std::int64_t>(r.latency_ms + 0.5));
    out += ",\"problems\":[";
    for (std::size_t i = 0; i < r.problems.size(); ++i) {
        out += (i == 0 ? "" : ",") + json_text(r.problems[i]);
    }
    out += "],\"exit\":" + std::to_string(r.exit_code) + "}";
    std::cout << out << '\n';
}

void print_text(const Report& r) {
    if (r.tls) {
        std::cout << "connected:    " << r.connected << " (" << r.version << ", " << r.cipher
                  << (r.alpn.empty() ? "" : ", ALPN " + r.alpn) << ")\n"
                  << "servername:   " << r.servername << '\n'
                  << "subject:      " << r.subject << '\n'
                  << "issuer:       " << r.issuer << '\n'
                  << "names:        ";
        for (std::size_t i = 0; i < r.names.size(); ++i) {
            std::cout << (i == 0 ? "" : ", ") << r.names[i];
        }
        std::cout << (r.names.empty() ? "(none)" : "") << '\n'
                  << "not after:    " << timefmt::format_time(r.not_after) << " ("
                  << static_cast<std::int64_t>(r.days_left) << " days left)\n"
                  << "name covered: " << (r.name_covered ? "yes" : "no") << '\n'
                  << "chain:        " << (r.chain_verified ? "verified" : "NOT verified: " + r.chain_error)
                  << " (trust: " << r.trust << ")\n";
    } else {
        std::cout << "connected:    " << r.connected << " (plain HTTP)\n";
    }
    if (r.http_status) {
        std::cout << "GET:          " << *r.http_status << (r.location.empty() ? "" : " -> " + r.location) << " ("
                  << static_cast<std::int64_t>(r.latency_ms + 0.5) << " ms)\n";
    }
    for (const std::string& p : r.problems) {
        std::cout << (r.exit_code == k_exit_expiring ? "warning: " : "problem: ") << p << '\n';
    }
}

// How bad an exit status is, to report the worst of several targets: could not probe, then a
// wrong answer or certificate, then an expiring one.
int severity(int exit_code) {
    switch (exit_code) {
    case k_exit_ok: return 0;
    case k_exit_expiring: return 1;
    case k_exit_invalid: return 2;
    default: return 3;
    }
}

std::string prometheus_label(const std::string& value) {
    std::string out;
    for (const char c : value) {
        if (c == '\\' || c == '"') {
            out += '\\';
        }
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

// The node exporter's textfile collector format: written to a temporary file and renamed, so the
// collector never reads half of it.
void write_textfile(const std::string& path, const std::vector<Report>& reports, const std::vector<std::string>& errors) {
    std::string text =
        "# HELP shortlink_probe_success Whether the target answered as expected (1) or not (0).\n"
        "# TYPE shortlink_probe_success gauge\n";
    for (std::size_t i = 0; i < reports.size(); ++i) {
        const Report& r = reports[i];
        const bool ok = errors[i].empty() && (r.exit_code == k_exit_ok || r.exit_code == k_exit_expiring);
        text += "shortlink_probe_success{target=\"" + prometheus_label(r.target) + "\"} " + (ok ? "1" : "0") + "\n";
    }
    text += "# HELP shortlink_probe_duration_seconds From the connect to the answer's head.\n"
            "# TYPE shortlink_probe_duration_seconds gauge\n";
    for (std::size_t i = 0; i < reports.size(); ++i) {
        if (errors[i].empty()) {
            text += "shortlink_probe_duration_seconds{target=\"" + prometheus_label(reports[i].target) + "\"} " +
                    std::to_string(reports[i].latency_ms / 1000.0) + "\n";
        }
    }
    text += "# HELP shortlink_probe_http_status The answer's status code.\n# TYPE shortlink_probe_http_status gauge\n";
    for (std::size_t i = 0; i < reports.size(); ++i) {
        if (errors[i].empty() && reports[i].http_status) {
            text += "shortlink_probe_http_status{target=\"" + prometheus_label(reports[i].target) + "\"} " +
                    std::to_string(*reports[i].http_status) + "\n";
        }
    }
    text += "# HELP shortlink_probe_certificate_expiry_timestamp_seconds When the served certificate expires.\n"
            "# TYPE shortlink_probe_certificate_expiry_timestamp_seconds gauge\n";
    for (std::size_t i = 0; i < reports.size(); ++i) {
        if (errors[i].empty() && reports[i].tls) {
            text += "shortlink_probe_certificate_expiry_timestamp_seconds{target=\"" +
                    prometheus_label(reports[i].target) + "\"} " + std::to_string(reports[i].not_after) + "\n";
        }
    }
    const std::size_t slash = path.rfind('/');
    const std::string temp = (slash == std::string::npos ? std::string() : path.substr(0, slash + 1)) + "." +
                             (slash == std::string::npos ? path : path.substr(slash + 1)) + ".tmp." +
                             std::to_string(::getpid());
    formats::UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (fd.get() < 0) {
        throw Error(k_exit_runtime, "--textfile " + temp + ": " + std::strerror(errno));
    }
    if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
        ::rename(temp.c_str(), path.c_str()) != 0) {
        const std::string why = std::strerror(errno);
        ::unlink(temp.c_str());
        throw Error(k_exit_runtime, "--textfile " + path + ": " + why);
    }
}

void run_probe(ProbeOptions& o) {
    std::vector<Report> reports;
    std::vector<std::string> errors;
    int worst = k_exit_ok;
    std::string worst_message;
    for (const std::string& target : o.targets) {
        o.target = target;
        Report r;
        r.target = target;
        std::string error;
        try {
            r = probe(o);
        } catch (const Error& e) {
            if (e.exit_code() == k_exit_usage) {
                throw;  // a bad argument: nothing is probed
            }
            error = e.what();
            r.exit_code = e.exit_code();
        }
        if (o.json) {
            if (error.empty()) {
                print_json(r);
            } else {
                std::cout << "{\"target\":" << json_text(target) << ",\"error\":" << json_text(error)
                          << ",\"exit\":" << r.exit_code << "}\n";
            }
        } else {
            if (o.targets.size() > 1) {
                std::cout << (reports.empty() ? "" : "\n") << "== " << target << '\n';
            }
            if (error.empty()) {
                print_text(r);
            } else {
                std::cout << "error:        " << error << '\n';
            }
        }
        if (severity(r.exit_code) > severity(worst)) {
            worst = r.exit_code;
            worst_message = error.empty() ? r.problems.front() : error;
        }
        reports.push_back(std::move(r));
        errors.push_back(std::move(error));
    }
    if (!o.textfile.empty()) {
        write_textfile(o.textfile, reports, errors);
    }
    if (worst != k_exit_ok) {
        std::cout.flush();
        throw Error(worst, o.targets.size() > 1 ? worst_message : worst_message);
    }
}

}  // namespace

std::string check_answer(const std::string& url, const std::string& expect_location,
                         std::optional<int> expect_status, double timeout_s, const std::string& ca) {
    ProbeOptions o;
    o.target = url;
    o.expect_location = expect_location;
    o.expect_status = expect_status;
    o.timeout_s = timeout_s;
    o.ca = ca;
    o.warn_days = 0;
    try {
        const Report r = probe(o);
        if (!r.http_status) {
            return url + ": no path to GET";
        }
        return r.exit_code == k_exit_ok || r.exit_code == k_exit_expiring ? std::string() : url + ": " + r.problems.front();
    } catch (const Error& e) {
        if (e.exit_code() == k_exit_usage) {
            throw;
        }
        return url + ": " + e.what();
    }
}

void setup_probe(CLI::App& app, const GlobalOptions& /*globals*/) {
    auto o = std::make_shared<ProbeOptions>();
    CLI::App* sub = add_command(app, "probe");
    sub->add_option("TARGET", o->targets,
                    "HOST[:PORT], https://HOST[:PORT]/PATH to also GET PATH, or http://HOST[:PORT]/PATH (repeatable)")
        ->required();
    sub->add_option("--connect", o->connect, "Connect to ADDR:PORT instead of TARGET's host (like curl --resolve)");
    sub->add_option("--servername", o->servername, "Name to send (SNI) and check the certificate for");
    sub->add_option("--ca", o->ca, "Verify the chain against this PEM file instead of the system's store")
        ->check(CLI::ExistingFile);
    sub->add_option("--warn-days", o->warn_days, "Exit 6 when the certificate expires within N days (14)")
        ->check(CLI::Range(0.0, 3650.0));
    sub->add_option("--timeout", o->timeout_s, "Seconds for each of connect, handshake and GET (5)")
        ->check(CLI::Range(0.01, 600.0));
    sub->add_option("--expect-status", o->expect_status, "Exit 5 unless the answer has this status")
        ->check(CLI::Range(100, 599));
    sub->add_option("--expect-location", o->expect_location, "Exit 5 unless the answer's Location is this URL");
    sub->add_option("--max-latency", o->max_latency_ms, "Exit 5 when the answer takes longer than MS milliseconds")
        ->check(CLI::Range(0.0, 600000.0));
    sub->add_option("--textfile", o->textfile,
                    "Also write the results as Prometheus text to FILE (for the node exporter's textfile collector)");
    sub->add_flag("--json", o->json, "Print one JSON object per target");
    sub->callback([o] { run_probe(*o); });
}

}  // namespace shortlink::cli
