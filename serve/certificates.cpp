#include "serve/certificates.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <limits>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "formats/clock.h"
#include "serve/log.h"
#include "serve/tls_context.h"

namespace shortlink::serve {

namespace {

using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;
using KeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;

LoadedCertificate refused(CertRefusal reason, std::string message) {
    LoadedCertificate out;
    out.refusal = reason;
    out.error = std::move(message);
    return out;
}

Result<std::string> read_small_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return Status::io_error("cannot open " + path + ": " + std::strerror(errno));
    }
    std::string bytes;
    char buf[16384];
    while (true) {
        const ssize_t n = ::read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            const int err = errno;
            ::close(fd);
            return Status::io_error("cannot read " + path + ": " + std::strerror(err));
        }
        if (n == 0) {
            break;
        }
        bytes.append(buf, static_cast<std::size_t>(n));
        if (bytes.size() > k_max_certificate_file_bytes) {
            ::close(fd);
            return Status::io_error(path + " is larger than " +
                                    std::to_string(k_max_certificate_file_bytes) +
                                    " bytes: not a certificate file");
        }
    }
    ::close(fd);
    return bytes;
}

// The PEM blocks of one file: certificates in order, and at most one private key.
struct PemContents {
    std::vector<X509Ptr> certificates;
    KeyPtr key{nullptr, EVP_PKEY_free};
    int keys = 0;
};

// Every block must parse to its end: a file cut short fails on its last block, never reads
// as a shorter chain. Text between blocks is ignored, as OpenSSL's own tools do.
Status parse_pem(const std::string& bytes, const std::string& path, PemContents& out) {
    BioPtr bio(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())), BIO_free);
    if (!bio) {
        return Status::io_error("out of memory reading " + path);
    }
    for (int block = 1;; ++block) {
        char* name = nullptr;
        char* header = nullptr;
        unsigned char* data = nullptr;
        long length = 0;
        if (PEM_read_bio(bio.get(), &name, &header, &data, &length) != 1) {
            const unsigned long code = ERR_peek_last_error();
            ERR_clear_error();
            if (ERR_GET_LIB(code) == ERR_LIB_PEM && ERR_GET_REASON(code) == PEM_R_NO_START_LINE) {
                return Status::ok();  // no more blocks
            }
            return Status::corruption(path + ": PEM block " + std::to_string(block) +
                                      " is truncated or malformed");
        }
        const std::string type = name;
        const bool encrypted = header != nullptr && std::strstr(header, "ENCRYPTED") != nullptr;
        const unsigned char* p = data;
        Status status;
        if (type == "CERTIFICATE") {
            X509Ptr cert(d2i_X509(nullptr, &p, length), X509_free);
            if (!cert || p != data + length) {
                status = Status::corruption(path + ": certificate " +
                                            std::to_string(out.certificates.size() + 1) +
                                            " does not parse");
            } else {
                out.certificates.push_back(std::move(cert));
            }
        } else if (type == "ENCRYPTED PRIVATE KEY" || encrypted) {
            status = Status::corruption(path + ": the private key is encrypted; the server needs it "
                                               "unencrypted (readable by its user only)");
        } else if (type == "PRIVATE KEY" || type == "RSA PRIVATE KEY" || type == "EC PRIVATE KEY") {
            KeyPtr key(d2i_AutoPrivateKey(nullptr, &p, length), EVP_PKEY_free);
            if (!key || p != data + length) {
                status = Status::corruption(path + ": the private key does not parse");
            } else {
                ++out.keys;
                out.key = std::move(key);
            }
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);
        ERR_clear_error();
        if (!status) {
            return status;
        }
    }
}

// Reads and parses one file into `out`; the refusal when it cannot.
std::optional<LoadedCertificate> read_pem(const std::string& path, PemContents& out) {
    auto bytes = read_small_file(path);
    if (!bytes) {
        return refused(CertRefusal::io, bytes.status().message());
    }
    if (Status s = parse_pem(*bytes, path, out); !s) {
        return refused(CertRefusal::parse, s.message());
    }
    return std::nullopt;
}

std::string time_text(std::int64_t t) {
    const std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string lowercase(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return out;
}

// A label of a host name: letters, digits and hyphens, 1 to 63 of them.
bool valid_label(std::string_view label) {
    if (label.empty() || label.size() > 63) {
        return false;
    }
    return std::all_of(label.begin(), label.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    });
}

