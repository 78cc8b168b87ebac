#include "compiler/mphf.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>

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

// Keys are sorted into buckets in two cache-friendly passes: first scattered into parts of
// 2^k_part_bits consecutive buckets (a few thousand keys, so a part's sort stays in L2), then
// each part is counting-sorted by bucket. One scatter over the whole key set costs a cache miss
// per key; this costs a sequential pass and a streaming write.
constexpr unsigned k_part_bits = 11;

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

// Keys grouped by bucket; inside a bucket ordered by h.lo, so the layout (and with it every
// later choice) depends only on the set of hashes, never on the order keys were given in.
struct BucketLayout {
    std::vector<std::uint64_t> lo;     // keys' h.lo, bucket by bucket
    std::vector<std::uint32_t> key;    // the key index at the same position
    std::vector<std::uint32_t> start;  // bucket b's keys are [start[b], start[b + 1])
};

// formats::mphf_bucket without its branch: 60% of hashes go one way at random, so the branch
// mispredicts on nearly every other key of the sort passes. Same values (mphf_test pins it).
inline std::uint64_t bucket_of(const MphfParams& params, std::uint64_t h_hi) {
    const std::uint64_t dense = formats::mulhi(h_hi, params.dense_mult);
    const std::uint64_t sparse =
        params.dense_buckets + formats::mulhi(h_hi - params.dense_threshold, params.sparse_mult);
    return h_hi < params.dense_threshold ? dense : sparse;
}

struct PartEntry {
    std::uint64_t lo;
    std::uint32_t bucket;
    std::uint32_t key;
};

BucketLayout sort_into_buckets(const std::vector<Hash128>& hashes, const MphfParams& params) {
    const std::uint64_t n = hashes.size();
    const std::uint64_t buckets = params.bucket_count;
    const std::uint64_t parts = (buckets >> k_part_bits) + 1;
    std::vector<std::uint32_t> part_start(parts + 1, 0);
    for (const Hash128& h : hashes) {
        ++part_start[(bucket_of(params, h.hi) >> k_part_bits) + 1];
    }
    for (std::uint64_t p = 0; p < parts; ++p) {
        part_start[p + 1] += part_start[p];
    }
    // Not value-initialized: every element is written before it is read.
    const auto entries = std::make_unique_for_overwrite<PartEntry[]>(n);
    {
        std::vector<std::uint32_t> fill(part_start.begin(), part_start.end() - 1);
        for (std::uint64_t i = 0; i < n; ++i) {
            const auto b = static_cast<std::uint32_t>(bucket_of(params, hashes[i].hi));
            entries[fill[b >> k_part_bits]++] = {hashes[i].lo, b, static_cast<std::uint32_t>(i)};
        }
    }
    BucketLayout out;
    out.lo.resize(n);
    out.key.resize(n);
    out.start.assign(buckets + 1, 0);
    std::uint32_t* start = out.start.data();
    std::vector<std::uint32_t> fill((std::uint64_t{1} << k_part_bits) + 1);
    for (std::uint64_t p = 0; p < parts; ++p) {
        const std::uint32_t begin = part_start[p];
        const std::uint32_t end = part_start[p + 1];
        const std::uint64_t first = p << k_part_bits;
        const std::uint64_t last = std::min<std::uint64_t>(buckets, (p + 1) << k_part_bits);
        // Counting sort of the part by bucket, with counters for its own buckets only.
        std::fill(fill.begin(), fill.end(), 0);
        for (std::uint32_t i = begin; i < end; ++i) {
            ++fill[entries[i].bucket - first + 1];
        }
        fill[0] = begin;
        for (std::uint64_t j = 0; j < last - first; ++j) {
            fill[j + 1] += fill[j];
        }
        std::copy(fill.begin(), fill.begin() + static_cast<std::ptrdiff_t>(last - first + 1),
                  start + first);
        for (std::uint32_t i = begin; i < end; ++i) {
            const std::uint32_t pos = fill[entries[i].bucket - first]++;
            out.lo[pos] = entries[i].lo;
            out.key[pos] = entries[i].key;
        }
        // Each bucket (a few keys) by h.lo: insertion sort.
        for (std::uint64_t b = first; b < last; ++b) {
            for (std::uint32_t i = start[b] + 1; i < start[b + 1]; ++i) {
                const std::uint64_t lo = out.lo[i];
                const std::uint32_t key = out.key[i];
                std::uint32_t j = i;
                for (; j > start[b] && out.lo[j - 1] > lo; --j) {
                    out.lo[j] = out.lo[j - 1];
                    out.key[j] = out.key[j - 1];
                }
                out.lo[j] = lo;
                out.key[j] = key;
            }
        }
    }
    start[buckets] = static_cast<std::uint32_t>(n);
    return out;
}

