// Where a password link's POST is checked: a small fixed pool of threads apart from the request
// threads, so a 30 ms scrypt never holds up a redirect, and a fixed-size table of failed
// attempts per client address and per link, so guessing is slow wherever it comes from.
//
// Thread-safety: PasswordPool::submit() and AttemptLimiter's members may be called from any
// thread. The pool's destructor (or stop()) joins its threads; tasks still queued are dropped
// unrun, so a task must not own anything whose destruction needs another thread (a connection
// hands the pool a weak reference).
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

namespace shortlink::serve {

class PasswordPool {
public:
    // `threads` workers (at least 1) and at most `queue_capacity` tasks waiting.
    PasswordPool(unsigned threads, std::size_t queue_capacity);
    ~PasswordPool();
    PasswordPool(const PasswordPool&) = delete;
    PasswordPool& operator=(const PasswordPool&) = delete;

    // Queues `task`; false when the queue is full (the caller answers 503) or the pool stopped.
    bool submit(std::function<void()> task);
    void stop();

    std::size_t queue_depth() const { return m_depth.load(std::memory_order_relaxed); }
    std::uint64_t rejected() const { return m_rejected.load(std::memory_order_relaxed); }

private:
    void run();

    const std::size_t m_capacity;
    std::mutex m_mutex;
    std::condition_variable m_wake;
    std::deque<std::function<void()>> m_queue;
    bool m_stopping = false;
    std::atomic<std::size_t> m_depth{0};
    std::atomic<std::uint64_t> m_rejected{0};
    std::vector<std::thread> m_threads;
};

// Failed attempts counted per key in fixed one-minute windows, in a table of fixed size: each
// key has 8 possible places (from its hash); a new key takes a free place, or an expired one, or
// else the one whose window ends first. A flood of new addresses therefore never grows memory;
// it can only push out counts of other keys, never raise one.
class AttemptLimiter {
public:
    static constexpr std::size_t k_entries = 8192;  // 8192 x 24 bytes: 192 KiB
    static constexpr std::size_t k_probe = 8;
    static constexpr std::int64_t k_window_s = 60;

    // At most `per_client` failures per address and `per_link` per link in a window (0: no limit).
    AttemptLimiter(std::uint32_t per_client, std::uint32_t per_link);

    // Seconds until another attempt is allowed for (address, link) at `now`; 0: allowed now.
    std::uint32_t retry_after(const std::array<std::uint8_t, 16>& address, std::string_view host,
                              std::string_view code, std::int64_t now);
    // Counts a failed attempt.
    void record_failure(const std::array<std::uint8_t, 16>& address, std::string_view host, std::string_view code,
                        std::int64_t now);

    std::uint64_t limited() const { return m_limited.load(std::memory_order_relaxed); }

private:
    struct Entry {
        std::uint64_t key = 0;  // 0: free
        std::int64_t window_end = 0;
        std::uint32_t count = 0;
    };
    Entry* find(std::uint64_t key, std::int64_t now, bool create);
    std::uint32_t wait_for(std::uint64_t key, std::uint32_t limit, std::int64_t now);

    const std::uint32_t m_per_client;
    const std::uint32_t m_per_link;
    std::mutex m_mutex;
    std::vector<Entry> m_table;
    std::uint64_t m_seed;
    std::atomic<std::uint64_t> m_limited{0};
};

}  // namespace shortlink::serve
