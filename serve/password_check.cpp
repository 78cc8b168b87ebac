#include "serve/password_check.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <sched.h>

#include <algorithm>

#include "formats/hash.h"

namespace shortlink::serve {

PasswordPool::PasswordPool(unsigned threads, std::size_t queue_capacity) : m_capacity(queue_capacity) {
    for (unsigned i = 0; i < std::max(1u, threads); ++i) {
        m_threads.emplace_back([this] { run(); });
    }
}

PasswordPool::~PasswordPool() { stop(); }

void PasswordPool::stop() {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_stopping = true;
        m_queue.clear();
        m_depth.store(0, std::memory_order_relaxed);
    }
    m_wake.notify_all();
    for (std::thread& t : m_threads) {
        if (t.joinable()) {
            t.join();
        }
    }
}

bool PasswordPool::submit(std::function<void()> task) {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        if (m_stopping || m_queue.size() >= m_capacity) {
            m_rejected.fetch_add(1, std::memory_order_relaxed);
            return false;
        }
        m_queue.push_back(std::move(task));
        m_depth.store(m_queue.size(), std::memory_order_relaxed);
    }
    m_wake.notify_one();
    return true;
}

void PasswordPool::run() {
    // A check is worth less than a redirect: like the click log's writer, the pool runs only on
    // CPU the request threads leave idle (SCHED_IDLE), so a saturated host slows its checks (the
    // queue fills, then 503 with Retry-After) rather than its redirects. bench/password measured
    // nice 10 too: redirect p99 rose 5-7x under checks, against 2-4x here. Failing to lower it
    // changes nothing else.
    sched_param idle{};
    (void)pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle);
    while (true) {
        std::function<void()> task;
        {
            std::unique_lock<std::mutex> lock(m_mutex);
            m_wake.wait(lock, [this] { return m_stopping || !m_queue.empty(); });
            if (m_stopping) {
                return;
            }
            task = std::move(m_queue.front());
            m_queue.pop_front();
            m_depth.store(m_queue.size(), std::memory_order_relaxed);
        }
        task();
    }
}

AttemptLimiter::AttemptLimiter(std::uint32_t per_client, std::uint32_t per_link)
    : m_per_client(per_client), m_per_link(per_link), m_table(k_entries) {
    // A random seed: a client cannot pick addresses or codes that all land on one place.
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&m_seed), sizeof m_seed) != 1) {
        m_seed = 0x736c70776c696d31;  // "slpwlim1"
    }
}

namespace {

std::uint64_t client_key(const std::array<std::uint8_t, 16>& address, std::uint64_t seed) {
    const std::string_view bytes(reinterpret_cast<const char*>(address.data()), address.size());
    return formats::hash128(bytes, seed ^ 1).lo | 1;  // never 0 (free)
}

std::uint64_t link_key(std::string_view host, std::string_view code, std::uint64_t seed) {
    const std::uint64_t h = formats::hash128(host, seed ^ 2).lo;
    return formats::hash128(code, h).lo | 1;
}

}  // namespace

AttemptLimiter::Entry* AttemptLimiter::find(std::uint64_t key, std::int64_t now, bool create) {
    const std::size_t home = static_cast<std::size_t>(key % k_entries);
    // A free or expired place first, else the one whose window ends first.
    const auto rank = [now](const Entry& e) { return e.key == 0 || e.window_end <= now ? 0 : e.window_end; };
    Entry* victim = nullptr;
    for (std::size_t i = 0; i < k_probe; ++i) {
        Entry& e = m_table[(home + i) % k_entries];
        if (e.key == key) {
            if (e.window_end <= now) {
                e.count = 0;
                e.window_end = now + k_window_s;
            }
            return &e;
        }
        if (victim == nullptr || rank(e) < rank(*victim)) {
            victim = &e;
        }
    }
    if (!create) {
        return nullptr;
    }
    *victim = Entry{key, now + k_window_s, 0};
    return victim;
}

std::uint32_t AttemptLimiter::wait_for(std::uint64_t key, std::uint32_t limit, std::int64_t now) {
    if (limit == 0) {
        return 0;
    }
    const Entry* e = find(key, now, false);
    if (e == nullptr || e->count < limit) {
        return 0;
    }
    return static_cast<std::uint32_t>(std::max<std::int64_t>(1, e->window_end - now));
}

std::uint32_t AttemptLimiter::retry_after(const std::array<std::uint8_t, 16>& address, std::string_view host,
                                          std::string_view code, std::int64_t now) {
    std::lock_guard<std::mutex> lock(m_mutex);
    const std::uint32_t wait = std::max(wait_for(client_key(address, m_seed), m_per_client, now),
                                        wait_for(link_key(host, code, m_seed), m_per_link, now));
    if (wait != 0) {
        m_limited.fetch_add(1, std::memory_order_relaxed);
    }
    return wait;
}

void AttemptLimiter::record_failure(const std::array<std::uint8_t, 16>& address, std::string_view host,
                                    std::string_view code, std::int64_t now) {
    std::lock_guard<std::mutex> lock(m_mutex);
    for (std::uint64_t key : {client_key(address, m_seed), link_key(host, code, m_seed)}) {
        Entry* e = find(key, now, true);
        e->count = std::min<std::uint32_t>(e->count + 1, 0xffffffffu - 1);
    }
}

}  // namespace shortlink::serve
