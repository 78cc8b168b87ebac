#include "serve/click_log.h"

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "formats/clock.h"
#include "formats/hash.h"
#include "serve/client_class.h"
#include "serve/log.h"

namespace shortlink::serve {

namespace clicks = formats::clicks;

namespace {

constexpr std::int64_t k_day_ms = 86400000;
constexpr std::size_t k_visitor_slots = 1u << 16;
// Small enough to stay in a core's cache; a collision only restarts a count (fewer repeats seen).
constexpr std::size_t k_repeat_slots = 1u << 14;
constexpr std::size_t k_referrer_slots = 1u << 12;
constexpr std::size_t k_class_slots = 1u << 12;
constexpr std::int64_t k_failure_backoff_ms = 5000;

std::size_t round8(std::size_t n) { return (n + 7) & ~static_cast<std::size_t>(7); }

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

std::string hex(const std::uint8_t* p, std::size_t n) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        out.push_back(digits[p[i] >> 4]);
        out.push_back(digits[p[i] & 15]);
    }
    return out;
}

bool unhex(std::string_view text, std::uint8_t* out, std::size_t n) {
    if (text.size() != 2 * n) {
        return false;
    }
    const auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < n; ++i) {
        const int hi = nibble(text[2 * i]);
        const int lo = nibble(text[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
    }
    return true;
}

}  // namespace

// ---- ClickRing ----

ClickRing::ClickRing(std::size_t capacity) {
    const std::size_t size = std::bit_ceil(std::max<std::size_t>(capacity, 64u << 10));
    m_data = std::make_unique<std::uint8_t[]>(size);
    m_mask = size - 1;
}

bool ClickRing::push(const ClickRecord& r) {
    ClickRecordHead h;
    std::size_t text = 0;
    for (std::size_t i = 0; i < k_click_text_count; ++i) {
        h.lengths[i] = static_cast<std::uint16_t>(std::min<std::size_t>(r.text[i].size(), k_click_text_caps[i]));
        text += h.lengths[i];
    }
    const std::size_t size = round8(sizeof h + text);
    const std::uint64_t head = m_head.load(std::memory_order_relaxed);
    const std::size_t at = head & m_mask;
    const std::size_t to_end = capacity() - at;
    // A record never wraps: if it does not fit before the end, the rest is skipped (marked by a
    // zero size) and it goes at the start.
    const std::size_t need = to_end < size ? to_end + size : size;
    if (head + need - m_cached_tail > capacity()) {
        m_cached_tail = m_tail.load(std::memory_order_acquire);
        if (head + need - m_cached_tail > capacity()) {
            return false;
        }
    }
    std::uint64_t write = head;
    if (to_end < size) {
        const std::uint32_t zero = 0;
        std::memcpy(m_data.get() + at, &zero, sizeof zero);
        write += to_end;
    }
    std::uint8_t* p = m_data.get() + (write & m_mask);
    h.size = static_cast<std::uint32_t>(size);
    h.status = r.status;
    h.outcome = r.outcome;
    h.method = r.method;
    h.flags = r.flags;
    h.family = r.family;
    h.address = r.address;
    h.time_ms = r.time_ms;
    h.serial = r.serial;
    std::memcpy(p, &h, sizeof h);
    p += sizeof h;
    for (std::size_t i = 0; i < k_click_text_count; ++i) {
        if (h.lengths[i] != 0) {  // an absent field's view may hold no pointer at all
            std::memcpy(p, r.text[i].data(), h.lengths[i]);
            p += h.lengths[i];
        }
    }
    m_head.store(write + size, std::memory_order_release);
    return true;
}

// ---- ClickLog ----

