// Certificate validation and SNI selection (serve/certificates.cpp), with certificates made
// here by a throwaway CA: every refusal reason, and what a renewal does to the served table.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "serve/certificates.h"

using namespace shortlink::serve;

namespace {

constexpr std::int64_t k_now = 1'800'000'000;  // 2027-01-15
constexpr std::int64_t k_day = 86400;

using KeyPtr = std::shared_ptr<EVP_PKEY>;
using CertPtr = std::shared_ptr<X509>;

KeyPtr make_key() { return KeyPtr(EVP_EC_gen("P-256"), EVP_PKEY_free); }

// A certificate for `key`, signed by `issuer_key` (itself when `issuer` is null), valid from
// `from` to `to` (Unix seconds), with `names` as its subjectAltName DNS entries.
CertPtr make_cert(const KeyPtr& key, const std::string& cn, const std::vector<std::string>& names,
                  X509* issuer, const KeyPtr& issuer_key, std::int64_t from, std::int64_t to, bool ca) {
    CertPtr cert(X509_new(), X509_free);
    X509_set_version(cert.get(), 2);
    static long serial = 1;
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++);
    X509_time_adj_ex(X509_getm_notBefore(cert.get()), 0, static_cast<long>(from - time(nullptr)), nullptr);
    X509_time_adj_ex(X509_getm_notAfter(cert.get()), 0, static_cast<long>(to - time(nullptr)), nullptr);
    X509_set_pubkey(cert.get(), key.get());
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()),
                               -1, -1, 0);
    X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
    std::string san;
    for (const std::string& n : names) {
        san += (san.empty() ? "DNS:" : ",DNS:") + n;
    }
    if (!san.empty()) {
        X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san.c_str());
        X509_add_ext(cert.get(), ext, -1);
        X509_EXTENSION_free(ext);
    }
    X509_EXTENSION* bc = X509V3_EXT_conf_nid(nullptr, &ctx, NID_basic_constraints,
                                             ca ? "critical,CA:TRUE" : "CA:FALSE");
    X509_add_ext(cert.get(), bc, -1);
    X509_EXTENSION_free(bc);
    X509_sign(cert.get(), issuer_key.get(), EVP_sha256());
    return cert;
}

std::string pem_of(X509* cert) {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, cert);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    return out;
}

std::string pem_of(EVP_PKEY* key) {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    return out;
}

// A CA, an intermediate, and leaves they issue into a temporary directory.
struct Pki {
    KeyPtr root_key = make_key();
    CertPtr root = make_cert(root_key, "Test Root", {}, nullptr, root_key, k_now - 400 * k_day,
                             k_now + 4000 * k_day, true);
    KeyPtr mid_key = make_key();
    CertPtr mid = make_cert(mid_key, "Test Intermediate", {}, root.get(), root_key,
                            k_now - 300 * k_day, k_now + 2000 * k_day, true);
    std::filesystem::path dir;

    Pki() {
        char tmpl[] = "/tmp/shortlink-certs-XXXXXX";
        dir = mkdtemp(tmpl);
    }
    ~Pki() { std::filesystem::remove_all(dir); }

    struct Leaf {
        KeyPtr key;
        CertPtr cert;
    };
    Leaf leaf(const std::vector<std::string>& names, std::int64_t from = k_now - k_day,
              std::int64_t to = k_now + 90 * k_day) {
        Leaf l{make_key(), nullptr};
        l.cert = make_cert(l.key, names.empty() ? "none" : names[0], names, mid.get(), mid_key, from, to, false);
        return l;
    }
    std::string write(const std::string& name, const std::string& text) {
        const std::string path = (dir / name).string();
        std::ofstream(path, std::ios::binary) << text;
        return path;
    }
    // HOST.crt (leaf + intermediate) and HOST.key; returns the .crt path.
    std::string write_pair(const std::string& stem, const Leaf& l) {
        write(stem + ".key", pem_of(l.key.get()));
        return write(stem + ".crt", pem_of(l.cert.get()) + pem_of(mid.get()));
    }
};

}  // namespace

