#include "compiler/mphf.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace shortlink::compiler {

namespace {

using formats::Hash128;
using formats::MphfParams;

constexpr unsigned k_pilots = 256;          // 8-bit pilots, stored plainly: a query reads a byte
constexpr std::uint32_t k_max_bucket = 255;  // larger buckets cannot be placed reliably
constexpr std::uint32_t k_free = 0;

// Dense part of the skewed bucket function (PTHash's split): this share of keys goes to
// k_dense_bucket_share of the buckets, so the large buckets placed first are many.
constexpr double k_dense_key_share = 0.6;
constexpr double k_dense_bucket_share = 0.3;

MphfParams make_params(std::uint64_t n, const MphfConfig& config) {
    MphfParams p;
    p.key_count = n;
    if (n == 0) {
        return p;
    }
    p.slot_count = std::max<std::uint64_t>(
        n, static_cast<std::uint64_t>(std::ceil(static_cast<double>(n) / config.load_factor)));
    p.bucket_count = std::max<std::uint64_t>(
        2, static_cast<std::uint64_t>(std::ceil(static_cast<double>(n) / config.keys_per_bucket)));
    p.dense_buckets = std::clamp<std::uint64_t>(
        static_cast<std::uint64_t>(static_cast<double>(p.bucket_count) * k_dense_bucket_share), 1,
        p.bucket_count - 1);
    p.dense_threshold = static_cast<std::uint64_t>(k_dense_key_share * 18446744073709551616.0);
    p.derive();
    return p;
}

// The placement state: slot owners, pilots, and the per-bucket key hashes in bucket order.
class Placer {
public:
    Placer(const MphfParams& params, std::vector<std::uint64_t> lo_by_bucket,
           std::vector<std::uint64_t> bucket_start)
        : m_params(params),
          m_lo(std::move(lo_by_bucket)),
          m_start(std::move(bucket_start)),
          m_owner(params.slot_count, k_free),
          m_taken((params.slot_count + 63) / 64, 0),
          m_pilots(params.bucket_count, 0) {}

    // Places every bucket; false when the eviction budget runs out.
    bool place_all(const std::vector<std::uint32_t>& order, std::uint64_t max_evictions) {
        std::vector<std::uint32_t> stack;
        for (std::uint32_t b : order) {
            stack.push_back(b);
            while (!stack.empty()) {
                const std::uint32_t bucket = stack.back();
                stack.pop_back();
                if (!place(bucket, stack)) {
                    return false;
                }
                if (m_evictions > max_evictions) {
                    return false;
                }
            }
        }
        return true;
    }

    std::vector<std::uint8_t> take_pilots() { return std::move(m_pilots); }

private:
    std::uint32_t size(std::uint32_t b) const {
        return static_cast<std::uint32_t>(m_start[b + 1] - m_start[b]);
    }

    // Slots of bucket b's keys under pilot p into `out`; false if two of them coincide.
    bool slots_for(std::uint32_t b, unsigned p, std::uint64_t* out) const {
        const std::uint32_t n = size(b);
        for (std::uint32_t i = 0; i < n; ++i) {
            out[i] = formats::mphf_slot(m_params, m_lo[m_start[b] + i], static_cast<std::uint8_t>(p));
            for (std::uint32_t j = 0; j < i; ++j) {
                if (out[j] == out[i]) {
                    return false;
                }
            }
        }
        return true;
    }

    bool taken(std::uint64_t slot) const { return (m_taken[slot >> 6] >> (slot & 63)) & 1; }

    bool recently_placed(std::uint32_t b) const {
        for (std::uint32_t r : m_recent) {
            if (r == b + 1) {
                return true;
            }
        }
        return false;
    }

    void assign(std::uint32_t b, unsigned p, const std::uint64_t* slots) {
        m_recent[m_recent_next++ % m_recent.size()] = b + 1;
        m_pilots[b] = static_cast<std::uint8_t>(p);
        for (std::uint32_t i = 0; i < size(b); ++i) {
            m_owner[slots[i]] = b + 1;
            m_taken[slots[i] >> 6] |= std::uint64_t{1} << (slots[i] & 63);
        }
    }