Result<std::unique_ptr<ClickLog>> ClickLog::open(const ClickLogConfig& config, unsigned rings, int log_fd) {
    std::unique_ptr<ClickLog> log(new ClickLog());
    log->m_config = config;
    log->m_log_fd = log_fd;
    struct stat st{};
    if (::stat(config.dir.c_str(), &st) != 0) {
        return Status::not_found("--clicks " + config.dir + ": " + std::strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) {
        return Status::invalid_argument("--clicks " + config.dir + ": not a directory");
    }
    const std::string lock = config.dir + "/.lock";
    log->m_lock_fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (log->m_lock_fd < 0) {
        return Status::io_error("--clicks " + config.dir + ": cannot create " + lock + ": " +
                                std::strerror(errno));
    }
    if (::flock(log->m_lock_fd, LOCK_EX | LOCK_NB) != 0) {
        return Status::conflict("--clicks " + config.dir +
                                ": another server records clicks in this directory");
    }
    // A .part no writer holds is what a crash (or kill -9) left: seal its complete blocks.
    if (DIR* d = ::opendir(config.dir.c_str())) {
        std::vector<std::string> orphans;
        while (const dirent* e = ::readdir(d)) {
            bool part = false;
            if (clicks::is_segment_name(e->d_name, &part) && part) {
                orphans.push_back(config.dir + "/" + e->d_name);
            }
        }
        ::closedir(d);
        for (const std::string& path : orphans) {
            auto sealed = clicks::seal_orphan(path);
            if (sealed) {
                LogLine("info", "click_segment_recovered").str("file", *sealed).emit(log_fd);
            } else {
                LogLine("warn", "click_segment_not_recovered").str("error", sealed.status().message()).emit(log_fd);
            }
        }
    }
    log->m_visitors.resize(k_visitor_slots);
    log->m_repeats.resize(k_repeat_slots);
    log->m_classes.resize(k_class_slots);
    log->m_referrers.resize(k_referrer_slots);
    for (unsigned i = 0; i < rings; ++i) {
        log->m_rings.push_back(std::make_unique<ClickRing>(config.ring_bytes));
    }
    log->rotate_key_if_needed(clock::unix_millis());
    if (log->m_key_day < 0) {
        return Status::io_error("--clicks " + config.dir + ": no random bytes for the visitor key");
    }
    return log;
}

ClickLog::~ClickLog() {
    if (m_thread.joinable()) {
        stop();
    }
    OPENSSL_cleanse(m_key.data(), m_key.size());
    if (m_lock_fd >= 0) {
        ::close(m_lock_fd);
    }
}

void ClickLog::start() {
    m_thread = std::thread([this] { run(); });
}

void ClickLog::stop() {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_stop = true;
    }
    m_wake.notify_all();
    if (m_thread.joinable()) {
        m_thread.join();
    }
}

void ClickLog::run() {
    // The writer only ever uses idle time: the kernel preempts it the moment a request thread
    // wakes, so its bursts never sit in front of a request (the snapshot loader runs the same
    // way, serve/server.cpp says why nice is not enough). A host with no idle time left drops
    // events, counted, rather than slow a redirect.
    pthread_setname_np(pthread_self(), "sl-clicks");
    sched_param idle{};
    if (const int err = pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle); err != 0) {
        warn("click_writer_priority", std::strerror(err));
    }
    for (;;) {
        bool stopping = false;
        {
            std::unique_lock<std::mutex> lock(m_mutex);
            m_wake.wait_for(lock, std::chrono::milliseconds(k_drain_interval_ms), [this] { return m_stop; });
            stopping = m_stop;
        }
        drain_all();
        const std::int64_t now = clock::unix_millis();
        if (stopping) {
            flush_block(now);
            seal();
            return;
        }
        if (m_block_events > 0 && now - m_block_started_ms >= m_config.block_age_ms) {
            flush_block(now);
        }
        maybe_seal(now);
    }
}

void ClickLog::drain_all() {
    Converted c;
    for (auto& ring : m_rings) {
        ring->drain([&](const ClickRecordHead& head, const std::array<std::string_view, k_click_text_count>& text) {
            convert(head, text, c);
            if (m_block_events == 0) {
                m_block_started_ms = clock::unix_millis();
            }
            clicks::append_event(m_block, c.event);
            ++m_block_events;
            if (m_block.size() >= m_config.block_bytes || m_block_events >= clicks::k_max_block_events) {
                const std::int64_t now = clock::unix_millis();
                flush_block(now);
                maybe_seal(now);
            }
        });
    }
}

