// The click log (`serve --clicks DIR`): one event per answered request, recorded without ever
// blocking, allocating on or slowing the request path.
//
// Each worker copies what it knows of a request (status, outcome, the link, the client's address
// and a few headers) into its own ClickRing, a fixed-size single-producer single-consumer byte
// ring: one bounds check, one memcpy per field and one release store. A full ring drops the
// event and counts it. The writer thread (ClickLog) wakes every k_drain_interval_ms, drains the
// rings, turns each raw record into a formats::clicks::Event (client class and bot verdict,
// keyed visitor hash, anonymised network, referrer host: all of it off the request path), and
// appends zstd blocks to the current segment (formats/clicks.h), which it seals by size and
// age. A failing disk drops events and counts them; nothing of it reaches a request.
//
// No client address leaves memory: the visitor key is HMAC-SHA-256 under a key that changes
// every UTC day (SPEC.md "Visitor keys and addresses").
//
// Thread-safety: ClickRing::push() from its one worker thread; everything else from the thread
// that owns the ClickLog (the server's control thread) and the writer thread it starts.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "formats/clicks.h"
#include "formats/status.h"
#include "serve/client_class.h"

namespace shortlink::serve {

// The raw fields a worker records, in ClickRing order after the head.
enum class ClickText : std::uint8_t {
    domain, code, user_agent, referer, sec_purpose, purpose, ch_mobile, ch_platform, country
};
inline constexpr std::size_t k_click_text_count = 9;
// Caps on what a worker copies (longer values are cut): enough to classify and to extract the
// referrer's host; the event itself has its own caps (formats/clicks.h).
inline constexpr std::array<std::uint16_t, k_click_text_count> k_click_text_caps = {
    253, 1024, 512, 512, 32, 32, 8, 48, 8};

// What a worker knows of one answered request. The views must stay valid only during push().
struct ClickRecord {
    std::int64_t time_ms = 0;
    std::uint64_t serial = 0;
    std::uint16_t status = 0;
    std::uint8_t outcome = 0;  // formats::clicks::Outcome
    std::uint8_t method = 0;   // formats::clicks::Method
    std::uint8_t flags = 0;    // formats::clicks::k_event_qr, k_event_tls
    std::uint8_t family = 0;   // 0 unknown, 4 or 6
    std::array<std::uint8_t, 16> address{};  // IPv4 in the first 4 bytes
    std::array<std::string_view, k_click_text_count> text;
};

// The fixed part of a record as it sits in the ring (host byte order, never stored).
struct ClickRecordHead {
    std::uint32_t size = 0;  // the whole record, a multiple of 8; 0: the rest of the ring is unused
    std::uint16_t status = 0;
    std::uint8_t outcome = 0;
    std::uint8_t method = 0;
    std::uint8_t flags = 0;
    std::uint8_t family = 0;
    std::array<std::uint8_t, 16> address{};
    std::int64_t time_ms = 0;
    std::uint64_t serial = 0;
    std::array<std::uint16_t, k_click_text_count> lengths{};
};

class ClickRing {
public:
    // `capacity`: bytes, rounded up to a power of two (at least 64 KiB).
    explicit ClickRing(std::size_t capacity);
    ClickRing(const ClickRing&) = delete;
    ClickRing& operator=(const ClickRing&) = delete;

    // Worker thread. False when the ring has no room (the event is dropped; count it).
    bool push(const ClickRecord& record);

    // Writer thread: calls f(head, text) for every record pushed so far, text[i] being the
    // record's ClickText i, then frees their room. Returns how many it visited.
    template <class F>
    std::size_t drain(F&& f);

    std::size_t capacity() const { return m_mask + 1; }

private:
    std::unique_ptr<std::uint8_t[]> m_data;
    std::size_t m_mask = 0;
    // Producer's and consumer's positions (ever increasing) on their own cache lines; each side
    // caches the other's to touch the shared line only when it must.
    alignas(64) std::atomic<std::uint64_t> m_head{0};
    std::uint64_t m_cached_tail = 0;
    alignas(64) std::atomic<std::uint64_t> m_tail{0};
};

struct ClickLogConfig {
    std::string dir;
    std::size_t ring_bytes = 4u << 20;              // per worker
    std::uint64_t segment_bytes = 16u << 20;        // seal after this much compressed payload
    std::int64_t segment_age_ms = 5 * 60 * 1000;    // or after this long
    std::int64_t block_age_ms = 1000;               // a block at least every second
    std::size_t block_bytes = 256u << 10;           // or when this much is waiting
    bool networks = false;                          // record anonymised networks (/24, /48)
};

// What /metrics shows of the click log; the rings' drops are counted by the workers.
struct ClickLogMetrics {
    std::uint64_t recorded = 0;        // events written into a segment
    std::uint64_t dropped_write = 0;   // lost to a failing write (full disk, I/O error)
    std::uint64_t segments_sealed = 0;
    std::uint64_t bytes_written = 0;   // block bytes appended
    std::uint64_t write_errors = 0;
    std::int64_t last_write_ms = 0;    // last block appended (Unix ms); 0: none yet
};

class ClickLog {
public:
    // Takes DIR's lock (one server records into a directory at a time), seals the .part files a
    // dead writer left, and loads or makes today's visitor key. `log_fd`: where warnings go.
    static Result<std::unique_ptr<ClickLog>> open(const ClickLogConfig& config, unsigned rings, int log_fd);
    ~ClickLog();
    ClickLog(const ClickLog&) = delete;
    ClickLog& operator=(const ClickLog&) = delete;

