// MPHF benchmark (BENCH.md): our perfect hash against CMPH's BDZ and CHD, and the floor of a
// lookup (one seeded XXH3 of the key plus one random memory read), on the same keys in one run.
//
// Keys: N random base62 codes of length 7 from a fixed seed (BENCH.md "Data"). Each figure is
// the median of --runs runs with the spread (min..max); methods alternate within each run.
// Query time is random order: the keys are copied in shuffled order into one buffer, so the
// loop reads keys sequentially and the misses measured are the structure's own.
//
// Usage: mphf_bench [--keys 1000000,10000000] [--runs 3] [--lambda L] [--alpha A] [--ours-only]
//                   [--json FILE]
#include <cmph.h>
#include <xxhash.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "compiler/mphf.h"
#include "formats/hash.h"
#include "formats/mphf_query.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t k_code_len = 7;
constexpr std::uint64_t k_seed = 0x5eed5eed5eed5eedULL;

struct Keys {
    std::size_t n = 0;
    std::vector<char> build;  // n keys of k_code_len bytes, NUL-terminated (CMPH wants C strings)
    std::vector<char> query;  // the same keys in shuffled order
    const char* build_key(std::size_t i) const { return build.data() + i * (k_code_len + 1); }
    const char* query_key(std::size_t i) const { return query.data() + i * (k_code_len + 1); }
};

Keys make_keys(std::size_t n) {
    static constexpr char k_chars[] =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    std::mt19937_64 rng(42);
    Keys k;
    k.n = n;
    k.build.resize(n * (k_code_len + 1));
    // Unique codes: 62^7 = 3.5e12 so duplicates are rare; drop them by sorting.
    std::vector<std::string> codes(n);
    for (auto& c : codes) {
        c.resize(k_code_len);
        for (char& ch : c) {
            ch = k_chars[rng() % 62];
        }
    }
    std::sort(codes.begin(), codes.end());
    codes.erase(std::unique(codes.begin(), codes.end()), codes.end());
    std::shuffle(codes.begin(), codes.end(), rng);
    k.n = codes.size();
    k.build.resize(k.n * (k_code_len + 1));
    for (std::size_t i = 0; i < k.n; ++i) {
        std::memcpy(k.build.data() + i * (k_code_len + 1), codes[i].c_str(), k_code_len + 1);
    }
    std::vector<std::size_t> order(k.n);
    for (std::size_t i = 0; i < k.n; ++i) {
        order[i] = i;
    }
    std::shuffle(order.begin(), order.end(), rng);
    k.query.resize(k.build.size());
    for (std::size_t i = 0; i < k.n; ++i) {
        std::memcpy(k.query.data() + i * (k_code_len + 1), k.build_key(order[i]), k_code_len + 1);
    }
    return k;
}

struct Sample {
    double build_s = 0;
    double build_cpu_s = 0;  // CPU time of the build (this process is single-threaded)
    double bits_per_key = 0;
    double query_ns = 0;
    double lookup_ns = 0;  // ours only: the query plus the read of the 16-byte slot it names
};

shortlink::compiler::MphfConfig g_config;

// CPU seconds of this process: on the shared 2-core machine, wall time also counts the time
// other engineers' jobs held the core; CPU time is the steadier figure for the build ratio.
double cpu_now() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

volatile std::uint64_t g_sink = 0;

