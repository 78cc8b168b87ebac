#include "formats/keys.h"
#include "formats/bytes.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

namespace shortlink::formats {

namespace {

// Key files are a few hundred bytes; anything much larger is not ours.
constexpr std::size_t k_max_key_file = 64 * 1024;
// scrypt cost for encrypted secret keys: N=2^14, r=8 needs 16 MiB, below OpenSSL's 32 MiB
// default decoding limit, and takes ~50 ms: cheap for a user, costly for a guesser.
constexpr std::uint64_t k_key_scrypt_n = 1u << 14;
constexpr std::uint64_t k_key_scrypt_r = 8;
constexpr std::uint64_t k_key_scrypt_p = 1;
// An encrypted key file names its own key derivation cost, and OpenSSL pays it before it can tell
// a wrong passphrase: 2^31 PBKDF2 iterations, or an scrypt parallelism of 2^17 within the 32 MiB
// memory limit, is hours of CPU. Costs above these are refused unread. PBKDF2: OpenSSL writes
// 2048 iterations by default, current advice is 600,000 (about 0.3 s). scrypt: N * r * p at most
// 8 times what keygen writes.
constexpr std::uint64_t k_max_pbkdf2_iterations = 1'000'000;
constexpr std::uint64_t k_max_scrypt_cost = 8 * k_key_scrypt_n * k_key_scrypt_r * k_key_scrypt_p;

struct BioFree {
    void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
struct PkeyFree {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
struct SigFree {
    void operator()(X509_SIG* s) const { X509_SIG_free(s); }
};
struct Pbe2Free {
    void operator()(PBE2PARAM* p) const { PBE2PARAM_free(p); }
};
struct Pbkdf2Free {
    void operator()(PBKDF2PARAM* p) const { PBKDF2PARAM_free(p); }
};
struct ScryptFree {
    void operator()(SCRYPT_PARAMS* p) const { SCRYPT_PARAMS_free(p); }
};
struct MdCtxFree {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

std::string openssl_error() {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0) {
        return "unknown OpenSSL error";
    }
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    return buf;
}

Result<std::string> read_small_file(const std::string& path, const char* what) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        if (errno == ENOENT) {
            return Status::not_found(std::string(what) + " " + path + " does not exist");
        }
        return Status::io_error("cannot read " + std::string(what) + " " + path + ": " +
                                std::strerror(errno));
    }
    std::string data(k_max_key_file + 1, '\0');
    in.read(data.data(), static_cast<std::streamsize>(data.size()));
    data.resize(static_cast<std::size_t>(in.gcount()));
    if (data.size() > k_max_key_file) {
        return Status::invalid_argument(path + " is too large to be a key file");
    }
    return data;
}

bool contains(const std::string& s, const char* needle) {
    return s.find(needle) != std::string::npos;
}

// Common shape checks; returns the PEM label found ("PRIVATE KEY", ...).
Result<std::string> classify_pem(const std::string& text, const std::string& path) {
    static const char* const k_labels[] = {"ENCRYPTED PRIVATE KEY", "PRIVATE KEY", "PUBLIC KEY"};
    for (const char* label : k_labels) {
        const std::string begin = std::string("-----BEGIN ") + label + "-----";
        if (!contains(text, begin.c_str())) {
            continue;
        }
        const std::string end = std::string("-----END ") + label + "-----";
        if (!contains(text, end.c_str())) {
            return Status::corruption(path + ": truncated key file (no END line)");
        }
        return std::string(label);
    }
    if (text.empty()) {
        return Status::corruption(path + ": empty key file");
    }
    return Status::corruption(path + ": not a shortlink key file (no PEM key block)");
}

// The parameters of `algorithm` decoded as `T` (an OpenSSL ASN.1 type); nullptr if they are not.
template <class T, class Free>
std::unique_ptr<T, Free> algorithm_parameters(const X509_ALGOR* algorithm, const ASN1_ITEM* item) {
    int type = 0;
    const void* value = nullptr;
    X509_ALGOR_get0(nullptr, &type, &value, algorithm);
    if (type != V_ASN1_SEQUENCE || value == nullptr) {
        return nullptr;
    }
    return std::unique_ptr<T, Free>(
        static_cast<T*>(ASN1_item_unpack(static_cast<const ASN1_STRING*>(value), item)));
}

bool integer_over(const ASN1_INTEGER* n, std::uint64_t limit, std::uint64_t& value) {
    return n == nullptr || ASN1_INTEGER_get_uint64(&value, n) != 1 || value > limit;
}

// Refuses an encrypted secret key whose key derivation would cost more than the limits above
// (or that uses a scheme other than PBES2 with PBKDF2 or scrypt), before anything derives a key.
// Encryption it cannot decode is left to the decryption, which reports the file as damaged.
Status check_encryption_cost(const std::string& text, const std::string& path) {
    BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    std::unique_ptr<X509_SIG, SigFree> sealed(PEM_read_bio_PKCS8(bio.get(), nullptr, nullptr, nullptr));
    ERR_clear_error();
    if (!sealed) {
        return Status::ok();
    }
    const X509_ALGOR* scheme = nullptr;
    X509_SIG_get0(sealed.get(), &scheme, nullptr);
    const ASN1_OBJECT* scheme_id = nullptr;
    X509_ALGOR_get0(&scheme_id, nullptr, nullptr, scheme);
    if (OBJ_obj2nid(scheme_id) != NID_pbes2) {
        return Status::unsupported(path + ": encrypted with a scheme other than PBES2 (keygen writes "
                                          "PBES2 with scrypt)");
    }
    auto pbe2 = algorithm_parameters<PBE2PARAM, Pbe2Free>(scheme, ASN1_ITEM_rptr(PBE2PARAM));
    if (!pbe2 || pbe2->keyfunc == nullptr) {
        return Status::ok();
    }
    const ASN1_OBJECT* kdf_id = nullptr;
    X509_ALGOR_get0(&kdf_id, nullptr, nullptr, pbe2->keyfunc);
    std::uint64_t iterations = 0;
    std::uint64_t n = 0;
    std::uint64_t r = 0;
    std::uint64_t p = 0;
    switch (OBJ_obj2nid(kdf_id)) {
    case NID_id_pbkdf2: {
        auto kdf = algorithm_parameters<PBKDF2PARAM, Pbkdf2Free>(pbe2->keyfunc, ASN1_ITEM_rptr(PBKDF2PARAM));
        if (kdf && integer_over(kdf->iter, k_max_pbkdf2_iterations, iterations)) {
            return Status::unsupported(path + ": its PBKDF2 iteration count is over the limit of " +
                                       std::to_string(k_max_pbkdf2_iterations));
        }
        return Status::ok();
    }
    case NID_id_scrypt: {
        auto kdf = algorithm_parameters<SCRYPT_PARAMS, ScryptFree>(pbe2->keyfunc, ASN1_ITEM_rptr(SCRYPT_PARAMS));
        if (kdf && (integer_over(kdf->costParameter, k_max_scrypt_cost, n) ||
                    integer_over(kdf->blockSize, k_max_scrypt_cost, r) ||
                    integer_over(kdf->parallelizationParameter, k_max_scrypt_cost, p) ||
                    n * r > k_max_scrypt_cost || n * r * p > k_max_scrypt_cost)) {
            return Status::unsupported(path + ": its scrypt cost (N * r * p) is over the limit of " +
                                       std::to_string(k_max_scrypt_cost));
        }
        return Status::ok();
    }
    default:
        return Status::unsupported(path + ": encrypted with a key derivation other than scrypt or PBKDF2");
    }
}

Result<PublicKeyBytes> raw_public(EVP_PKEY* pkey) {
    PublicKeyBytes out{};
    std::size_t len = out.size();
    if (EVP_PKEY_get_raw_public_key(pkey, out.data(), &len) != 1 || len != out.size()) {
        return Status::corruption("cannot extract the Ed25519 public key: " + openssl_error());
    }
    return out;
}

Status write_file(const std::string& path, const std::string& data, mode_t mode, bool overwrite) {
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? O_TRUNC : O_EXCL);
    const int fd = ::open(path.c_str(), flags, mode);
    if (fd < 0) {
        if (errno == EEXIST) {
            return Status::conflict(path + " already exists (use --force to replace it)");
        }
        return Status::io_error("cannot create " + path + ": " + std::strerror(errno));
    }
    Status status;
    if (::fchmod(fd, mode) != 0) {
        status = Status::io_error("cannot set mode of " + path + ": " + std::strerror(errno));
    }
    std::size_t done = 0;
    while (status.is_ok() && done < data.size()) {
        const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            status = Status::io_error("cannot write " + path + ": " + std::strerror(errno));
            break;
        }
        done += static_cast<std::size_t>(n);
    }
    if (status.is_ok() && ::fsync(fd) != 0) {
        status = Status::io_error("cannot fsync " + path + ": " + std::strerror(errno));
    }
    ::close(fd);
    return status;
}