void ClickLog::convert(const ClickRecordHead& head, const std::array<std::string_view, k_click_text_count>& text,
                       Converted& out) {
    rotate_key_if_needed(head.time_ms);
    clicks::Event& e = out.event;
    e = clicks::Event{};
    e.time_ms = head.time_ms;
    e.serial = head.serial;
    e.status = head.status;
    e.outcome = head.outcome;
    e.method = head.method;
    e.flags = head.flags & (clicks::k_event_qr | clicks::k_event_tls);

    const std::string_view raw_domain = text[static_cast<std::size_t>(ClickText::domain)];
    const std::size_t dn = std::min(raw_domain.size(), out.domain_buffer.size());
    for (std::size_t i = 0; i < dn; ++i) {
        out.domain_buffer[i] = lower(raw_domain[i]);
    }
    e.domain = std::string_view(out.domain_buffer.data(), dn);
    e.code = text[static_cast<std::size_t>(ClickText::code)];

    const std::string_view ua = text[static_cast<std::size_t>(ClickText::user_agent)];
    const ClientClass cls = classify(ua, text[static_cast<std::size_t>(ClickText::ch_mobile)],
                                     text[static_cast<std::size_t>(ClickText::ch_platform)]);
    e.device = static_cast<std::uint8_t>(cls.device);
    e.os = static_cast<std::uint8_t>(cls.os);
    e.browser = static_cast<std::uint8_t>(cls.browser);

    e.referrer = referrer(text[static_cast<std::size_t>(ClickText::referer)], out.referrer_buffer.data());

    const std::string_view country = text[static_cast<std::size_t>(ClickText::country)];
    if (country.size() == 2) {
        const char a = static_cast<char>(country[0] & ~0x20);
        const char b = static_cast<char>(country[1] & ~0x20);
        // XX (unknown) and T1 (Tor) are what Cloudflare sends when it does not know.
        if (a >= 'A' && a <= 'Z' && b >= 'A' && b <= 'Z' && !(a == 'X' && b == 'X')) {
            e.country = {a, b};
        }
    }
    if (m_config.networks && (head.family == 4 || head.family == 6)) {
        e.network_family = head.family;
        std::copy_n(head.address.begin(), head.family == 4 ? 3 : 6, e.network.begin());
    }
    e.visitor = visitor_key(head, ua, e.domain);

    // The verdict: the request's own kind first, then who sent it, then how often.
    clicks::Bot bot = clicks::Bot::person;
    if (head.method == static_cast<std::uint8_t>(clicks::Method::head)) {
        bot = clicks::Bot::head;
    } else if (const clicks::Bot purpose = classify_purpose(text[static_cast<std::size_t>(ClickText::sec_purpose)],
                                                            text[static_cast<std::size_t>(ClickText::purpose)]);
               purpose != clicks::Bot::person) {
        bot = purpose;
    } else if (cls.bot != clicks::Bot::person) {
        bot = cls.bot;
    }
    if (repeated(e.visitor, e.domain, e.code, head.time_ms) && bot == clicks::Bot::person) {
        bot = clicks::Bot::repeat;
    }
    e.bot = static_cast<std::uint8_t>(bot);
    if (bot != clicks::Bot::person) {
        e.device = static_cast<std::uint8_t>(clicks::Device::bot);
    }
}

// Traffic repeats a few thousand User-Agents: a cache in front of the classifier, keyed by a
// hash of the three headers it reads (a 64-bit tag: a collision is a one-in-2^64 misclass).
ClientClass ClickLog::classify(std::string_view user_agent, std::string_view ch_mobile,
                               std::string_view ch_platform) {
    const std::uint64_t seed = formats::hash128(ch_platform, formats::hash128(ch_mobile, 0).lo).lo;
    const formats::Hash128 h = formats::hash128(user_agent, seed);
    ClassSlot& slot = m_classes[h.hi & (k_class_slots - 1)];
    if (slot.tag != (h.lo | 1)) {
        slot.tag = h.lo | 1;
        slot.value = classify_client(user_agent, ch_mobile, ch_platform);
    }
    return slot.value;
}