TEST_CASE("NameCoversExactNamesAndOneLabelWildcards", "[certificates]") {
    CHECK(name_covers("go.example.com", "go.example.com"));
    CHECK(name_covers("*.example.com", "go.example.com"));
    CHECK_FALSE(name_covers("*.example.com", "example.com"));
    CHECK_FALSE(name_covers("*.example.com", "a.b.example.com"));
    CHECK_FALSE(name_covers("*.example.com", "go.example.org"));
    CHECK(name_covers("*.example.com", "*.example.com"));
    CHECK_FALSE(name_covers("go.example.com", "*.example.com"));
    CHECK_FALSE(name_covers("*.com", "*.example.com"));
}

TEST_CASE("FileNamesNameHostsWildcardsAndDefault", "[certificates]") {
    auto crt = parse_cert_file_name("go.example.com.crt");
    REQUIRE(crt);
    CHECK(crt->host == "go.example.com");
    CHECK(crt->kind == CertFileName::Kind::crt);
    auto wild = parse_cert_file_name("_.Example.com.pem");
    REQUIRE(wild);
    CHECK(wild->host == "*.example.com");
    CHECK(wild->kind == CertFileName::Kind::pem);
    auto def = parse_cert_file_name("default.key");
    REQUIRE(def);
    CHECK(def->host == "default");
    CHECK(def->kind == CertFileName::Kind::key);
    CHECK_FALSE(parse_cert_file_name(".go.example.com.crt.tmp"));
    CHECK_FALSE(parse_cert_file_name(".go.example.com.crt"));
    CHECK_FALSE(parse_cert_file_name("README"));
    CHECK_FALSE(parse_cert_file_name("go.example.com.csr"));
    auto bad = parse_cert_file_name("a b.crt");
    REQUIRE(bad);
    CHECK(bad->host.empty());
    auto star = parse_cert_file_name("*.example.com.crt");
    REQUIRE(star);
    CHECK(star->host.empty());
}

TEST_CASE("LoadAcceptsLeafChainAndKey", "[certificates]") {
    Pki pki;
    const auto leaf = pki.leaf({"go.example.com", "www.example.com"});
    const std::string crt = pki.write_pair("go.example.com", leaf);
    const LoadedCertificate loaded = load_certificate("go.example.com", crt, (pki.dir / "go.example.com.key").string(), k_now);
    INFO(loaded.error);
    REQUIRE(loaded.certificate);
    CHECK(loaded.certificate->names == std::vector<std::string>{"go.example.com", "www.example.com"});
    CHECK(loaded.certificate->subject == "CN=go.example.com");
    CHECK(loaded.certificate->not_after == k_now + 90 * k_day);
    CHECK(loaded.certificate->context != nullptr);
}

TEST_CASE("LoadAcceptsOnePemWithKeyFirst", "[certificates]") {
    Pki pki;
    const auto leaf = pki.leaf({"*.example.com"});
    const std::string pem = pki.write("_.example.com.pem", pem_of(leaf.key.get()) + pem_of(leaf.cert.get()) +
                                                                pem_of(pki.mid.get()));
    const LoadedCertificate loaded = load_certificate("*.example.com", pem, "", k_now);
    INFO(loaded.error);
    CHECK(loaded.certificate);
}