bool valid_host(std::string_view host) {
    if (host.empty() || host.size() > 253) {
        return false;
    }
    std::size_t start = 0;
    while (true) {
        const std::size_t dot = host.find('.', start);
        if (!valid_label(host.substr(start, dot == std::string_view::npos ? dot : dot - start))) {
            return false;
        }
        if (dot == std::string_view::npos) {
            return true;
        }
        start = dot + 1;
    }
}

}  // namespace

std::int64_t unix_time_of(const ASN1_TIME* t) {
    std::tm tm{};
    if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
        return 0;
    }
    return static_cast<std::int64_t>(timegm(&tm));
}

std::vector<std::string> dns_names(X509* cert) {
    std::vector<std::string> names;
    auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    if (sans == nullptr) {
        return names;
    }
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
        const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
        if (name->type != GEN_DNS) {
            continue;
        }
        const ASN1_IA5STRING* s = name->d.dNSName;
        names.push_back(lowercase(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                                   static_cast<std::size_t>(ASN1_STRING_length(s)))));
    }
    GENERAL_NAMES_free(sans);
    return names;
}

namespace {

std::string name_text(const X509_NAME* name) {
    BioPtr bio(BIO_new(BIO_s_mem()), BIO_free);
    if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) {
        return "";
    }
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

}  // namespace

std::string subject_of(X509* cert) { return name_text(X509_get_subject_name(cert)); }

std::string issuer_of(X509* cert) { return name_text(X509_get_issuer_name(cert)); }

std::string openssl_detail() {
    const unsigned long code = ERR_peek_last_error();
    std::string out;
    if (code != 0) {
        const char* reason = ERR_reason_error_string(code);
        out = reason != nullptr ? reason : "unknown OpenSSL error";
    }
    ERR_clear_error();
    return out;
}

std::string_view cert_refusal_name(CertRefusal reason) {
    switch (reason) {
    case CertRefusal::io: return "io";
    case CertRefusal::parse: return "parse";
    case CertRefusal::incomplete: return "incomplete";
    case CertRefusal::key_mismatch: return "key_mismatch";
    case CertRefusal::chain: return "chain";
    case CertRefusal::expired: return "expired";
    case CertRefusal::not_yet_valid: return "not_yet_valid";
    case CertRefusal::name_mismatch: return "name_mismatch";
    }
    return "io";
}

bool name_covers(std::string_view pattern, std::string_view host) {
    if (pattern == host) {
        return true;
    }
    if (pattern.size() < 3 || pattern.substr(0, 2) != "*." || host.empty() || host[0] == '*') {
        return false;
    }
    const std::size_t dot = host.find('.');
    return dot != std::string_view::npos && dot > 0 && host.substr(dot + 1) == pattern.substr(2);
}

std::optional<CertFileName> parse_cert_file_name(std::string_view file_name) {
    if (file_name.empty() || file_name[0] == '.') {
        return std::nullopt;
    }
    const std::size_t dot = file_name.rfind('.');
    if (dot == std::string_view::npos || dot == 0) {
        return std::nullopt;
    }
    const std::string_view suffix = file_name.substr(dot + 1);
    CertFileName out;
    if (suffix == "crt") {
        out.kind = CertFileName::Kind::crt;
    } else if (suffix == "key") {
        out.kind = CertFileName::Kind::key;
    } else if (suffix == "pem") {
        out.kind = CertFileName::Kind::pem;
    } else {
        return std::nullopt;
    }
    std::string host = lowercase(file_name.substr(0, dot));
    const bool wildcard = host.size() > 2 && host.substr(0, 2) == "_.";
    const std::string_view rest = wildcard ? std::string_view(host).substr(2) : std::string_view(host);
    if (host == "default") {
        out.host = host;
    } else if (valid_host(rest)) {
        out.host = wildcard ? "*." + std::string(rest) : host;
    }
    return out;
}

