// Click segments (SPEC.md "Click segments"): the files `shortlink serve --clicks DIR` appends click
// events to and `shortlink stats ingest` reads. Defines the event, its encoding, and the segment
// writer and reader. Nothing here knows HTTP: the server classifies a request and hands an Event
// over; the reader hands Events back.
//
// Thread-safety: Event functions are pure; a SegmentWriter or SegmentReader belongs to one thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "formats/status.h"

namespace shortlink::formats::clicks {

inline constexpr char k_magic[8] = {'S', 'L', 'C', 'L', 'I', 'C', 'K', 'S'};
inline constexpr std::uint16_t k_version = 1;
inline constexpr std::size_t k_header_size = 64;
inline constexpr std::size_t k_block_header_size = 24;
inline constexpr std::size_t k_end_record_size = 24;
inline constexpr std::uint32_t k_flag_networks = 1;

inline constexpr std::uint32_t k_max_block_payload = 16u << 20;
inline constexpr std::uint32_t k_max_block_events = 1000000;
inline constexpr std::uint32_t k_max_block_raw = 64u << 20;

inline constexpr std::size_t k_max_domain = 253;
inline constexpr std::size_t k_max_code = 1024;
inline constexpr std::size_t k_max_referrer = 253;
inline constexpr std::size_t k_fixed_event_size = 39;  // up to and including the network tag
inline constexpr std::size_t k_min_event_size = k_fixed_event_size + 1 + 2 + 1;  // empty strings
// The largest event: fixed part, a /48, and the three strings at their caps with their lengths.
inline constexpr std::size_t k_max_event_size =
    k_fixed_event_size + 6 + 1 + k_max_domain + 2 + k_max_code + 1 + k_max_referrer;

inline constexpr std::string_view k_sealed_suffix = ".slclicks";
inline constexpr std::string_view k_part_suffix = ".slclicks.part";
inline constexpr std::string_view k_visitor_key_file = ".visitor-key";
// The query parameter `shortlink qr` adds first to a short URL (SPEC.md "The QR marker").
inline constexpr std::string_view k_qr_parameter = "sl_qr";

enum class Outcome : std::uint8_t {
    redirect = 0,
    root = 1,
    miss = 2,
    unknown_host = 3,
    blocked = 4,
    expired = 5,
    not_yet_valid = 6,
    disabled = 7,
    deleted = 8,
    https_redirect = 9,
    bad_request = 10,
    method_not_allowed = 11,
    unavailable = 12,
    password_form = 13,
    password_ok = 14,
    password_refused = 15,
    rate_limited = 16,
};
inline constexpr std::uint8_t k_outcome_count = 17;

enum class Method : std::uint8_t { get = 0, head = 1, post = 2, other = 3 };
inline constexpr std::uint8_t k_method_count = 4;

enum class Device : std::uint8_t { unknown = 0, desktop, mobile, tablet, tv, console, bot };
inline constexpr std::uint8_t k_device_count = 7;

enum class Os : std::uint8_t {
    unknown = 0, windows, macos, linux, chromeos, ios, ipados, android, other
};
inline constexpr std::uint8_t k_os_count = 9;

enum class Browser : std::uint8_t {
    unknown = 0, chrome, safari, firefox, edge, opera, samsung, in_app, other, library
};
inline constexpr std::uint8_t k_browser_count = 10;

enum class Bot : std::uint8_t {
    person = 0,
    head = 1,
    prefetch = 2,
    preview = 3,
    crawler = 4,
    unfurler = 5,
    mail_scanner = 6,
    repeat = 7,
    library = 8,
    no_user_agent = 9,
    monitor = 10,
};
inline constexpr std::uint8_t k_bot_count = 11;

inline constexpr std::uint8_t k_event_qr = 1;
inline constexpr std::uint8_t k_event_tls = 2;

// Names as `stats` prints them and the SQL analytics database stores them ("in_app", "mail_scanner").
// A value a newer writer added, unknown here, is "unknown".
std::string_view outcome_name(std::uint8_t v);
std::string_view method_name(std::uint8_t v);
std::string_view device_name(std::uint8_t v);
std::string_view os_name(std::uint8_t v);
std::string_view browser_name(std::uint8_t v);
std::string_view bot_name(std::uint8_t v);

// One event. The views point into the caller's bytes (encode) or the decoded block (decode).
struct Event {
    std::int64_t time_ms = 0;
    std::uint64_t serial = 0;
    std::uint64_t visitor = 0;
    std::uint16_t status = 0;
    std::uint8_t outcome = 0;  // Outcome; raw so that decoding keeps values from newer writers
    std::uint8_t method = 0;
    std::uint8_t rule = 0;
    std::uint8_t device = 0;
    std::uint8_t os = 0;
    std::uint8_t browser = 0;
    std::uint8_t bot = 0;
    std::uint8_t flags = 0;
    std::array<char, 2> country{};  // {0, 0}: unknown
    std::uint8_t network_family = 0;  // 0, 4 or 6
    std::array<std::uint8_t, 6> network{};  // first 3 or 6 bytes used
    std::string_view domain;
    std::string_view code;
    std::string_view referrer;
};

// Appends the event's encoding to `out`; strings longer than their caps are cut to the cap.
void append_event(std::string& out, const Event& event);

// Walks the events of one decompressed block. next() returns false at the end or on an event
// that does not parse; error() then says which (empty at a clean end).
class EventCursor {
public:
    explicit EventCursor(std::string_view block) : m_rest(block) {}
    bool next(Event& event);
    const std::string& error() const { return m_error; }
    std::size_t parsed() const { return m_parsed; }

private:
    std::string_view m_rest;
    std::string m_error;
    std::size_t m_parsed = 0;
};

struct SegmentId {
    std::array<std::uint8_t, 16> bytes{};
    std::string hex() const;
    bool operator==(const SegmentId&) const = default;
};

// The segment file names (SPEC.md "Files"). parse_name() accepts both forms and says which.
std::string sealed_name(std::int64_t opened_ms, const SegmentId& id);
std::string part_name(std::int64_t opened_ms, const SegmentId& id);
bool is_segment_name(std::string_view name, bool* part = nullptr);

// Writes one segment: create() makes DIR/<part name> with its header and takes the lock;
// append_block() compresses and appends a block with one write(); seal() appends the end
// record, fsyncs, renames to the sealed name and fsyncs DIR. Not copyable; the destructor closes
// without sealing (the .part stays, as after a crash).
class SegmentWriter {
public:
    static Result<std::unique_ptr<SegmentWriter>> create(const std::string& dir, std::int64_t now_ms,
                                                          std::uint32_t flags, int zstd_level = 1);
    ~SegmentWriter();
    SegmentWriter(const SegmentWriter&) = delete;
    SegmentWriter& operator=(const SegmentWriter&) = delete;