TEST_CASE("LoadRefusesEachBadFile", "[certificates]") {
    Pki pki;
    const auto leaf = pki.leaf({"go.example.com"});
    const std::string key = pki.write("k.key", pem_of(leaf.key.get()));
    const std::string good = pem_of(leaf.cert.get()) + pem_of(pki.mid.get());
    struct Case {
        const char* name;
        std::string crt;
        std::string key;
        std::string host;
        CertRefusal reason;
        const char* message;
    };
    const auto other = pki.leaf({"go.example.com"});
    const auto expired = pki.leaf({"go.example.com"}, k_now - 100 * k_day, k_now - k_day);
    const auto future = pki.leaf({"go.example.com"}, k_now + k_day, k_now + 100 * k_day);
    const std::vector<Case> cases = {
        {"TruncatedInTheLeaf", good.substr(0, good.size() / 4), key, "go.example.com", CertRefusal::parse,
         "PEM block 1 is truncated or malformed"},
        {"TruncatedInTheChain", good.substr(0, good.size() - 40), key, "go.example.com", CertRefusal::parse,
         "PEM block 2 is truncated or malformed"},
        {"Empty", "", key, "go.example.com", CertRefusal::parse, "no certificate in it"},
        {"MismatchedKey", pem_of(other.cert.get()) + pem_of(pki.mid.get()), key, "go.example.com",
         CertRefusal::key_mismatch, "the private key does not belong to the certificate"},
        {"Expired", pem_of(expired.cert.get()) + pem_of(pki.mid.get()),
         pki.write("e.key", pem_of(expired.key.get())), "go.example.com", CertRefusal::expired,
         "the certificate expired at"},
        {"NotYetValid", pem_of(future.cert.get()) + pem_of(pki.mid.get()),
         pki.write("f.key", pem_of(future.key.get())), "go.example.com", CertRefusal::not_yet_valid,
         "the certificate is not valid before"},
        {"NameNotCovered", good, key, "other.example.com", CertRefusal::name_mismatch,
         "does not cover other.example.com (subjectAltName: go.example.com)"},
        {"ChainOutOfOrder", pem_of(leaf.cert.get()) + pem_of(pki.root.get()), key, "go.example.com",
         CertRefusal::chain, "chain certificate 1 did not issue the certificate"},
        {"NoKey", good, pki.write("n.key", "just text\n"), "go.example.com", CertRefusal::parse,
         "no private key in it"},
    };
    for (const Case& c : cases) {
        SECTION(c.name) {
            const std::string crt = pki.write(std::string(c.name) + ".crt", c.crt);
            const LoadedCertificate loaded = load_certificate(c.host, crt, c.key, k_now);
            INFO(loaded.error);
            CHECK_FALSE(loaded.certificate);
            CHECK(loaded.refusal == c.reason);
            CHECK(loaded.error.find(c.message) != std::string::npos);
        }
    }
}

TEST_CASE("SelectPrefersExactThenWildcardThenDefault", "[certificates]") {
    const auto make = [](const std::string& host) {
        auto c = std::make_shared<Certificate>();
        c->host = host;
        return std::shared_ptr<const Certificate>(c);
    };
    const CertTable table({make("go.example.com"), make("*.example.com"), make("default")});
    CHECK(table.select("go.example.com")->host == "go.example.com");
    CHECK(table.select("GO.Example.COM.")->host == "go.example.com");
    CHECK(table.select("docs.example.com")->host == "*.example.com");
    CHECK(table.select("a.docs.example.com")->host == "default");
    CHECK(table.select("example.com")->host == "default");
    CHECK(table.select("")->host == "default");
    const CertTable without_default({make("go.example.com")});
    CHECK(without_default.select("other.example") == nullptr);
    CHECK(without_default.select("") == nullptr);
}

