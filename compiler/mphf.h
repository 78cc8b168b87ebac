// Builder of the snapshot's perfect hash, in the PTHash / PtrHash family.
//
// Keys arrive as 128-bit hashes (formats/hash.h). Each key goes to a bucket by a skewed bucket
// function (60% of keys into 30% of buckets), buckets are placed largest first, and each bucket
// gets the first 8-bit pilot that sends all its keys to free slots; when none does, the pilot
// that evicts the fewest (smallest) already placed buckets wins and the evicted buckets are
// placed again (PtrHash's eviction). Slots number key_count / load_factor, so no remap table
// sits on the query path. The evaluation is formats/mphf_query.h, shared with the reader.
//
// Thread-safety: build_mphf is a pure function of the set of hashes (deterministic,
// single-threaded): keys are grouped by bucket and ordered by hash inside a bucket before any
// choice is made, so shuffling the input permutes slot_key's values and changes nothing else.
#pragma once

#include <cstdint>
#include <vector>

#include "formats/hash.h"
#include "formats/mphf_query.h"
#include "formats/status.h"

namespace shortlink::compiler {

struct MphfConfig {
    // Average keys per bucket (lambda). Pilots cost 8 / lambda bits per key: 2.5 gives 3.2,
    // within the 3.5 target; 3.0 (2.67 bits) needs about 1.6x more pilot tries and built only
    // 3.0-3.5x faster than CMPH BDZ at 10M keys against 4.1-4.4x (bench/mphf/README.md).
    double keys_per_bucket = 2.5;
    // Keys / slots (alpha). Just under 1: 3% empty slots cost 0.5 bytes a key and make the
    // last buckets placeable without a remap table; 0.98 needs more pilot tries.
    double load_factor = 0.97;
    // Placement gives up (and the caller reseeds) after this many evictions per key, so a bad
    // seed costs a bounded time.
    double max_evictions_per_key = 10.0;
};

struct MphfResult {
    formats::MphfParams params;
    std::vector<std::uint8_t> pilots;     // one per bucket
    std::vector<std::uint32_t> slot_key;  // slot -> key index + 1; 0 for an empty slot
};

// Why a build failed. `duplicate` names two keys whose hashes cannot be separated by any pilot
// (equal bucket and low 64 bits): either the same key twice or a hash collision; the caller
// tells which by comparing the keys, and reseeds for a collision.
struct MphfFailure {
    bool duplicate = false;
    std::uint32_t key_a = 0;
    std::uint32_t key_b = 0;
};

// Builds the perfect hash of `hashes` (key i has hashes[i]). On failure returns a Status of
// code conflict and fills `failure`.
Result<MphfResult> build_mphf(const std::vector<formats::Hash128>& hashes, const MphfConfig& config,
                              MphfFailure& failure);

}  // namespace shortlink::compiler