std::string bio_to_string(BIO* bio) {
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<std::size_t>(len));
}

}  // namespace

std::string key_id_for(const PublicKeyBytes& public_key) {
    static constexpr char k_prefix[] = "shortlink key id v1";  // sizeof includes the NUL
    unsigned char digest[EVP_MAX_MD_SIZE];
    std::string msg(k_prefix, sizeof(k_prefix));
    msg.append(reinterpret_cast<const char*>(public_key.data()), public_key.size());
    unsigned int len = 0;
    EVP_Digest(msg.data(), msg.size(), digest, &len, EVP_sha256(), nullptr);
    return bytes::hex_encode(digest, 8);
}

void SigningKey::PkeyDeleter::operator()(void* pkey) const {
    EVP_PKEY_free(static_cast<EVP_PKEY*>(pkey));
}

Result<SigningKey> SigningKey::generate() {
    EVP_PKEY* raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    if (raw == nullptr) {
        return Status::io_error("Ed25519 key generation failed: " + openssl_error());
    }
    SigningKey key;
    key.m_pkey = std::shared_ptr<void>(raw, PkeyDeleter{});
    auto pub = raw_public(raw);
    if (!pub) {
        return pub.status();
    }
    key.m_public = *pub;
    key.m_key_id = key_id_for(key.m_public);
    return key;
}