TEST_CASE("DirectoryKeepsTheOldCertificateWhenItsRenewalIsBad", "[certificates]") {
    Pki pki;
    const auto first = pki.leaf({"go.example.com"});
    pki.write_pair("go.example.com", first);
    pki.write("README.txt", "not a certificate\n");
    CertificateDirectory dir(pki.dir.string(), -1);
    REQUIRE(dir.scan(k_now));
    const auto table = dir.current();
    REQUIRE(table->certificates().size() == 1);
    const auto served = table->certificates()[0];
    CHECK_FALSE(dir.scan(k_now));  // nothing changed

    // A truncated renewal: refused and counted, the first certificate still served.
    const auto second = pki.leaf({"go.example.com"});
    const std::string full = pem_of(second.cert.get()) + pem_of(pki.mid.get());
    pki.write("go.example.com.crt", full.substr(0, full.size() / 2));
    CHECK_FALSE(dir.scan(k_now));
    CHECK(dir.current()->certificates()[0] == served);
    CertificateReport r = dir.report();
    CHECK(r.refused[static_cast<std::size_t>(CertRefusal::parse)] == 1);
    CHECK(r.last_refused.reason == "parse");

    // A good renewal (key first, then certificate) replaces it.
    pki.write_pair("go.example.com", second);
    CHECK(dir.scan(k_now));
    CHECK(dir.current()->certificates()[0] != served);
    CHECK(dir.current()->select("go.example.com")->not_after == k_now + 90 * k_day);

    // Files of a bad name are refused once; removing every file of a host stops serving it.
    pki.write("bad name.crt", full);
    CHECK_FALSE(dir.scan(k_now));
    CHECK_FALSE(dir.scan(k_now));
    CHECK(dir.report().refused[static_cast<std::size_t>(CertRefusal::name_mismatch)] == 1);
    std::filesystem::remove(pki.dir / "go.example.com.crt");
    std::filesystem::remove(pki.dir / "go.example.com.key");
    CHECK(dir.scan(k_now));
    CHECK(dir.current()->empty());
}

TEST_CASE("DirectoryWaitsForTheSecondHalfOfATwoFileRenewal", "[certificates]") {
    Pki pki;
    const auto first = pki.leaf({"go.example.com"});
    pki.write_pair("go.example.com", first);
    constexpr std::int64_t k_settle_ms = 300;
    CertificateDirectory dir(pki.dir.string(), -1, k_settle_ms);
    REQUIRE(dir.scan(k_now));
    const auto served = dir.current()->certificates()[0];
    CHECK_FALSE(dir.settle_in_ms());

    // The new key has arrived, its certificate not yet: nothing is refused, the old pair serves,
    // and the scan asks to be run again within the grace.
    const auto second = pki.leaf({"go.example.com"});
    pki.write("go.example.com.key", pem_of(second.key.get()));
    CHECK_FALSE(dir.scan(k_now));
    REQUIRE(dir.settle_in_ms());
    CHECK(*dir.settle_in_ms() <= k_settle_ms);
    CHECK(dir.current()->certificates()[0] == served);
    CHECK(dir.report().refused[static_cast<std::size_t>(CertRefusal::key_mismatch)] == 0);

    // The certificate follows: the new pair is served, and nothing more is waited for.
    pki.write("go.example.com.crt", pem_of(second.cert.get()) + pem_of(pki.mid.get()));
    CHECK(dir.scan(k_now));
    CHECK_FALSE(dir.settle_in_ms());
    CHECK(dir.current()->certificates()[0] != served);

    // A key that stays without its certificate past the grace is refused, once.
    const auto third = pki.leaf({"go.example.com"});
    pki.write("go.example.com.key", pem_of(third.key.get()));
    CHECK_FALSE(dir.scan(k_now));
    CHECK(dir.settle_in_ms());
    ::usleep((k_settle_ms + 50) * 1000);
    CHECK_FALSE(dir.scan(k_now));
    CHECK_FALSE(dir.settle_in_ms());
    CHECK(dir.report().refused[static_cast<std::size_t>(CertRefusal::key_mismatch)] == 1);
    CHECK_FALSE(dir.scan(k_now));
    CHECK(dir.report().refused[static_cast<std::size_t>(CertRefusal::key_mismatch)] == 1);

    // A key alone for a new host is waited for too, then refused as incomplete.
    pki.write("new.example.com.key", pem_of(third.key.get()));
    CHECK_FALSE(dir.scan(k_now));
    CHECK(dir.settle_in_ms());
    CHECK(dir.report().refused[static_cast<std::size_t>(CertRefusal::incomplete)] == 0);
    ::usleep((k_settle_ms + 50) * 1000);
    CHECK_FALSE(dir.scan(k_now));
    CHECK(dir.report().refused[static_cast<std::size_t>(CertRefusal::incomplete)] == 1);
}
