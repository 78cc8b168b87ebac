#include "serve/miss_budget.h"

#include "formats/hash.h"

namespace shortlink::serve {

namespace {

// Slot layout: fingerprint (32 bits) | minute (16 bits) | count (16 bits, saturating). Zero is
// an empty slot; no fingerprint is zero.
constexpr std::uint64_t slot_of(std::uint32_t fingerprint, std::uint32_t minute, std::uint32_t count) {
    return (std::uint64_t{fingerprint} << 32) | (std::uint64_t{minute & 0xffffu} << 16) | (count & 0xffffu);
}
constexpr std::uint32_t fingerprint_of(std::uint64_t slot) { return static_cast<std::uint32_t>(slot >> 32); }
constexpr std::uint32_t minute_of(std::uint64_t slot) { return static_cast<std::uint32_t>(slot >> 16) & 0xffffu; }
constexpr std::uint32_t count_of(std::uint64_t slot) { return static_cast<std::uint32_t>(slot) & 0xffffu; }

// Attempts at finding or placing a client's slot before a miss goes uncounted (only under a
// storm of new addresses of one bucket at once; failing open there costs one more 404, never a
// refused hit).
constexpr int k_attempts = 8;

}  // namespace

MissBudget::MissBudget(std::uint64_t secret)
    : m_secret(secret), m_slots(std::make_unique<std::atomic<std::uint64_t>[]>(k_slots)) {
    for (std::size_t i = 0; i < k_slots; ++i) {
        m_slots[i].store(0, std::memory_order_relaxed);
    }
}

MissVerdict MissBudget::record_miss(const Address16& client, std::int64_t now_s, std::uint32_t budget) {
    MissVerdict verdict;
    if (budget == 0 || now_s < 0) {
        return verdict;
    }
    // An IPv6 client counts by its /64: one subscriber gets at least that many addresses.
    const std::size_t key_size = is_v4_mapped(client) ? 16 : 8;
    const formats::Hash128 h = formats::hash128(client.data(), key_size, m_secret);
    const std::size_t bucket = static_cast<std::size_t>(h.lo % (k_slots / k_ways)) * k_ways;
    std::uint32_t fingerprint = static_cast<std::uint32_t>(h.hi);
    fingerprint = fingerprint == 0 ? 1 : fingerprint;
    const auto minute = static_cast<std::uint32_t>(now_s / k_window_s) & 0xffffu;

    std::uint32_t count = 0;
    for (int attempt = 0; attempt < k_attempts && count == 0; ++attempt) {
        std::size_t victim = k_ways;
        std::uint64_t victim_value = 0;
        bool found = false;
        for (std::size_t w = 0; w < k_ways; ++w) {
            std::atomic<std::uint64_t>& slot = m_slots[bucket + w];
            std::uint64_t v = slot.load(std::memory_order_relaxed);
            if (v != 0 && fingerprint_of(v) == fingerprint && minute_of(v) == minute) {
                found = true;
                // Racing only counts of this client: some thread always wins, so retry until
                // this one has, unless the slot was taken over meanwhile (then look again).
                while (fingerprint_of(v) == fingerprint && minute_of(v) == minute) {
                    const std::uint32_t next = count_of(v) == 0xffffu ? 0xffffu : count_of(v) + 1;
                    if (slot.compare_exchange_weak(v, slot_of(fingerprint, minute, next), std::memory_order_relaxed)) {
                        count = next;
                        break;
                    }
                }
                break;
            }
            // The slot to take over: an empty one or one of an older minute first, else the
            // one with the fewest misses this minute.
            const bool stale = v == 0 || minute_of(v) != minute;
            const bool victim_stale = victim != k_ways && (victim_value == 0 || minute_of(victim_value) != minute);
            if (victim == k_ways || (stale && !victim_stale) ||
                (!stale && !victim_stale && count_of(v) < count_of(victim_value))) {
                victim = w;
                victim_value = v;
            }
        }
        if (found) {
            continue;  // counted, or lost a race on its own slot: look again
        }
        std::uint64_t expected = victim_value;
        if (m_slots[bucket + victim].compare_exchange_strong(expected, slot_of(fingerprint, minute, 1),
                                                             std::memory_order_relaxed)) {
            if (victim_value != 0 && minute_of(victim_value) == minute) {
                m_evictions.fetch_add(1, std::memory_order_relaxed);
            }
            count = 1;
        }
    }
    if (count > budget) {
        verdict.over = true;
        verdict.retry_after_s = static_cast<std::uint32_t>(k_window_s - now_s % k_window_s);
    }
    return verdict;
}

std::size_t MissBudget::tracked(std::int64_t now_s) const {
    const auto minute = static_cast<std::uint32_t>(now_s / k_window_s) & 0xffffu;
    std::size_t n = 0;
    for (std::size_t i = 0; i < k_slots; ++i) {
        const std::uint64_t v = m_slots[i].load(std::memory_order_relaxed);
        n += v != 0 && minute_of(v) == minute ? 1 : 0;
    }
    return n;
}

}  // namespace shortlink::serve