// Referers repeat too (a campaign page, a social network): the host of a recent one is copied
// from a cache instead of parsing the URL again. Hosts longer than a slot are parsed each time.
std::string_view ClickLog::referrer(std::string_view referer, char* out) {
    if (referer.empty()) {
        return {};
    }
    const formats::Hash128 h = formats::hash128(referer, 0x5eed);
    ReferrerSlot& slot = m_referrers[h.hi & (k_referrer_slots - 1)];
    if (slot.tag == (h.lo | 1)) {
        std::memcpy(out, slot.host.data(), slot.size);
        return {out, slot.size};
    }
    const std::size_t n = referrer_host(referer, out);
    if (n <= slot.host.size()) {
        slot.tag = h.lo | 1;
        slot.size = static_cast<std::uint8_t>(n);
        std::memcpy(slot.host.data(), out, n);
    }
    return {out, n};
}

std::uint64_t ClickLog::visitor_key(const ClickRecordHead& head, std::string_view user_agent,
                                    std::string_view domain) {
    // address (16 bytes, IPv4 mapped into IPv6) || User-Agent || NUL || domain
    std::array<unsigned char, 16 + 512 + 1 + clicks::k_max_domain> message;  // filled below
    std::size_t n = 0;
    std::memset(message.data(), 0, 16);
    if (head.family == 4) {
        message[10] = 0xff;
        message[11] = 0xff;
        std::memcpy(message.data() + 12, head.address.data(), 4);
    } else {
        std::memcpy(message.data(), head.address.data(), 16);
    }
    n = 16;
    const std::size_t ua = std::min<std::size_t>(user_agent.size(), 512);
    if (ua != 0) {
        std::memcpy(message.data() + n, user_agent.data(), ua);
    }
    n += ua;
    message[n++] = 0;
    if (!domain.empty()) {
        std::memcpy(message.data() + n, domain.data(), domain.size());
    }
    n += domain.size();

    // Visitors come back: a cache in front of the HMAC, keyed by a hash seeded with the day.
    const formats::Hash128 h = formats::hash128(message.data(), n, m_cache_seed);
    VisitorSlot& slot = m_visitors[h.hi & (k_visitor_slots - 1)];
    if (slot.tag == (h.lo | 1)) {
        return slot.visitor;
    }
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_size = 0;
    std::uint64_t visitor = 0;
    if (HMAC(EVP_sha256(), m_key.data(), static_cast<int>(m_key.size()), message.data(), n, mac, &mac_size) != nullptr) {
        std::memcpy(&visitor, mac, sizeof visitor);
    }
    slot.tag = h.lo | 1;
    slot.visitor = visitor;
    return visitor;
}

bool ClickLog::repeated(std::uint64_t visitor, std::string_view domain, std::string_view code,
                        std::int64_t time_ms) {
    const formats::Hash128 h = formats::hash128(code, formats::hash128(domain, visitor).lo);
    RepeatSlot& slot = m_repeats[h.hi & (k_repeat_slots - 1)];
    const std::int64_t minute = time_ms / 60000;
    const std::uint64_t tag = h.lo | 1;
    if (slot.tag != tag || slot.minute != minute) {
        slot = RepeatSlot{tag, minute, 0};
    }
    return ++slot.count > k_repeat_per_minute;
}