LoadedCertificate load_certificate(const std::string& host, const std::string& cert_path,
                                   const std::string& key_path, std::int64_t now) {
    ERR_clear_error();
    PemContents pem;
    if (auto refusal = read_pem(cert_path, pem)) {
        return std::move(*refusal);
    }
    if (!key_path.empty()) {
        PemContents key_pem;
        if (auto refusal = read_pem(key_path, key_pem)) {
            return std::move(*refusal);
        }
        if (key_pem.keys == 0) {
            return refused(CertRefusal::parse, key_path + ": no private key in it");
        }
        pem.keys += key_pem.keys;
        pem.key = std::move(key_pem.key);
    }
    if (pem.certificates.empty()) {
        return refused(CertRefusal::parse, cert_path + ": no certificate in it");
    }
    const std::string key_file = key_path.empty() ? cert_path : key_path;
    if (pem.keys == 0) {
        return refused(CertRefusal::parse, key_file + ": no private key in it");
    }
    if (pem.keys > 1) {
        return refused(CertRefusal::parse, key_file + ": more than one private key");
    }
    X509* leaf = pem.certificates.front().get();
    if (X509_check_private_key(leaf, pem.key.get()) != 1) {
        ERR_clear_error();
        return refused(CertRefusal::key_mismatch,
                       key_file + ": the private key does not belong to the certificate");
    }
    auto cert = std::make_shared<Certificate>();
    cert->host = host;
    cert->path = cert_path;
    cert->not_before = std::numeric_limits<std::int64_t>::min();
    cert->not_after = std::numeric_limits<std::int64_t>::max();
    for (std::size_t i = 0; i < pem.certificates.size(); ++i) {
        X509* c = pem.certificates[i].get();
        const std::string which =
            i == 0 ? std::string("the certificate") : "chain certificate " + std::to_string(i);
        if (i > 0) {
            X509* issued = pem.certificates[i - 1].get();
            EVP_PKEY* issuer_key = X509_get0_pubkey(c);
            if (X509_check_issued(c, issued) != X509_V_OK || issuer_key == nullptr ||
                X509_verify(issued, issuer_key) != 1) {
                ERR_clear_error();
                return refused(CertRefusal::chain,
                               cert_path + ": " + which + " did not issue " +
                                   (i == 1 ? std::string("the certificate")
                                           : "chain certificate " + std::to_string(i - 1)) +
                                   " (the chain must follow the leaf, each issuer after what it issued)");
            }
        }
        const std::int64_t not_before = unix_time_of(X509_get0_notBefore(c));
        const std::int64_t not_after = unix_time_of(X509_get0_notAfter(c));
        if (now < not_before) {
            return refused(CertRefusal::not_yet_valid,
                           cert_path + ": " + which + " is not valid before " + time_text(not_before));
        }
        if (now >= not_after) {
            return refused(CertRefusal::expired,
                           cert_path + ": " + which + " expired at " + time_text(not_after));
        }
        cert->not_before = std::max(cert->not_before, not_before);
        cert->not_after = std::min(cert->not_after, not_after);
    }
    cert->names = dns_names(leaf);
    cert->subject = subject_of(leaf);
    if (host != "default") {
        const bool covered = std::any_of(cert->names.begin(), cert->names.end(),
                                         [&](const std::string& n) { return name_covers(n, host); });
        if (!covered) {
            std::string names;
            for (const std::string& n : cert->names) {
                names += (names.empty() ? "" : ", ") + n;
            }
            return refused(CertRefusal::name_mismatch,
                           cert_path + ": the certificate does not cover " + host +
                               " (subjectAltName: " + (names.empty() ? "no DNS names" : names) + ")");
        }
    }
    std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
    if (!ctx) {
        return refused(CertRefusal::io, "cannot make a TLS context: " + openssl_detail());
    }
    if (Status s = configure_tls_context(ctx.get()); !s) {
        return refused(CertRefusal::io, s.message());
    }
    if (SSL_CTX_use_certificate(ctx.get(), leaf) != 1) {
        return refused(CertRefusal::parse, cert_path + ": the certificate is not usable: " + openssl_detail());
    }
    for (std::size_t i = 1; i < pem.certificates.size(); ++i) {
        if (SSL_CTX_add1_chain_cert(ctx.get(), pem.certificates[i].get()) != 1) {
            return refused(CertRefusal::chain, cert_path + ": chain certificate " + std::to_string(i) +
                                                   " is not usable: " + openssl_detail());
        }
    }
    if (SSL_CTX_use_PrivateKey(ctx.get(), pem.key.get()) != 1 || SSL_CTX_check_private_key(ctx.get()) != 1) {
        return refused(CertRefusal::key_mismatch, key_file + ": the private key is not usable: " + openssl_detail());
    }
    cert->context = std::move(ctx);
    LoadedCertificate out;
    out.certificate = std::move(cert);
    return out;
}

CertTable::CertTable(std::vector<std::shared_ptr<const Certificate>> certificates)
    : m_all(std::move(certificates)) {
    std::sort(m_all.begin(), m_all.end(),
              [](const auto& a, const auto& b) { return a->host < b->host; });
    for (const auto& c : m_all) {
        if (c->host == "default") {
            m_default = c.get();
        } else {
            m_by_host.emplace(c->host, c.get());
        }
    }
}