Result<bool> SigningKey::is_encrypted(const std::string& path) {
    auto text = read_small_file(path, "secret key");
    if (!text) {
        return text.status();
    }
    return contains(*text, "-----BEGIN ENCRYPTED PRIVATE KEY-----");
}

Result<SigningKey> SigningKey::load(const std::string& path,
                                    const std::optional<std::string>& passphrase) {
    auto text = read_small_file(path, "secret key");
    if (!text) {
        return text.status();
    }
    auto label = classify_pem(*text, path);
    if (!label) {
        return label.status();
    }
    if (*label == "PUBLIC KEY") {
        return Status::invalid_argument(path + " is a public key; signing needs the secret key "
                                               "(keygen writes NAME.key and NAME.pub; give NAME.key)");
    }
    const bool encrypted = *label == "ENCRYPTED PRIVATE KEY";
    if (encrypted && !passphrase) {
        return Status::permission_denied(
            path + " is encrypted: give its passphrase (SHORTLINK_KEY_PASSPHRASE or a terminal)");
    }
    if (encrypted) {
        if (Status st = check_encryption_cost(*text, path); !st) {
            return st;
        }
    }
    BioPtr bio(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
    ERR_clear_error();
    // An empty passphrase string for unencrypted files keeps OpenSSL from prompting on a tty.
    std::string pass = passphrase.value_or("");
    EVP_PKEY* raw = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, pass.data());
    if (raw == nullptr) {
        const std::string detail = openssl_error();
        if (encrypted) {
            return Status::permission_denied(path + ": wrong passphrase (or damaged key file)");
        }
        return Status::corruption(path + ": truncated or damaged secret key (" + detail + ")");
    }
    PkeyPtr owned(raw);
    if (EVP_PKEY_get_id(raw) != EVP_PKEY_ED25519) {
        return Status::invalid_argument(path + " is not an Ed25519 key");
    }
    SigningKey key;
    auto pub = raw_public(raw);
    if (!pub) {
        return pub.status();
    }
    key.m_pkey = std::shared_ptr<void>(owned.release(), PkeyDeleter{});
    key.m_public = *pub;
    key.m_key_id = key_id_for(key.m_public);
    return key;
}