    // `events`: `count` encoded events back to back.
    Status append_block(std::string_view events, std::uint32_t count);
    Status seal();

    const SegmentId& id() const { return m_id; }
    std::int64_t opened_ms() const { return m_opened_ms; }
    std::uint64_t payload_bytes() const { return m_payload_bytes; }
    std::uint64_t events() const { return m_events; }
    const std::string& path() const { return m_path; }

private:
    SegmentWriter() = default;
    std::string m_dir;
    std::string m_path;
    int m_fd = -1;
    SegmentId m_id;
    std::int64_t m_opened_ms = 0;
    std::uint32_t m_blocks = 0;
    std::uint64_t m_events = 0;
    std::uint64_t m_payload_bytes = 0;
    int m_level = 1;
    void* m_cctx = nullptr;  // ZSTD_CCtx
    std::string m_buffer;
};

// Seals an orphaned .part (no writer holds its lock): keeps its complete blocks, drops what
// follows, appends the end record and renames. Returns the sealed path; an error if the file is
// locked (a live writer), is not a segment, or its header is damaged.
Result<std::string> seal_orphan(const std::string& part_path);

struct SegmentHeader {
    SegmentId id;
    std::int64_t opened_ms = 0;
    std::uint32_t flags = 0;
};

enum class BlockResult : std::uint8_t {
    block,       // `events` holds a verified, decompressed block
    end,         // the end record: the segment is complete
    incomplete,  // a .part ends here (so far); not damage
    damaged,     // error() says what and where; nothing further can be read
};

// Reads a segment from a byte offset on. open() reads and checks the header; the reader holds
// the file open (a rename by the writer does not disturb it).
class SegmentReader {
public:
    static Result<std::unique_ptr<SegmentReader>> open(const std::string& path);
    ~SegmentReader();
    SegmentReader(const SegmentReader&) = delete;
    SegmentReader& operator=(const SegmentReader&) = delete;

    const SegmentHeader& header() const { return m_header; }
    bool is_part() const { return m_part; }
    // True when the file is a .part whose writer still holds its lock.
    bool live() const;

    // Continues at `offset` (a value offset() returned earlier, or k_header_size), with the
    // blocks and events before it counted as `blocks` and `events` (checked by the end record).
    void seek(std::uint64_t offset, std::uint32_t blocks, std::uint64_t events) {
        m_offset = offset;
        m_blocks_seen = blocks;
        m_events_seen = events;
    }
    std::uint64_t offset() const { return m_offset; }
    std::uint32_t blocks_seen() const { return m_blocks_seen; }
    std::uint64_t events_seen() const { return m_events_seen; }
    std::uint64_t file_size() const;

    // The next block. `events` receives its decompressed bytes and `count` its event count.
    BlockResult next(std::string& events, std::uint32_t& count);
    // The payload (one zstd frame) of the block next() last returned as `ok`, as the file holds it.
    std::string_view payload() const { return m_payload; }
    const std::string& error() const { return m_error; }

private:
    SegmentReader() = default;
    std::string m_path;
    int m_fd = -1;
    bool m_part = false;
    SegmentHeader m_header;
    std::uint64_t m_offset = k_header_size;
    std::uint32_t m_blocks_seen = 0;
    std::uint64_t m_events_seen = 0;
    void* m_dctx = nullptr;  // ZSTD_DCtx
    std::string m_payload;
    std::string m_error;
};

}  // namespace shortlink::formats::clicks