const Certificate* CertTable::select(std::string_view server_name) const {
    if (!server_name.empty() && server_name.back() == '.') {
        server_name.remove_suffix(1);  // an absolute name, "go.example.com."
    }
    if (server_name.empty() || server_name.size() > 253) {
        return m_default;
    }
    const std::string name = lowercase(server_name);
    if (const auto it = m_by_host.find(name); it != m_by_host.end()) {
        return it->second;
    }
    const std::size_t dot = name.find('.');
    if (dot != std::string::npos && dot > 0) {
        const std::string wildcard = "*" + name.substr(dot);
        if (const auto it = m_by_host.find(wildcard); it != m_by_host.end()) {
            return it->second;
        }
    }
    return m_default;
}

CertificateDirectory::CertificateDirectory(std::string dir, int log_fd, std::int64_t pair_settle_ms)
    : m_dir(std::move(dir)), m_log_fd(log_fd), m_pair_settle_ms(pair_settle_ms), m_table(std::make_shared<CertTable>(
                                                   std::vector<std::shared_ptr<const Certificate>>{})) {}

std::shared_ptr<const CertTable> CertificateDirectory::current() const {
    std::lock_guard lock(m_mutex);
    return m_table;
}

CertificateReport CertificateDirectory::report() const {
    std::lock_guard lock(m_mutex);
    CertificateReport r;
    r.dir = m_dir;
    r.table = m_table;
    r.refused = m_refused;
    r.last_refused = m_last_refused;
    r.swaps = m_swaps;
    return r;
}

void CertificateDirectory::refuse(const std::string& path, CertRefusal reason, const std::string& message) {
    {
        std::lock_guard lock(m_mutex);
        ++m_refused[static_cast<std::size_t>(reason)];
        m_last_refused = CertRefused{path, std::string(cert_refusal_name(reason)), message,
                                     clock::unix_seconds()};
    }
    LogLine("error", "certificate_refused").str("path", path)
        .str("reason", cert_refusal_name(reason)).str("detail", message).emit(m_log_fd);
}

namespace {

// Whether the files a host was judged from are still the ones stat() saw before reading them.
bool still_the_same(const std::array<std::string, 3>& paths,
                    const std::array<std::optional<FileStamp>, 3>& stamps) {
    for (std::size_t i = 0; i < paths.size(); ++i) {
        if (!stamps[i]) {
            continue;
        }
        struct stat st{};
        if (::stat(paths[i].c_str(), &st) != 0 || FileStamp::of(st) != *stamps[i]) {
            return false;
        }
    }
    return true;
}

}  // namespace

