// Evaluation of the snapshot's minimal-ish perfect hash (PtrHash/PTHash family), shared by the
// reader (formats/reader.cpp) and the builder (compiler/mphf.cpp) so both agree bit for bit.
// SPEC.md "Section 2: index" defines every formula here.
//
// A key's 128-bit hash h (formats/hash.h) is used three ways, from independent bits:
//   bucket = skewed(h.hi)                     -- high bits of h.hi via multiply-high
//   slot   = mulhi((h.lo ^ pilot*K1) * K2, m)  -- h.lo, displaced by the bucket's 8-bit pilot
//   fingerprint = low 32 bits of h.hi          -- compared before the full key
//
// Thread-safety: values and pure functions.
#pragma once

#include <cstdint>

#include "formats/hash.h"

namespace shortlink::formats {

struct MphfParams {
    std::uint64_t key_count = 0;
    std::uint64_t slot_count = 0;       // m >= key_count; slots without a key are marked empty
    std::uint64_t bucket_count = 0;     // >= 2 when key_count > 0
    std::uint64_t dense_buckets = 0;    // buckets [0, dense_buckets) take hashes below threshold
    std::uint64_t dense_threshold = 0;  // in (0, 2^64): share of hash space sent to dense buckets
    // Derived by derive(), never stored: multipliers that map each hash range onto its buckets.
    std::uint64_t dense_mult = 0;
    std::uint64_t sparse_mult = 0;

    // Fills the derived multipliers; false if the stored fields are inconsistent (a reader uses
    // this to reject a corrupt index before any lookup can go out of range).
    bool derive() {
        if (key_count == 0) {
            return slot_count == 0 && bucket_count == 0;
        }
        if (slot_count < key_count || bucket_count < 2 || dense_buckets == 0 ||
            dense_buckets >= bucket_count || dense_threshold == 0) {
            return false;
        }
        using U = hash_detail::U128;
        const U space = U{1} << 64;
        dense_mult = static_cast<std::uint64_t>((U{dense_buckets} << 64) / dense_threshold);
        const U sparse_space = space - dense_threshold;
        const U sparse = U{bucket_count - dense_buckets};
        const U mult = (sparse << 64) / sparse_space;
        if (mult >> 64 != 0) {
            return false;
        }
        sparse_mult = static_cast<std::uint64_t>(mult);
        return true;
    }
};

inline constexpr std::uint64_t k_pilot_mult = 0x517cc1b727220a95ULL;  // FxHash's multiplier
inline constexpr std::uint64_t k_slot_mult = 0xc6a4a7935bd1e995ULL;   // MurmurHash64A's

inline std::uint64_t mulhi(std::uint64_t a, std::uint64_t b) {
    return static_cast<std::uint64_t>((static_cast<hash_detail::U128>(a) * b) >> 64);
}

// Always < params.bucket_count (the multipliers are floors, see derive()).
inline std::uint64_t mphf_bucket(const MphfParams& params, std::uint64_t h_hi) {
    if (h_hi < params.dense_threshold) {
        return mulhi(h_hi, params.dense_mult);
    }
    return params.dense_buckets + mulhi(h_hi - params.dense_threshold, params.sparse_mult);
}

// Always < params.slot_count.
inline std::uint64_t mphf_slot(const MphfParams& params, std::uint64_t h_lo, std::uint8_t pilot) {
    return mulhi((h_lo ^ (pilot * k_pilot_mult)) * k_slot_mult, params.slot_count);
}

inline std::uint32_t mphf_fingerprint(const Hash128& h) {
    return static_cast<std::uint32_t>(h.hi);
}

}  // namespace shortlink::formats
