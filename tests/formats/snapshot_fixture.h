// Test helpers shared by formats and compiler tests: temp dirs, an in-memory signing key,
// random codes with a printed seed, and small compiled snapshots.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>

#include "formats/bytes.h"
#include "formats/hash.h"
#include "formats/keys.h"
#include "formats/sha256.h"
#include "formats/snapshot_format.h"

namespace shortlink::test {

// A fresh directory removed at scope exit.
struct TempDir {
    std::string path;
    TempDir() {
        std::string templ = (std::filesystem::temp_directory_path() / "shortlink-test-XXXXXX").string();
        path = ::mkdtemp(templ.data());
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

// The seed of a randomized test: $SHORTLINK_TEST_SEED or a fresh one, printed either way.
inline std::uint64_t random_seed() {
    std::uint64_t seed = std::random_device{}();
    if (const char* env = std::getenv("SHORTLINK_TEST_SEED")) {
        seed = std::strtoull(env, nullptr, 10);
    }
    std::cerr << "random seed: " << seed << " (replay with SHORTLINK_TEST_SEED=" << seed << ")\n";
    return seed;
}

inline std::string random_code(std::mt19937_64& rng, std::size_t len) {
    static constexpr char k_chars[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    std::string s(len, ' ');
    for (char& c : s) {
        c = k_chars[rng() % 62];
    }
    return s;
}

inline formats::SigningKey test_key() {
    auto key = formats::SigningKey::generate();
    if (!key) {
        std::abort();
    }
    return std::move(key).value();
}

inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline void write_file(const std::string& path, const std::string& data) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << data;
}

// Makes a modified snapshot authentic again, as if `key` had signed it: recomputes every section
// checksum, every block digest and the signature from the bytes as they are (SPEC.md order). For
// tests of content a trusted key signed that is nonetheless malformed, and for the fuzz target.
// Leaves `bytes` alone where the container itself is too broken to locate those fields.
inline std::string reseal(std::string bytes, const formats::SigningKey& key) {
    namespace fmt = formats::format;
    auto* p = reinterpret_cast<std::uint8_t*>(bytes.data());
    const std::size_t size = bytes.size();
    if (size < fmt::k_header_size + fmt::k_signature_size) {
        return bytes;
    }
    const auto count = formats::bytes::load<std::uint32_t>(p + fmt::k_off_section_count);
    if (count == 0 || count > fmt::k_max_sections ||
        fmt::k_header_size + std::uint64_t{count} * fmt::k_section_entry_size > size) {
        return bytes;
    }
    for (std::size_t i = 0; i < fmt::k_key_id_size; ++i) {  // claim `key` as the signer
        p[fmt::k_off_key_id + i] =
            static_cast<std::uint8_t>(std::stoul(key.key_id().substr(2 * i, 2), nullptr, 16));
    }
    const auto entry = [&](std::uint32_t i) { return p + fmt::k_header_size + i * fmt::k_section_entry_size; };
    const auto fits = [&](std::uint64_t off, std::uint64_t len) { return off <= size && len <= size - off; };
    // The block digests first (they live in the last section), then every checksum.
    const auto dig_off = formats::bytes::load<std::uint64_t>(entry(count - 1) + 8);
    const auto dig_len = formats::bytes::load<std::uint64_t>(entry(count - 1) + 16);
    if (fits(dig_off, dig_len) && dig_len >= fmt::k_digests_header_size) {
        const std::uint8_t* d = p + dig_off;
        const auto block = formats::bytes::load<std::uint64_t>(d);
        const auto start = formats::bytes::load<std::uint64_t>(d + 8);
        const auto end = formats::bytes::load<std::uint64_t>(d + 16);
        const auto blocks = formats::bytes::load<std::uint64_t>(d + 24);
        if (block >= fmt::k_min_block_size && block <= fmt::k_max_block_size && start <= end &&
            fits(start, end - start) && blocks <= (dig_len - fmt::k_digests_header_size) / 32) {
            for (std::uint64_t i = 0; i < blocks && start + i * block < end; ++i) {
                const std::uint64_t b = start + i * block;
                const formats::Sha256Digest h = formats::sha256(p + b, std::min(block, end - b));
                std::memcpy(p + dig_off + fmt::k_digests_header_size + 32 * i, h.data(), h.size());
            }
        }
    }
    for (std::uint32_t i = 0; i < count; ++i) {
        const auto off = formats::bytes::load<std::uint64_t>(entry(i) + 8);
        const auto len = formats::bytes::load<std::uint64_t>(entry(i) + 16);
        if (fits(off, len)) {
            formats::bytes::store<std::uint64_t>(entry(i) + 24, formats::checksum(p + off, len));
        }
    }
    if (fits(dig_off, dig_len) && dig_len >= fmt::k_digests_header_size) {
        const auto start = formats::bytes::load<std::uint64_t>(p + dig_off + 8);
        const std::uint64_t sig_at = size - fmt::k_signature_size;
        if (start <= dig_off && dig_off <= sig_at) {
            formats::Sha256 sha;
            sha.update(p, start);
            sha.update(p + dig_off, sig_at - dig_off);
            const std::string message = formats::signature_message(sha.finish());
            auto sig = key.sign(reinterpret_cast<const std::uint8_t*>(message.data()), message.size());
            if (sig) {
                std::memcpy(p + sig_at, sig->data(), sig->size());
            }
        }
    }
    return bytes;
}

}  // namespace shortlink::test
