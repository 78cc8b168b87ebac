// The perfect hash on its own: every key reaches a slot of its own through the query functions
// the reader uses (formats/mphf_query.h), the result does not depend on the order the keys come
// in, and keys no pilot can separate are reported. Random parts print their seed
// (SHORTLINK_TEST_SEED replays).
#include "compiler/mphf.h"

#include <algorithm>
#include <random>
#include <set>

#include <catch2/catch.hpp>

#include "tests/formats/snapshot_fixture.h"

using namespace shortlink;
using namespace shortlink::compiler;
using formats::Hash128;

namespace {

std::vector<Hash128> random_hashes(std::mt19937_64& rng, std::size_t n) {
    std::vector<Hash128> h(n);
    for (auto& x : h) {
        x.lo = rng();
        x.hi = rng();
    }
    return h;
}

// Every key, evaluated exactly as a reader does, lands on the slot the builder gave it.
void check_every_key_finds_itself(const std::vector<Hash128>& hashes, const MphfResult& r) {
    REQUIRE(r.params.key_count == hashes.size());
    REQUIRE(r.slot_key.size() == r.params.slot_count);
    REQUIRE(r.pilots.size() == r.params.bucket_count);
    formats::MphfParams p = r.params;
    REQUIRE(p.derive());  // the stored fields alone reproduce the multipliers
    std::vector<bool> used(p.slot_count, false);
    for (std::size_t i = 0; i < hashes.size(); ++i) {
        const std::uint64_t b = formats::mphf_bucket(p, hashes[i].hi);
        REQUIRE(b < p.bucket_count);
        const std::uint64_t s = formats::mphf_slot(p, hashes[i].lo, r.pilots[b]);
        REQUIRE(s < p.slot_count);
        REQUIRE_FALSE(used[s]);
        used[s] = true;
        REQUIRE(r.slot_key[s] == i + 1);
    }
}

}  // namespace

TEST_CASE("EveryKeyFindsItsOwnSlotThroughTheQuery", "[mphf]") {
    const std::uint64_t seed = test::random_seed();
    std::mt19937_64 rng(seed);
    for (std::size_t n : {1u, 2u, 3u, 10u, 1000u, 300000u}) {
        INFO("seed " << seed << " n " << n);
        const auto hashes = random_hashes(rng, n);
        MphfFailure failure;
        auto r = build_mphf(hashes, MphfConfig{}, failure);
        REQUIRE(r);
        check_every_key_finds_itself(hashes, *r);
        if (n >= 1000) {
            // BENCH.md's space target: at most 3.5 bits of pilots per key.
            CHECK(static_cast<double>(r->pilots.size()) * 8.0 / static_cast<double>(n) <= 3.5);
        }
    }
}

TEST_CASE("ShuffledKeysGiveTheSamePilotsAndSlots", "[mphf]") {
    const std::uint64_t seed = test::random_seed();
    std::mt19937_64 rng(seed);
    INFO("seed " << seed);
    const auto hashes = random_hashes(rng, 200000);
    std::vector<std::uint32_t> perm(hashes.size());
    for (std::uint32_t i = 0; i < perm.size(); ++i) {
        perm[i] = i;
    }
    std::shuffle(perm.begin(), perm.end(), rng);
    std::vector<Hash128> shuffled(hashes.size());
    for (std::size_t i = 0; i < perm.size(); ++i) {
        shuffled[i] = hashes[perm[i]];
    }
    // Tight (lambda 3.5, alpha 0.99): placement evicts, and eviction choices must not depend on
    // the order either.
    MphfConfig config;
    config.keys_per_bucket = 3.5;
    config.load_factor = 0.99;
    MphfFailure failure;
    auto a = build_mphf(hashes, config, failure);
    auto b = build_mphf(shuffled, config, failure);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->params.slot_count == b->params.slot_count);
    CHECK(a->params.bucket_count == b->params.bucket_count);
    CHECK(a->params.dense_buckets == b->params.dense_buckets);
    CHECK(a->params.dense_threshold == b->params.dense_threshold);
    REQUIRE(a->pilots == b->pilots);
    // The same key sits in the same slot: a's key k is b's key at perm position of k.
    for (std::size_t s = 0; s < a->slot_key.size(); ++s) {
        const std::uint32_t ka = a->slot_key[s];
        const std::uint32_t kb = b->slot_key[s];
        REQUIRE((ka == 0) == (kb == 0));
        if (ka != 0) {
            REQUIRE(perm[kb - 1] == ka - 1);
        }
    }
}

TEST_CASE("TightConfigStillPlacesThroughEvictions", "[mphf]") {
    // Lambda 4 and alpha 0.995 force the eviction path; the result must still be perfect.
    const std::uint64_t seed = test::random_seed();
    std::mt19937_64 rng(seed);
    INFO("seed " << seed);
    const auto hashes = random_hashes(rng, 100000);
    MphfConfig config;
    config.keys_per_bucket = 4.0;
    config.load_factor = 0.995;
    MphfFailure failure;
    auto r = build_mphf(hashes, config, failure);
    REQUIRE(r);
    check_every_key_finds_itself(hashes, *r);
}

TEST_CASE("InseparableKeysAreReportedAsDuplicates", "[mphf]") {
    std::mt19937_64 rng(7);
    auto hashes = random_hashes(rng, 5000);
    hashes[4321] = hashes[17];  // same bucket and same h.lo: no pilot separates them
    MphfFailure failure;
    auto r = build_mphf(hashes, MphfConfig{}, failure);
    REQUIRE_FALSE(r);
    CHECK(r.status().code() == Status::Code::conflict);
    CHECK(failure.duplicate);
    CHECK(std::set<std::uint32_t>{failure.key_a, failure.key_b} ==
          std::set<std::uint32_t>{17, 4321});
}