// The placement state: slot owners, pilots, and the per-bucket key hashes in bucket order.
class Placer {
public:
    Placer(const MphfParams& params, const BucketLayout& layout)
        : m_params(params),
          m_lo(layout.lo.data()),
          m_start(layout.start.data()),
          m_size(params.bucket_count),
          m_owner(params.slot_count, k_free),
          m_slot_size(params.slot_count, 0),
          m_taken((params.slot_count + 63) / 64, 0),
          m_pilots(params.bucket_count, 0) {
        for (std::uint64_t b = 0; b < params.bucket_count; ++b) {
            m_size[b] = static_cast<std::uint8_t>(m_start[b + 1] - m_start[b]);
        }
    }

    // Places every bucket; false when the eviction budget runs out.
    bool place_all(const std::vector<std::uint32_t>& order, std::uint64_t max_evictions) {
        std::vector<std::uint32_t> stack;
        const std::size_t count = order.size();
        for (std::size_t i = 0; i < count; ++i) {
            // The buckets come in size order, i.e. at random places of m_lo: fetch ahead.
            if (i + 16 < count) {
                __builtin_prefetch(m_start + order[i + 16]);
            }
            if (i + 8 < count) {
                __builtin_prefetch(m_lo + m_start[order[i + 8]]);
            }
            const std::uint32_t b = order[i];
            if (m_size[b] == 0) {
                break;  // sizes descend: only empty buckets remain
            }
            if (place_free(b)) {
                continue;
            }
            stack.push_back(b);
            while (!stack.empty()) {
                const std::uint32_t bucket = stack.back();
                stack.pop_back();
                if (place_free(bucket)) {
                    continue;
                }
                if (!place_evicting(bucket, stack) || m_evictions > max_evictions) {
                    return false;
                }
            }
        }
        return true;
    }