    bool place(std::uint32_t b, std::vector<std::uint32_t>& stack) {
        const std::uint32_t n = size(b);
        if (n == 0) {
            return true;
        }
        std::uint64_t slots[k_max_bucket];
        const std::uint64_t* lo = m_lo.data() + m_start[b];
        for (unsigned p = 0; p < k_pilots; ++p) {
            // Fail fast: in a filling table most pilots hit a taken slot on the first key.
            bool fits = true;
            for (std::uint32_t i = 0; i < n && fits; ++i) {
                const std::uint64_t slot =
                    formats::mphf_slot(m_params, lo[i], static_cast<std::uint8_t>(p));
                fits = !taken(slot);
                for (std::uint32_t j = 0; j < i && fits; ++j) {
                    fits = slots[j] != slot;
                }
                slots[i] = slot;
            }
            if (fits) {
                assign(b, p, slots);
                return true;
            }
        }
        // No free pilot: evict the cheapest set of buckets (sum of squared sizes), never one
        // of the buckets placed most recently, so that two buckets cannot keep evicting each
        // other (PtrHash keeps the same short memory). The scan starts at a pilot that moves
        // with the eviction count; every choice stays deterministic.
        std::uint64_t best_score = UINT64_MAX;
        unsigned best = k_pilots;
        const unsigned start = static_cast<unsigned>((m_evictions * 0x9e3779b97f4a7c15ULL) >> 56);
        for (unsigned k = 0; k < k_pilots; ++k) {
            const unsigned p = (start + k) % k_pilots;
            if (!slots_for(b, p, slots)) {
                continue;
            }
            std::uint64_t score = 0;
            for (std::uint32_t i = 0; i < n && score != UINT64_MAX; ++i) {
                const std::uint32_t owner = m_owner[slots[i]];
                if (owner != k_free) {
                    if (recently_placed(owner - 1)) {
                        score = UINT64_MAX;
                        break;
                    }
                    const std::uint64_t s = size(owner - 1);
                    score += s * s;
                }
            }
            if (score < best_score) {
                best_score = score;
                best = p;
            }
        }
        if (best == k_pilots) {
            // Every pilot collides inside the bucket or with a recent bucket: give up on this
            // seed rather than cycle.
            return false;
        }
        slots_for(b, best, slots);
        for (std::uint32_t i = 0; i < n; ++i) {
            const std::uint32_t owner = m_owner[slots[i]];
            if (owner != k_free) {
                evict(owner - 1);
                stack.push_back(owner - 1);
            }
        }
        assign(b, best, slots);
        return true;
    }

    void evict(std::uint32_t b) {
        std::uint64_t slots[k_max_bucket];
        slots_for(b, m_pilots[b], slots);
        for (std::uint32_t i = 0; i < size(b); ++i) {
            if (m_owner[slots[i]] == b + 1) {
                m_owner[slots[i]] = k_free;
                m_taken[slots[i] >> 6] &= ~(std::uint64_t{1} << (slots[i] & 63));
            }
        }
        ++m_evictions;
    }

    const MphfParams& m_params;
    std::vector<std::uint64_t> m_lo;     // keys' h.lo grouped by bucket
    std::vector<std::uint64_t> m_start;  // bucket b's keys are [m_start[b], m_start[b+1])
    std::vector<std::uint32_t> m_owner;  // slot -> bucket + 1, or k_free (for eviction)
    // One bit per slot, the same information as m_owner != k_free: the pilot search tests
    // only this, and at 1 bit a slot it stays in cache (128 KiB per million keys).
    std::vector<std::uint64_t> m_taken;
    std::vector<std::uint8_t> m_pilots;
    std::uint64_t m_evictions = 0;
    std::array<std::uint32_t, 16> m_recent{};  // bucket + 1 of the last placements
    std::size_t m_recent_next = 0;
};

}  // namespace

