// MissBudget: how many misses (404s: unknown codes, unknown hosts) each client address had in
// the current minute, so that a client scanning for codes is answered 429 past its budget
// (serve --miss-budget). Only misses are counted and only a miss is ever refused: a client over
// its budget still gets every link that exists.
//
// A fixed table of k_slots 8-byte slots allocated once (512 KiB), whatever the number of
// addresses: a flood of new addresses evicts the quietest ones instead of growing anything.
// A slot packs a 32-bit fingerprint of the address (keyed with a per-process secret, so no one
// can aim collisions at another client), the minute it counts (Unix minute, low 16 bits) and
// the count. An address may go in any of the k_ways slots of its bucket (one cache line);
// within it, a slot of an older minute or else the one with the lowest count is taken over.
// IPv6 clients count by their /64 (what one subscriber line gets), IPv4 ones by address.
//
// The window is the calendar minute: a client over budget gets Retry-After with the seconds
// to the next one. Two addresses whose fingerprints and bucket collide share a budget (about
// one pair in 2^32 per bucket).
//
// Thread-safety: record_miss() from any number of threads at once; each slot is one atomic
// updated by compare-and-swap, so the request threads share the table without a lock, and
// touch it only on a miss.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>

#include "serve/client_address.h"

namespace shortlink::serve {

struct MissVerdict {
    bool over = false;            // past the budget: answer 429
    std::uint32_t retry_after_s = 0;  // with over: seconds to the next window (1..60)
};

class MissBudget {
public:
    // 2^16 slots of 8 bytes; 8 ways of a 64-byte bucket.
    static constexpr std::size_t k_slots = 1u << 16;
    static constexpr std::size_t k_ways = 8;
    // The length of a window (a budget is "N misses a minute").
    static constexpr std::int64_t k_window_s = 60;
    // The default budget of serve --miss-budget: two misses a second on average leaves room for
    // a person mistyping and for a page with a few dead links, and stops a scanner after a
    // minute's worth of guesses.
    static constexpr std::uint32_t k_default_budget = 120;

    // `secret` keys the address fingerprints (the server draws it from its CSPRNG).
    explicit MissBudget(std::uint64_t secret);

    // Counts a miss of `client` at Unix time `now_s` against `budget` misses a minute (0: no
    // budget; nothing is counted). The verdict is "over" from the budget + 1st miss of a
    // minute on.
    MissVerdict record_miss(const Address16& client, std::int64_t now_s, std::uint32_t budget);

    // The addresses the table tracks in the window of `now_s` (for /metrics; a racy estimate
    // while requests run).
    std::size_t tracked(std::int64_t now_s) const;
    // Slots taken over from another address of the current minute (the table was full there).
    std::uint64_t evictions() const { return m_evictions.load(std::memory_order_relaxed); }

private:
    std::uint64_t m_secret;
    std::unique_ptr<std::atomic<std::uint64_t>[]> m_slots;
    std::atomic<std::uint64_t> m_evictions{0};
};

}  // namespace shortlink::serve