Status SigningKey::write_secret(const std::string& path,
                                const std::optional<std::string>& passphrase,
                                bool overwrite) const {
    auto* pkey = static_cast<EVP_PKEY*>(m_pkey.get());
    BioPtr bio(BIO_new(BIO_s_mem()));
    const std::string comment = "shortlink secret key " + m_key_id + "\n";
    BIO_write(bio.get(), comment.data(), static_cast<int>(comment.size()));
    if (passphrase) {
        PKCS8_PRIV_KEY_INFO* p8 = EVP_PKEY2PKCS8(pkey);
        X509_ALGOR* pbe = PKCS5_pbe2_set_scrypt(EVP_aes_256_cbc(), nullptr, 0, nullptr,
                                                k_key_scrypt_n, k_key_scrypt_r, k_key_scrypt_p);
        X509_SIG* sealed = (p8 != nullptr && pbe != nullptr)
                               ? PKCS8_set0_pbe(passphrase->data(),
                                                static_cast<int>(passphrase->size()), p8, pbe)
                               : nullptr;
        PKCS8_PRIV_KEY_INFO_free(p8);
        if (sealed == nullptr) {
            X509_ALGOR_free(pbe);
            return Status::io_error("cannot encrypt the secret key: " + openssl_error());
        }
        const int ok = PEM_write_bio_PKCS8(bio.get(), sealed);
        X509_SIG_free(sealed);
        if (ok != 1) {
            return Status::io_error("cannot encode the secret key: " + openssl_error());
        }
    } else if (PEM_write_bio_PrivateKey(bio.get(), pkey, nullptr, nullptr, 0, nullptr, nullptr) !=
               1) {
        return Status::io_error("cannot encode the secret key: " + openssl_error());
    }
    return write_file(path, bio_to_string(bio.get()), 0600, overwrite);
}

Status SigningKey::write_public(const std::string& path, bool overwrite) const {
    BioPtr bio(BIO_new(BIO_s_mem()));
    const std::string comment = "shortlink public key " + m_key_id + "\n";
    BIO_write(bio.get(), comment.data(), static_cast<int>(comment.size()));
    if (PEM_write_bio_PUBKEY(bio.get(), static_cast<EVP_PKEY*>(m_pkey.get())) != 1) {
        return Status::io_error("cannot encode the public key: " + openssl_error());
    }
    return write_file(path, bio_to_string(bio.get()), 0644, overwrite);
}

Result<SignatureBytes> SigningKey::sign(const std::uint8_t* message, std::size_t length) const {
    MdCtxPtr ctx(EVP_MD_CTX_new());
    SignatureBytes sig{};
    std::size_t sig_len = sig.size();
    if (!ctx ||
        EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr,
                           static_cast<EVP_PKEY*>(m_pkey.get())) != 1 ||
        EVP_DigestSign(ctx.get(), sig.data(), &sig_len, message, length) != 1 ||
        sig_len != sig.size()) {
        return Status::io_error("Ed25519 signing failed: " + openssl_error());
    }
    return sig;
}

bool verify_signature(const TrustedKey& key, const std::uint8_t* message, std::size_t length,
                      const SignatureBytes& signature) {
    PkeyPtr pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, key.public_key.data(),
                                             key.public_key.size()));
    MdCtxPtr ctx(EVP_MD_CTX_new());
    if (!pkey || !ctx) {
        ERR_clear_error();
        return false;
    }
    const bool ok =
        EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) == 1 &&
        EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message, length) == 1;
    ERR_clear_error();
    return ok;
}

Result<TrustedKey> parse_public_key(const std::string& pem, const std::string& origin) {
    auto label = classify_pem(pem, origin);
    if (!label) {
        return label.status();
    }
    if (*label != "PUBLIC KEY") {
        return Status::invalid_argument(origin + " is a secret key; give the public key (.pub)");
    }
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    ERR_clear_error();
    PkeyPtr pkey(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
    if (!pkey) {
        return Status::corruption(origin + ": truncated or damaged public key (" +
                                  openssl_error() + ")");
    }
    if (EVP_PKEY_get_id(pkey.get()) != EVP_PKEY_ED25519) {
        return Status::invalid_argument(origin + " is not an Ed25519 key");
    }
    auto pub = raw_public(pkey.get());
    if (!pub) {
        return pub.status();
    }
    return TrustedKey{key_id_for(*pub), *pub};
}

Result<TrustedKey> load_public_key(const std::string& path) {
    auto text = read_small_file(path, "public key");
    if (!text) {
        return text.status();
    }
    return parse_public_key(*text, path);
}

}  // namespace shortlink::formats