Result<MphfResult> build_mphf(const std::vector<Hash128>& hashes, const MphfConfig& config,
                              MphfFailure& failure) {
    failure = MphfFailure{};
    const std::uint64_t n = hashes.size();
    if (n >= UINT32_MAX) {
        return Status::invalid_argument("too many keys for one snapshot");
    }
    MphfResult result;
    result.params = make_params(n, config);
    const MphfParams& params = result.params;
    if (n == 0) {
        return result;
    }
    const std::uint64_t buckets = params.bucket_count;

    // Counting sort of keys by bucket.
    std::vector<std::uint64_t> start(buckets + 1, 0);
    std::vector<std::uint32_t> bucket_of(n);
    for (std::uint64_t i = 0; i < n; ++i) {
        const auto b = static_cast<std::uint32_t>(formats::mphf_bucket(params, hashes[i].hi));
        bucket_of[i] = b;
        ++start[b + 1];
    }
    for (std::uint64_t b = 0; b < buckets; ++b) {
        start[b + 1] += start[b];
    }
    // Keys (and each key's h.lo, which is all the placement reads) in bucket order.
    std::vector<std::uint32_t> key_by_pos(n);
    std::vector<std::uint64_t> lo_by_pos(n);
    {
        std::vector<std::uint64_t> fill(start.begin(), start.end() - 1);
        for (std::uint64_t i = 0; i < n; ++i) {
            const std::uint64_t pos = fill[bucket_of[i]]++;
            key_by_pos[pos] = static_cast<std::uint32_t>(i);
            lo_by_pos[pos] = hashes[i].lo;
        }
    }
    std::vector<std::uint32_t>().swap(bucket_of);

    // Keys no pilot can separate (same bucket, same low half), and oversized buckets.
    std::uint32_t max_size = 0;
    for (std::uint64_t b = 0; b < buckets; ++b) {
        const auto size = static_cast<std::uint32_t>(start[b + 1] - start[b]);
        max_size = std::max(max_size, size);
        if (size > k_max_bucket) {
            return Status::conflict("a bucket holds " + std::to_string(size) + " keys");
        }
        for (std::uint64_t i = start[b]; i < start[b + 1]; ++i) {
            for (std::uint64_t j = start[b]; j < i; ++j) {
                if (lo_by_pos[i] == lo_by_pos[j]) {
                    failure.duplicate = true;
                    failure.key_a = key_by_pos[j];
                    failure.key_b = key_by_pos[i];
                    return Status::conflict("duplicate hash");
                }
            }
        }
    }

    // Largest buckets first (counting sort by size, stable in bucket id: deterministic).
    std::vector<std::uint32_t> order;
    order.reserve(buckets);
    {
        std::vector<std::uint64_t> by_size(max_size + 2, 0);
        for (std::uint64_t b = 0; b < buckets; ++b) {
            ++by_size[max_size - (start[b + 1] - start[b]) + 1];
        }
        for (std::size_t s = 1; s < by_size.size(); ++s) {
            by_size[s] += by_size[s - 1];
        }
        order.resize(buckets);
        for (std::uint64_t b = 0; b < buckets; ++b) {
            order[by_size[max_size - (start[b + 1] - start[b])]++] = static_cast<std::uint32_t>(b);
        }
    }

    std::vector<std::uint32_t>().swap(key_by_pos);
    Placer placer(params, std::move(lo_by_pos), start);
    const auto budget =
        static_cast<std::uint64_t>(config.max_evictions_per_key * static_cast<double>(n)) + 1000;
    if (!placer.place_all(order, budget)) {
        return Status::conflict("perfect hash placement did not converge");
    }
    result.pilots = placer.take_pilots();

    // Every key must land on a slot of its own: the check the whole format relies on.
    result.slot_key.assign(params.slot_count, 0);
    for (std::uint64_t i = 0; i < n; ++i) {
        const Hash128& h = hashes[i];
        const std::uint64_t b = formats::mphf_bucket(params, h.hi);
        const std::uint64_t s = formats::mphf_slot(params, h.lo, result.pilots[b]);
        if (result.slot_key[s] != 0) {
            return Status::conflict("perfect hash self-check failed: two keys share slot " +
                                    std::to_string(s));
        }
        result.slot_key[s] = static_cast<std::uint32_t>(i + 1);
    }
    return result;
}

}  // namespace shortlink::compiler