    ClickRing& ring(unsigned i) { return *m_rings[i]; }

    void start();
    // Drains every ring, writes and seals the current segment, and joins the writer. Call after
    // the workers stopped (SIGTERM), so nothing they recorded is lost.
    void stop();

    ClickLogMetrics metrics() const;

    // The writer's work on one raw record, exposed for tests (tests/serve/click_log_test.cpp).
    // `now_ms` picks the day's key.
    struct Converted {
        formats::clicks::Event event;
        std::array<char, formats::clicks::k_max_referrer> referrer_buffer;
        std::array<char, formats::clicks::k_max_domain> domain_buffer;
    };
    void convert(const ClickRecordHead& head, const std::array<std::string_view, k_click_text_count>& text,
                 Converted& out);

private:
    ClickLog() = default;
    void run();
    void drain_all();
    void flush_block(std::int64_t now_ms);
    void maybe_seal(std::int64_t now_ms);
    void seal();
    void rotate_key_if_needed(std::int64_t now_ms);
    std::string_view referrer(std::string_view referer, char* out);
    ClientClass classify(std::string_view user_agent, std::string_view ch_mobile, std::string_view ch_platform);
    std::uint64_t visitor_key(const ClickRecordHead& head, std::string_view user_agent, std::string_view domain);
    bool repeated(std::uint64_t visitor, std::string_view domain, std::string_view code, std::int64_t time_ms);
    void warn(std::string_view what, const std::string& detail);

    ClickLogConfig m_config;
    int m_log_fd = -1;
    int m_lock_fd = -1;
    std::vector<std::unique_ptr<ClickRing>> m_rings;

    // Writer thread state.
    std::unique_ptr<formats::clicks::SegmentWriter> m_segment;
    std::string m_block;
    std::uint32_t m_block_events = 0;
    std::int64_t m_block_started_ms = 0;
    std::int64_t m_last_failure_ms = 0;

    // The day's visitor key and its caches (both cleared when the key changes).
    std::int64_t m_key_day = -1;
    std::array<std::uint8_t, 32> m_key{};
    std::uint64_t m_cache_seed = 0;
    struct VisitorSlot {
        std::uint64_t tag = 0;
        std::uint64_t visitor = 0;
    };
    std::vector<VisitorSlot> m_visitors;
    struct RepeatSlot {
        std::uint64_t tag = 0;
        std::int64_t minute = 0;
        std::uint32_t count = 0;
    };
    std::vector<RepeatSlot> m_repeats;
    struct ClassSlot {
        std::uint64_t tag = 0;
        ClientClass value;
    };
    std::vector<ClassSlot> m_classes;
    struct ReferrerSlot {
        std::uint64_t tag = 0;
        std::uint8_t size = 0;
        std::array<char, 55> host{};
    };
    std::vector<ReferrerSlot> m_referrers;

    std::thread m_thread;
    std::mutex m_mutex;
    std::condition_variable m_wake;
    bool m_stop = false;

    std::atomic<std::uint64_t> m_recorded{0};
    std::atomic<std::uint64_t> m_dropped_write{0};
    std::atomic<std::uint64_t> m_segments_sealed{0};
    std::atomic<std::uint64_t> m_bytes_written{0};
    std::atomic<std::uint64_t> m_write_errors{0};
    std::atomic<std::int64_t> m_last_write_ms{0};
};

// How often the writer drains the rings. A browser's record is about 250 bytes, so the default
// 16 MiB ring holds about 64,000: more than a second at 50,000 requests a second per thread,
// which leaves the idle-priority writer room to be late (at 4 MiB a thread 90% busy dropped 3%
// of its events: the writer's idle moments came too late for a fifth of a second's buffer).
inline constexpr std::int64_t k_drain_interval_ms = 50;
// One visitor asking for one link more often than this in a minute is flagged `repeat`.
inline constexpr std::uint32_t k_repeat_per_minute = 10;

template <class F>
std::size_t ClickRing::drain(F&& f) {
    const std::uint64_t head = m_head.load(std::memory_order_acquire);
    std::uint64_t tail = m_tail.load(std::memory_order_relaxed);
    std::size_t n = 0;
    std::array<std::string_view, k_click_text_count> text;
    while (tail != head) {
        const std::size_t at = tail & m_mask;
        // The size first: where the producer wrapped, the ring's end may be closer than a whole
        // header (records are 8-byte aligned, so the size always fits).
        std::uint32_t size = 0;
        std::memcpy(&size, m_data.get() + at, sizeof size);
        if (size == 0) {
            tail += capacity() - at;  // the producer wrapped here
            continue;
        }
        ClickRecordHead h;
        std::memcpy(&h, m_data.get() + at, sizeof h);  // a record never wraps
        const char* p = reinterpret_cast<const char*>(m_data.get() + at + sizeof h);
        for (std::size_t i = 0; i < k_click_text_count; ++i) {
            text[i] = std::string_view(p, h.lengths[i]);
            p += h.lengths[i];
        }
        f(h, text);
        tail += h.size;
        ++n;
    }
    m_tail.store(tail, std::memory_order_release);
    return n;
}

}  // namespace shortlink::serve