bool CertificateDirectory::scan(std::int64_t now) {
    // What the directory holds now: per host, the stamps of its .crt, .key and .pem, and the
    // file names that did not name a host.
    std::map<std::string, HostStamps> found;
    std::map<std::string, std::array<std::string, 3>> paths;  // host -> .crt, .key, .pem
    std::map<std::string, std::string> bad_names;  // file name -> path
    std::map<std::string, std::int64_t> last_change_ms;  // host -> newest ctime of its files
    m_settle_in_ms.reset();
    const std::int64_t now_ms = clock::unix_millis();
    DIR* d = ::opendir(m_dir.c_str());
    if (d == nullptr) {
        LogLine("error", "certificates_unreadable").str("dir", m_dir)
            .str("detail", std::strerror(errno)).emit(m_log_fd);
        return false;
    }
    while (const dirent* entry = ::readdir(d)) {
        const auto parsed = parse_cert_file_name(entry->d_name);
        if (!parsed) {
            continue;
        }
        const std::string path = m_dir + "/" + entry->d_name;
        struct stat st{};
        if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
            continue;
        }
        if (parsed->host.empty()) {
            bad_names.emplace(entry->d_name, path);
            continue;
        }
        found[parsed->host][static_cast<std::size_t>(parsed->kind)] = FileStamp::of(st);
        // ctime, not mtime: a rename into place changes the former and keeps the latter.
        const std::int64_t changed_ms =
            static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1000 + st.st_ctim.tv_nsec / 1000000;
        auto& last = last_change_ms[parsed->host];
        last = std::max(last, changed_ms);
        paths[parsed->host][static_cast<std::size_t>(parsed->kind)] = path;
    }
    ::closedir(d);
    for (const auto& [name, path] : bad_names) {
        const std::string key = "\x01" + name;  // refused once, not at every scan
        if (m_seen.emplace(key, HostStamps{}).second) {
            refuse(path, CertRefusal::name_mismatch,
                   path + ": '" + name.substr(0, name.rfind('.')) +
                       "' is not a host name (HOST.crt, _.DOMAIN.crt for *.DOMAIN, default.crt)");
        }
    }
    // A host judged too early is left as it was and looked at again after the rest of the grace.
    const auto wait_for = [&](const std::string& host, std::int64_t still_ms) {
        m_seen.erase(host);
        const std::int64_t in_ms = std::max<std::int64_t>(still_ms, 50);
        m_settle_in_ms = m_settle_in_ms ? std::min(*m_settle_in_ms, in_ms) : in_ms;
    };
    bool changed = false;
    for (const auto& [host, stamps] : found) {
        const auto seen = m_seen.find(host);
        if (seen != m_seen.end() && seen->second == stamps) {
            continue;
        }
        m_seen[host] = stamps;
        const std::int64_t settle_left_ms = last_change_ms[host] + m_pair_settle_ms - now_ms;
        const auto& crt = stamps[static_cast<std::size_t>(CertFileName::Kind::crt)];
        const auto& key = stamps[static_cast<std::size_t>(CertFileName::Kind::key)];
        const auto& pem = stamps[static_cast<std::size_t>(CertFileName::Kind::pem)];
        const auto& [crt_path, key_file, pem_path] = paths[host];
        std::string cert_path;
        std::string key_path;
        if (pem && (crt || key)) {
            refuse(pem_path, CertRefusal::incomplete,
                   pem_path + " and " + (crt ? crt_path : key_file) +
                       " both exist: keep one of HOST.pem or HOST.crt with HOST.key");
            continue;
        }
        if (pem) {
            cert_path = pem_path;
        } else if (crt && key) {
            cert_path = crt_path;
            key_path = key_file;
        } else if (settle_left_ms > 0) {
            wait_for(host, settle_left_ms);  // the other file of the pair may be on its way
            continue;
        } else {
            refuse(crt ? crt_path : key_file, CertRefusal::incomplete,
                   crt ? crt_path + " has no private key beside it (HOST.key)"
                       : key_file + " has no certificate beside it (HOST.crt)");
            continue;
        }
        LoadedCertificate loaded = load_certificate(host, cert_path, key_path, now);
        if (!still_the_same(paths[host], stamps)) {
            wait_for(host, 0);  // replaced while it was read: what was read may be a mix
            continue;
        }
        if (!loaded.certificate && loaded.refusal == CertRefusal::key_mismatch && !pem &&
            settle_left_ms > 0) {
            wait_for(host, settle_left_ms);  // half of a two-file renewal
            continue;
        }
        if (!loaded.certificate) {
            refuse(cert_path, loaded.refusal, loaded.error);
            if (loaded.refusal == CertRefusal::io) {
                m_seen.erase(host);  // judged again at the next scan, changed or not
            }
            continue;
        }
        const Certificate& c = *loaded.certificate;
        LogLine("info", "certificate_loaded").str("host", c.host).str("path", c.path)
            .str("subject", c.subject).num("not_after", c.not_after)
            .num("expiry_days", (c.not_after - now) / 86400).emit(m_log_fd);
        m_serving[host] = std::move(loaded.certificate);
        changed = true;
    }
    // A host none of whose files is left stops being served.
    for (auto it = m_serving.begin(); it != m_serving.end();) {
        if (found.count(it->first) == 0) {
            LogLine("warn", "certificate_removed").str("host", it->first)
                .str("path", it->second->path).emit(m_log_fd);
            it = m_serving.erase(it);
            changed = true;
        } else {
            ++it;
        }
    }
    for (auto it = m_seen.begin(); it != m_seen.end();) {
        const bool bad_name = !it->first.empty() && it->first[0] == '\x01';
        const bool gone = bad_name ? bad_names.count(it->first.substr(1)) == 0 : found.count(it->first) == 0;
        it = gone ? m_seen.erase(it) : std::next(it);
    }
    if (!changed) {
        return false;
    }
    std::vector<std::shared_ptr<const Certificate>> all;
    for (const auto& [host, cert] : m_serving) {
        all.push_back(cert);
    }
    auto table = std::make_shared<const CertTable>(std::move(all));
    {
        std::lock_guard lock(m_mutex);
        m_table = std::move(table);
        ++m_swaps;
        m_generation.fetch_add(1, std::memory_order_release);
    }
    return true;
}

}  // namespace shortlink::serve
