// Certificates of the TLS listeners: one chain and private key per host name, read from a
// directory, validated before use and published to the request threads as an immutable table.
//
// Files in the directory (a name starting with a dot is a temporary file and ignored):
//   HOST.crt and HOST.key   the leaf certificate followed by its chain; the private key
//   HOST.pem                the chain and the key in one file (renewed by one rename)
//   _.example.com.*         the wildcard *.example.com
//   default.*               clients whose server name (SNI) has no file, or who send none
//
// Validation (load_certificate) happens at start and when a file changes, on the control
// thread, never on the request path: every PEM block parses (a truncated file does not), each
// chain certificate issued the one before it, the key matches the leaf, every certificate is
// valid now, and the leaf's subjectAltName covers the file's host name. A file that fails is
// refused with a reason and a log line, and the certificate that host had keeps serving.
//
// A renewal that replaces HOST.key and HOST.crt by two renames is seen half done in between.
// A pair that is incomplete or does not match while one of its files changed less than
// k_pair_settle_ms (or the directory's own setting) ago is not refused yet: the host keeps what it served and is judged again
// once the pair has been still that long (settle_in_ms() tells the caller when). Likewise a
// file replaced while it was being read is read again, not judged.
//
// Thread-safety: a CertTable is immutable and may be read from any thread. CertificateDirectory:
// scan() from one thread (the control thread) at a time; generation(), current() and report()
// from any thread. Publication follows the snapshot manager (serve/snapshot_manager.h): a
// worker compares one atomic generation per TLS connection and copies the shared_ptr under the
// mutex only when it changed; a table lives until the last handshake that uses it is done (each
// SSL_CTX it holds is reference counted by OpenSSL on its own).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/ssl.h>

#include "serve/file_stamp.h"

namespace shortlink::serve {

// Why a certificate file was refused (shortlink_tls_certificates_refused_total{reason=...}).
enum class CertRefusal : std::uint8_t {
    io,             // cannot be read, or larger than k_max_certificate_file_bytes
    parse,          // a PEM block does not parse (truncated, garbage), or no certificate or key
    incomplete,     // HOST.crt without HOST.key or the reverse, or both HOST.pem and HOST.crt
    key_mismatch,   // the private key is not the leaf certificate's
    chain,          // a chain certificate did not issue the certificate before it
    expired,        // a certificate of the chain is past its notAfter
    not_yet_valid,  // a certificate of the chain is before its notBefore
    name_mismatch,  // the leaf's subjectAltName does not cover the file's host name
};
inline constexpr std::size_t k_cert_refusal_kinds = 8;
std::string_view cert_refusal_name(CertRefusal reason);

// A certificate file holds a few kilobytes; anything past this is not one.
inline constexpr std::size_t k_max_certificate_file_bytes = 1 << 20;

// A validated certificate, ready to serve.
struct Certificate {
    std::string host;                // "go.example.com", "*.example.com" or "default"
    std::string path;                // HOST.crt or HOST.pem
    std::string subject;             // the leaf's subject, one line
    std::vector<std::string> names;  // the leaf's subjectAltName DNS names, lowercase
    std::int64_t not_before = 0;     // Unix seconds, the latest notBefore of the chain
    std::int64_t not_after = 0;      // Unix seconds, the earliest notAfter of the chain
    std::shared_ptr<SSL_CTX> context;  // chain and key, configured by serve/tls_context.h
};

struct LoadedCertificate {
    std::shared_ptr<const Certificate> certificate;  // null when refused
    CertRefusal refusal = CertRefusal::io;
    std::string error;  // why it was refused, precisely ("chain certificate 2 did not issue 1")
};

// Reads `cert_path` (the leaf, then its chain) and `key_path` (empty: the key is in
// `cert_path`), validates them for `host` at `now` (Unix seconds) and builds their SSL_CTX.
LoadedCertificate load_certificate(const std::string& host, const std::string& cert_path,
                                   const std::string& key_path, std::int64_t now);

// Facts of a certificate, shared with `shortlink probe`: the subjectAltName DNS names
// (lowercase), the subject and issuer on one line (RFC 2253), and a time as Unix seconds (0 when
// it cannot be read).
std::vector<std::string> dns_names(X509* cert);
std::string subject_of(X509* cert);
std::string issuer_of(X509* cert);
std::int64_t unix_time_of(const ASN1_TIME* t);
// The reason of the last error on OpenSSL's queue ("" when it is empty); clears the queue.
std::string openssl_detail();

// True when a subjectAltName DNS entry `pattern` covers `host` (both lowercase): equal, or
// pattern "*.example.com" and host one label under example.com (RFC 6125 6.4.3: the wildcard
// stands for exactly one whole label). A wildcard host ("*.example.com") is covered only by
// the same wildcard.
bool name_covers(std::string_view pattern, std::string_view host);

// What a file name in the certificate directory stands for.
struct CertFileName {
    enum class Kind : std::uint8_t { crt, key, pem };
    std::string host;  // lowercase; "*.example.com" for "_.example.com"; "default"
    Kind kind = Kind::crt;
};
// nullopt for names that are not certificate files (other suffixes, dot files); a host that is
// not a DNS name ("a b.crt") yields host "" so the caller can refuse it by name.
std::optional<CertFileName> parse_cert_file_name(std::string_view file_name);

// The certificates being served, by host name.
class CertTable {
public:
    explicit CertTable(std::vector<std::shared_ptr<const Certificate>> certificates);