    std::vector<std::uint8_t> take_pilots() { return std::move(m_pilots); }
    std::uint64_t evictions() const { return m_evictions; }

private:
    // Slots of bucket b's keys under pilot p into `out`; false if two of them coincide.
    bool slots_for(std::uint32_t b, unsigned p, std::uint64_t* out) const {
        const std::uint32_t n = m_size[b];
        const std::uint64_t* lo = m_lo + m_start[b];
        for (std::uint32_t i = 0; i < n; ++i) {
            out[i] = formats::mphf_slot(m_params, lo[i], static_cast<std::uint8_t>(p));
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
        for (std::uint32_t i = 0; i < m_size[b]; ++i) {
            m_owner[slots[i]] = b + 1;
            m_slot_size[slots[i]] = m_size[b];
            m_taken[slots[i] >> 6] |= std::uint64_t{1} << (slots[i] & 63);
        }
    }

    // The first pilot that sends every key of b to a free slot, distinct from each other.
    // Pilots are tried eight at a time on the bucket's first key: the eight slot computations
    // and bitset loads are independent, so they overlap in the CPU instead of waiting on each
    // other behind a branch; only pilots that pass get the rest of the bucket checked. The
    // result is the same first fit as trying the pilots one by one.
    bool place_free(std::uint32_t b) {
        const std::uint32_t n = m_size[b];
        std::uint64_t slots[k_max_bucket];
        const std::uint64_t* lo = m_lo + m_start[b];
        const std::uint64_t* taken_words = m_taken.data();
        for (unsigned p0 = 0; p0 < k_pilots; p0 += 8) {
            unsigned free_mask = 0;
            for (unsigned q = 0; q < 8; ++q) {
                const std::uint64_t slot =
                    formats::mphf_slot(m_params, lo[0], static_cast<std::uint8_t>(p0 + q));
                free_mask |= static_cast<unsigned>(~(taken_words[slot >> 6] >> (slot & 63)) & 1)
                             << q;
            }
            while (free_mask != 0) {
                const unsigned p = p0 + static_cast<unsigned>(__builtin_ctz(free_mask));
                free_mask &= free_mask - 1;
                slots[0] = formats::mphf_slot(m_params, lo[0], static_cast<std::uint8_t>(p));
                bool fits = true;
                for (std::uint32_t i = 1; i < n && fits; ++i) {
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
        }
        return false;
    }

    // No free pilot: evict the cheapest set of buckets (sum of squared sizes), never one of
    // the buckets placed most recently, so that two buckets cannot keep evicting each other
    // (PtrHash keeps the same short memory). The scan starts at a pilot that moves with the
    // eviction count; every choice stays deterministic.
    bool place_evicting(std::uint32_t b, std::vector<std::uint32_t>& stack) {
        const std::uint32_t n = m_size[b];
        std::uint64_t slots[k_max_bucket];
        std::uint64_t best_score = UINT64_MAX;
        unsigned best = k_pilots;
        const unsigned start = static_cast<unsigned>((m_evictions * 0x9e3779b97f4a7c15ULL) >> 56);
        for (unsigned k = 0; k < k_pilots; ++k) {
            const unsigned p = (start + k) % k_pilots;
            if (!slots_for(b, p, slots)) {
                continue;
            }
            // Early rejection: every taken slot costs at least 1 (a bucket of one key), so the
            // number of taken slots, from the bitset alone, bounds the score from below; only
            // pilots that could beat the best one read the owners' sizes (random reads in a
            // byte per slot). Then stop adding as soon as the pilot cannot win.
            std::uint64_t lower_bound = 0;
            for (std::uint32_t i = 0; i < n; ++i) {
                lower_bound += taken(slots[i]) ? 1 : 0;
            }
            if (lower_bound >= best_score) {
                continue;
            }
            std::uint64_t score = 0;
            for (std::uint32_t i = 0; i < n && score < best_score; ++i) {
                const std::uint64_t s = m_slot_size[slots[i]];  // 0 for a free slot
                score += s * s;
            }
            if (score >= best_score) {
                continue;
            }
            bool recent = false;
            for (std::uint32_t i = 0; i < n && !recent; ++i) {
                recent = taken(slots[i]) && recently_placed(m_owner[slots[i]] - 1);
            }
            if (!recent) {
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
        for (std::uint32_t i = 0; i < m_size[b]; ++i) {
            if (m_owner[slots[i]] == b + 1) {
                m_owner[slots[i]] = k_free;
                m_slot_size[slots[i]] = 0;
                m_taken[slots[i] >> 6] &= ~(std::uint64_t{1} << (slots[i] & 63));
            }
        }
        ++m_evictions;
    }

    const MphfParams& m_params;
    const std::uint64_t* m_lo;     // keys' h.lo grouped by bucket (BucketLayout::lo)
    const std::uint32_t* m_start;  // bucket b's keys are [m_start[b], m_start[b+1])
    std::vector<std::uint8_t> m_size;    // keys per bucket: one byte, so eviction scoring and
                                         // the loops stay within a small array
    std::vector<std::uint32_t> m_owner;  // slot -> bucket + 1, or k_free (for eviction)
    // slot -> size of its owner bucket, 0 when free: eviction scoring reads a byte per slot
    // (10 MB at 10M keys, stays in L3) instead of an owner (40 MB) and then its size.
    std::vector<std::uint8_t> m_slot_size;
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
    const BucketLayout layout = sort_into_buckets(hashes, params);
    const std::uint32_t* start = layout.start.data();

    // Oversized buckets, and keys no pilot can separate (same bucket, same low half: adjacent
    // after the sort by h.lo).
    std::uint32_t max_size = 0;
    for (std::uint64_t b = 0; b < buckets; ++b) {
        const std::uint32_t size = start[b + 1] - start[b];
        max_size = std::max(max_size, size);
        if (size > k_max_bucket) {
            return Status::conflict("a bucket holds " + std::to_string(size) + " keys");
        }
        for (std::uint32_t i = start[b] + 1; i < start[b + 1]; ++i) {
            if (layout.lo[i] == layout.lo[i - 1]) {
                failure.duplicate = true;
                failure.key_a = layout.key[i - 1];
                failure.key_b = layout.key[i];
                return Status::conflict("duplicate hash");
            }
        }
    }

    // Largest buckets first (counting sort by size, stable in bucket id: deterministic).
    std::vector<std::uint32_t> order(buckets);
    {
        std::vector<std::uint64_t> by_size(max_size + 2, 0);
        for (std::uint64_t b = 0; b < buckets; ++b) {
            ++by_size[max_size - (start[b + 1] - start[b]) + 1];
        }
        for (std::size_t s = 1; s < by_size.size(); ++s) {
            by_size[s] += by_size[s - 1];
        }
        for (std::uint64_t b = 0; b < buckets; ++b) {
            order[by_size[max_size - (start[b + 1] - start[b])]++] = static_cast<std::uint32_t>(b);
        }
    }

    {
        Placer placer(params, layout);
        const auto budget =
            static_cast<std::uint64_t>(config.max_evictions_per_key * static_cast<double>(n)) +
            1000;
        if (!placer.place_all(order, budget)) {
            return Status::conflict("perfect hash placement did not converge");
        }
        result.pilots = placer.take_pilots();
    }

    // Every key must land on a slot of its own, by the query's own slot function: the check the
    // whole format relies on (the compiler checks again through the reader). Walking the buckets
    // in order reads the pilots sequentially.
    result.slot_key.assign(params.slot_count, 0);
    for (std::uint64_t b = 0; b < buckets; ++b) {
        const std::uint8_t pilot = result.pilots[b];
        for (std::uint32_t i = start[b]; i < start[b + 1]; ++i) {
            const std::uint64_t s = formats::mphf_slot(params, layout.lo[i], pilot);
            if (result.slot_key[s] != 0) {
                return Status::conflict("perfect hash self-check failed: two keys share slot " +
                                        std::to_string(s));
            }
            result.slot_key[s] = layout.key[i] + 1;
        }
    }
    return result;
}

}  // namespace shortlink::compiler