Sample run_ours(const Keys& k) {
    Sample s;
    const double c = cpu_now();
    auto t = Clock::now();
    std::vector<shortlink::formats::Hash128> hashes(k.n);
    const std::uint64_t seed = shortlink::formats::domain_seed(k_seed, 0);
    for (std::size_t i = 0; i < k.n; ++i) {
        hashes[i] = shortlink::formats::hash128(k.build_key(i), k_code_len, seed);
    }
    shortlink::compiler::MphfFailure failure;
    auto r = shortlink::compiler::build_mphf(hashes, g_config, failure);
    s.build_s = seconds_since(t);
    s.build_cpu_s = cpu_now() - c;
    if (!r) {
        std::fprintf(stderr, "ours: build failed: %s\n", r.status().message().c_str());
        std::exit(1);
    }
    const auto& p = r->params;
    s.bits_per_key = static_cast<double>(r->pilots.size()) * 8.0 / static_cast<double>(k.n);
    const std::uint8_t* pilots = r->pilots.data();
    t = Clock::now();
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < k.n; ++i) {
        const auto h = shortlink::formats::hash128(k.query_key(i), k_code_len, seed);
        const std::uint64_t b = shortlink::formats::mphf_bucket(p, h.hi);
        sum += shortlink::formats::mphf_slot(p, h.lo, pilots[b]);
    }
    s.query_ns = seconds_since(t) * 1e9 / static_cast<double>(k.n);
    // What serve's lookup pays before the record: pilot, then the slot record (16 bytes).
    std::vector<std::uint64_t> slots(p.slot_count * 2, 1);
    t = Clock::now();
    for (std::size_t i = 0; i < k.n; ++i) {
        const auto h = shortlink::formats::hash128(k.query_key(i), k_code_len, seed);
        const std::uint64_t b = shortlink::formats::mphf_bucket(p, h.hi);
        sum += slots[2 * shortlink::formats::mphf_slot(p, h.lo, pilots[b])];
    }
    s.lookup_ns = seconds_since(t) * 1e9 / static_cast<double>(k.n);
    g_sink = g_sink + sum;
    return s;
}

Sample run_cmph(const Keys& k, CMPH_ALGO algo) {
    Sample s;
    std::vector<char*> ptrs(k.n);
    for (std::size_t i = 0; i < k.n; ++i) {
        ptrs[i] = const_cast<char*>(k.build_key(i));
    }
    const double c = cpu_now();
    auto t = Clock::now();
    cmph_io_adapter_t* source = cmph_io_vector_adapter(ptrs.data(), static_cast<cmph_uint32>(k.n));
    cmph_config_t* config = cmph_config_new(source);
    cmph_config_set_algo(config, algo);
    cmph_t* mphf = cmph_new(config);
    cmph_config_destroy(config);
    s.build_s = seconds_since(t);
    s.build_cpu_s = cpu_now() - c;
    if (mphf == nullptr) {
        std::fprintf(stderr, "cmph: build failed\n");
        std::exit(1);
    }
    s.bits_per_key = static_cast<double>(cmph_packed_size(mphf)) * 8.0 / static_cast<double>(k.n);
    t = Clock::now();
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < k.n; ++i) {
        sum += cmph_search(mphf, k.query_key(i), k_code_len);
    }
    s.query_ns = seconds_since(t) * 1e9 / static_cast<double>(k.n);
    g_sink = g_sink + sum;
    cmph_destroy(mphf);
    cmph_io_vector_adapter_destroy(source);
    return s;
}

Sample run_floor(const Keys& k) {
    // One seeded XXH3 and one read from a table as large as our slot table (16 B a slot).
    Sample s;
    std::vector<std::uint64_t> table(k.n * 2, 1);
    auto t = Clock::now();
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < k.n; ++i) {
        const std::uint64_t h = XXH3_64bits_withSeed(k.query_key(i), k_code_len, k_seed);
        sum += table[(static_cast<unsigned __int128>(h) * table.size()) >> 64];
    }
    s.query_ns = seconds_since(t) * 1e9 / static_cast<double>(k.n);
    g_sink = g_sink + sum;
    return s;
}

struct Stat {
    double median = 0, min = 0, max = 0;
};

