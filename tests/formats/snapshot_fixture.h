// Test helpers shared by formats and compiler tests: temp dirs, an in-memory signing key,
// random codes with a printed seed, and small compiled snapshots.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>

#include "formats/keys.h"

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

}  // namespace shortlink::test