void ClickLog::rotate_key_if_needed(std::int64_t now_ms) {
    const std::int64_t day = now_ms / k_day_ms;
    if (day == m_key_day) {
        return;
    }
    if (day < m_key_day) {
        return;  // an event stamped just before midnight, drained just after: keep today's key
    }
    const std::string path = m_config.dir + "/" + std::string(clicks::k_visitor_key_file);
    // Today's key survives a restart; any other day's is replaced.
    {
        std::ifstream in(path);
        std::int64_t stored_day = -1;
        std::string key_hex;
        if (in >> stored_day >> key_hex && stored_day == day && unhex(key_hex, m_key.data(), m_key.size())) {
            m_key_day = day;
        }
    }
    if (m_key_day != day) {
        if (RAND_bytes(m_key.data(), static_cast<int>(m_key.size())) != 1) {
            return;
        }
        m_key_day = day;
        const std::string tmp = path + ".tmp";
        const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        bool saved = false;
        if (fd >= 0) {
            const std::string text = std::to_string(day) + " " + hex(m_key.data(), m_key.size()) + "\n";
            saved = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
            ::close(fd);
            saved = saved && ::rename(tmp.c_str(), path.c_str()) == 0;
        }
        if (!saved) {
            ::unlink(tmp.c_str());
            ::unlink(path.c_str());  // yesterday's key must not outlive its day
            warn("visitor_key_not_saved", path + ": " + std::strerror(errno));
        }
    }
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&m_cache_seed), sizeof m_cache_seed) != 1) {
        m_cache_seed = static_cast<std::uint64_t>(clock::monotonic_ns());
    }
    std::fill(m_visitors.begin(), m_visitors.end(), VisitorSlot{});
}

void ClickLog::flush_block(std::int64_t now_ms) {
    if (m_block_events == 0) {
        return;
    }
    const std::uint32_t events = m_block_events;
    m_block_events = 0;
    const auto drop = [&] {
        m_dropped_write.fetch_add(events, std::memory_order_relaxed);
        m_block.clear();
    };
    if (!m_segment) {
        if (now_ms - m_last_failure_ms < k_failure_backoff_ms && m_last_failure_ms != 0) {
            drop();
            return;
        }
        auto created = clicks::SegmentWriter::create(m_config.dir, now_ms,
                                                     m_config.networks ? clicks::k_flag_networks : 0);
        if (!created) {
            m_last_failure_ms = now_ms;
            m_write_errors.fetch_add(1, std::memory_order_relaxed);
            warn("click_segment_create_failed", created.status().message());
            drop();
            return;
        }
        m_segment = std::move(*created);
    }
    if (Status s = m_segment->append_block(m_block, events); !s) {
        // The segment ends at its last complete block: a later open() seals it as an orphan.
        m_last_failure_ms = now_ms;
        m_write_errors.fetch_add(1, std::memory_order_relaxed);
        warn("click_block_write_failed", s.message());
        m_segment.reset();
        drop();
        return;
    }
    m_recorded.fetch_add(events, std::memory_order_relaxed);
    m_bytes_written.store(m_bytes_written.load(std::memory_order_relaxed) + m_block.size(),
                          std::memory_order_relaxed);
    m_last_write_ms.store(now_ms, std::memory_order_relaxed);
    m_block.clear();
}

void ClickLog::maybe_seal(std::int64_t now_ms) {
    if (m_segment && (m_segment->payload_bytes() >= m_config.segment_bytes ||
                      now_ms - m_segment->opened_ms() >= m_config.segment_age_ms)) {
        seal();
    }
}

void ClickLog::seal() {
    if (!m_segment) {
        return;
    }
    if (Status s = m_segment->seal(); !s) {
        m_write_errors.fetch_add(1, std::memory_order_relaxed);
        warn("click_segment_seal_failed", s.message());
    } else {
        m_segments_sealed.fetch_add(1, std::memory_order_relaxed);
    }
    m_segment.reset();
}

void ClickLog::warn(std::string_view what, const std::string& detail) {
    LogLine("warn", what).str("error", detail).emit(m_log_fd);
}

ClickLogMetrics ClickLog::metrics() const {
    ClickLogMetrics m;
    m.recorded = m_recorded.load(std::memory_order_relaxed);
    m.dropped_write = m_dropped_write.load(std::memory_order_relaxed);
    m.segments_sealed = m_segments_sealed.load(std::memory_order_relaxed);
    m.bytes_written = m_bytes_written.load(std::memory_order_relaxed);
    m.write_errors = m_write_errors.load(std::memory_order_relaxed);
    m.last_write_ms = m_last_write_ms.load(std::memory_order_relaxed);
    return m;
}

}  // namespace shortlink::serve