Stat stat(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return {v[v.size() / 2], v.front(), v.back()};
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::size_t> sizes = {1000000, 10000000};
    int runs = 3;
    std::string json_path;
    bool ours_only = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--keys" && i + 1 < argc) {
            sizes.clear();
            std::string list = argv[++i];
            for (std::size_t pos = 0; pos < list.size();) {
                const std::size_t comma = list.find(',', pos);
                sizes.push_back(std::stoull(list.substr(pos, comma - pos)));
                pos = comma == std::string::npos ? list.size() : comma + 1;
            }
        } else if (a == "--runs" && i + 1 < argc) {
            runs = std::max(3, std::atoi(argv[++i]));
        } else if (a == "--alpha" && i + 1 < argc) {
            g_config.load_factor = std::atof(argv[++i]);
        } else if (a == "--lambda" && i + 1 < argc) {
            g_config.keys_per_bucket = std::atof(argv[++i]);
        } else if (a == "--ours-only") {
            ours_only = true;  // for tuning --lambda/--alpha: no anchors, so no ratios
        } else if (a == "--json" && i + 1 < argc) {
            json_path = argv[++i];
        } else {
            std::fprintf(stderr, "usage: mphf_bench [--keys N,N] [--runs R>=3] [--lambda L] [--alpha A] "
                                 "[--ours-only] [--json FILE]\n");
            return 2;
        }
    }
    std::string json = "[";
    const char* names[] = {"ours", "cmph-bdz", "cmph-chd", "floor-xxh3+read"};
    for (std::size_t n : sizes) {
        std::fprintf(stderr, "generating %zu keys...\n", n);
        const Keys k = make_keys(n);
        std::vector<double> build[4], build_cpu[4], bits[4], query[4], lookup;
        for (int r = 0; r < runs; ++r) {
            std::fprintf(stderr, "run %d/%d\n", r + 1, runs);
            const Sample samples[4] = {run_ours(k), ours_only ? Sample{} : run_cmph(k, CMPH_BDZ),
                                       ours_only ? Sample{} : run_cmph(k, CMPH_CHD),
                                       ours_only ? Sample{} : run_floor(k)};
            lookup.push_back(samples[0].lookup_ns);
            for (int m = 0; m < 4; ++m) {
                build[m].push_back(samples[m].build_s);
                build_cpu[m].push_back(samples[m].build_cpu_s);
                bits[m].push_back(samples[m].bits_per_key);
                query[m].push_back(samples[m].query_ns);
            }
        }
        std::printf("\n%zu keys (7-byte base62), median of %d runs [min..max]\n", k.n, runs);
        std::printf("%-16s %22s %22s %10s %22s\n", "method", "build s", "build CPU s", "bits/key",
                    "query ns");
        for (int m = 0; m < 4; ++m) {
            const Stat b = stat(build[m]);
            const Stat q = stat(query[m]);
            const Stat z = stat(bits[m]);
            const Stat bc = stat(build_cpu[m]);
            std::printf("%-16s %8.3f [%5.3f..%5.3f] %8.3f [%5.3f..%5.3f] %10.2f %8.1f [%5.1f..%5.1f]\n",
                        names[m], b.median, b.min, b.max, bc.median, bc.min, bc.max, z.median,
                        q.median, q.min, q.max);
            char buf[512];
            std::snprintf(buf, sizeof(buf),
                          "%s{\"keys\":%zu,\"method\":\"%s\",\"build_s\":%.4f,\"build_min\":%.4f,"
                          "\"build_max\":%.4f,\"build_cpu_s\":%.4f,\"bits_per_key\":%.3f,\"query_ns\":%.2f,"
                          "\"query_min\":%.2f,\"query_max\":%.2f}",
                          json.size() > 1 ? "," : "", k.n, names[m], b.median, b.min, b.max,
                          bc.median, z.median, q.median, q.min, q.max);
            json += buf;
        }
        const Stat l = stat(lookup);
        std::printf("%-16s %22s %10s %8.1f [%5.1f..%5.1f]\n", "ours+slot-read", "", "", l.median,
                    l.min, l.max);
        const double ob = stat(build[0]).median, oq = stat(query[0]).median;
        std::printf("ratios: build BDZ/ours %.2fx, CHD/ours %.2fx; query BDZ/ours %.2fx, "
                    "CHD/ours %.2fx, ours/floor %.2fx\n",
                    stat(build[1]).median / ob, stat(build[2]).median / ob,
                    stat(query[1]).median / oq, stat(query[2]).median / oq,
                    oq / stat(query[3]).median);
        std::printf("        ours+slot-read/floor %.2fx; build CPU BDZ/ours %.2fx, CHD/ours %.2fx\n",
                    l.median / stat(query[3]).median,
                    stat(build_cpu[1]).median / stat(build_cpu[0]).median,
                    stat(build_cpu[2]).median / stat(build_cpu[0]).median);
    }
    json += "]\n";
    if (!json_path.empty()) {
        std::ofstream(json_path) << json;
    }
    return 0;
}