    // The certificate for a client's server name (empty: the client sent none): the file of
    // that exact name, else the wildcard one label up, else default; nullptr when none applies.
    const Certificate* select(std::string_view server_name) const;
    const std::vector<std::shared_ptr<const Certificate>>& certificates() const { return m_all; }
    bool empty() const { return m_all.empty(); }

private:
    std::vector<std::shared_ptr<const Certificate>> m_all;  // sorted by host
    std::map<std::string, const Certificate*, std::less<>> m_by_host;
    const Certificate* m_default = nullptr;
};

struct CertRefused {
    std::string path;
    std::string reason;
    std::string message;
    std::int64_t at = 0;  // Unix seconds
};

// What /metrics and /readyz show.
struct CertificateReport {
    std::string dir;
    std::shared_ptr<const CertTable> table;
    std::array<std::uint64_t, k_cert_refusal_kinds> refused{};
    CertRefused last_refused;  // path empty: none yet
    std::uint64_t swaps = 0;   // tables published
};

// How long both files of a HOST.crt/HOST.key pair must have been left alone before a pair that
// is incomplete or does not match is refused.
constexpr std::int64_t k_pair_settle_ms = 2000;

class CertificateDirectory {
public:
    CertificateDirectory(std::string dir, int log_fd, std::int64_t pair_settle_ms = k_pair_settle_ms);

    // Reads every host whose files changed since the last scan, validates them and publishes a
    // new table when a certificate was added, replaced or removed (every file of a host gone).
    // Returns true when it published.
    bool scan(std::int64_t now);

    // Milliseconds after which a host left waiting by the last scan (a half-renewed pair, a
    // file replaced while read) should be scanned again; nullopt when none waits.
    std::optional<std::int64_t> settle_in_ms() const { return m_settle_in_ms; }

    std::uint64_t generation() const { return m_generation.load(std::memory_order_acquire); }
    std::shared_ptr<const CertTable> current() const;
    CertificateReport report() const;

private:
    // The files of one host as last judged: stamps of .crt, .key and .pem (0 when absent).
    using HostStamps = std::array<std::optional<FileStamp>, 3>;

    void refuse(const std::string& path, CertRefusal reason, const std::string& message);

    const std::string m_dir;
    const int m_log_fd;
    const std::int64_t m_pair_settle_ms;
    std::map<std::string, HostStamps> m_seen;  // scan() thread only
    std::map<std::string, std::shared_ptr<const Certificate>> m_serving;  // scan() thread only
    std::optional<std::int64_t> m_settle_in_ms;                            // scan() thread only

    mutable std::mutex m_mutex;
    std::shared_ptr<const CertTable> m_table;                 // guarded by m_mutex
    std::array<std::uint64_t, k_cert_refusal_kinds> m_refused{};  // guarded by m_mutex
    CertRefused m_last_refused;                               // guarded by m_mutex
    std::uint64_t m_swaps = 0;                                // guarded by m_mutex
    std::atomic<std::uint64_t> m_generation{0};
};

}  // namespace shortlink::serve
