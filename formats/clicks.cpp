#include "formats/clicks.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include <openssl/rand.h>
#include <zstd.h>

#include "formats/bytes.h"
#include "formats/fd_io.h"
#include "formats/hash.h"

namespace shortlink::formats::clicks {

namespace {

constexpr char k_block_magic[4] = {'S', 'L', 'C', 'B'};
constexpr char k_end_magic[4] = {'S', 'L', 'C', 'E'};

// The times a segment name's YYYYMMDDTHHMMSSZ can hold: from the epoch to the last millisecond
// of 9999 (9999-12-31T23:59:59.999Z).
constexpr std::int64_t k_last_opened_ms = 253402300799999;

std::uint64_t check_of(std::string_view bytes) { return hash128(bytes, 0).lo; }

// A block's check: the payload hashed with its header's hash as the seed (no copy of either).
std::uint64_t check_of(std::string_view head, std::string_view payload) {
    return hash128(payload, check_of(head)).lo;
}

std::string errno_text(int err) { return std::strerror(err); }

Status fsync_dir(const std::string& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return Status::io_error(dir + ": open: " + errno_text(errno));
    }
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) {
        return Status::io_error(dir + ": fsync: " + errno_text(err));
    }
    return Status::ok();
}

// A sealed segment is never overwritten, not even by a copy of its own .part.
Status rename_new(const std::string& from, const std::string& to) {
    const int err = rename_no_replace(from, to);
    if (err == 0) {
        return Status::ok();
    }
    if (err == EEXIST) {
        return Status::conflict(from + ": cannot seal it as " + to + ", which exists already (is the .part a copy?)");
    }
    return Status::io_error(from + ": rename: " + errno_text(err));
}


std::string dir_of(const std::string& path) {
    const std::size_t slash = path.rfind('/');
    return slash == std::string::npos ? std::string(".") : path.substr(0, slash == 0 ? 1 : slash);
}

std::string utc_stamp(std::int64_t ms) {
    const std::time_t t = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
    return buf;
}

std::string header_bytes(const SegmentHeader& h) {
    std::string out(k_header_size, '\0');
    auto* p = reinterpret_cast<std::uint8_t*>(out.data());
    std::memcpy(p, k_magic, 8);
    bytes::store<std::uint16_t>(p + 8, k_version);
    bytes::store<std::uint16_t>(p + 10, static_cast<std::uint16_t>(k_header_size));
    bytes::store<std::uint32_t>(p + 12, h.flags);
    std::memcpy(p + 16, h.id.bytes.data(), 16);
    bytes::store<std::int64_t>(p + 32, h.opened_ms);
    bytes::store<std::uint64_t>(p + 56, check_of(std::string_view(out.data(), 56)));
    return out;
}

std::string end_record(std::uint32_t blocks, std::uint64_t events) {
    std::string out(k_end_record_size, '\0');
    auto* p = reinterpret_cast<std::uint8_t*>(out.data());
    std::memcpy(p, k_end_magic, 4);
    bytes::store<std::uint32_t>(p + 4, blocks);
    bytes::store<std::uint64_t>(p + 8, events);
    bytes::store<std::uint64_t>(p + 16, check_of(std::string_view(out.data(), 16)));
    return out;
}

Result<SegmentHeader> parse_header(const char* data, std::size_t size, const std::string& path) {
    if (size < k_header_size) {
        return Status::corruption(path + ": not a click segment: " + std::to_string(size) +
                                  " bytes, the header needs " + std::to_string(k_header_size));
    }
    const auto* p = reinterpret_cast<const std::uint8_t*>(data);
    if (std::memcmp(p, k_magic, 8) != 0) {
        return Status::corruption(path + ": not a click segment (bad magic)");
    }
    const auto version = bytes::load<std::uint16_t>(p + 8);
    if (version != k_version) {
        return Status::unsupported(path + ": click segment version " + std::to_string(version) +
                                   " (this build reads version " + std::to_string(k_version) + ")");
    }
    if (bytes::load<std::uint16_t>(p + 10) != k_header_size) {
        return Status::corruption(path + ": header size is not " + std::to_string(k_header_size));
    }
    if (bytes::load<std::uint64_t>(p + 56) != check_of(std::string_view(data, 56))) {
        return Status::corruption(path + ": header check mismatch");
    }
    SegmentHeader h;
    h.flags = bytes::load<std::uint32_t>(p + 12);
    if ((h.flags & ~k_flag_networks) != 0) {
        return Status::corruption(path + ": unknown header flags");
    }
    std::memcpy(h.id.bytes.data(), p + 16, 16);
    h.opened_ms = bytes::load<std::int64_t>(p + 32);
    if (h.opened_ms < 0 || h.opened_ms > k_last_opened_ms) {
        // Sealing names the file for this time; any other year would make a name no scan finds.
        return Status::corruption(path + ": opened at " + std::to_string(h.opened_ms) +
                                  " ms, outside the years 1970 to 9999");
    }
    return h;
}

std::string_view name_or_unknown(std::uint8_t v, std::initializer_list<std::string_view> names) {
    return v < names.size() ? names.begin()[v] : std::string_view("unknown");
}

bool lock_held_by_other(int fd) {
    // A shared lock succeeds unless a writer holds its exclusive lock. Released at once.
    if (::flock(fd, LOCK_SH | LOCK_NB) == 0) {
        ::flock(fd, LOCK_UN);
        return false;
    }
    return errno == EWOULDBLOCK;
}

}  // namespace

std::string_view outcome_name(std::uint8_t v) {
    return name_or_unknown(v, {"redirect", "root", "miss", "unknown_host", "blocked", "expired",
                               "not_yet_valid", "disabled", "deleted", "https_redirect",
                               "bad_request", "method_not_allowed", "unavailable",
                               "password_form", "password_ok", "password_refused",
                               "rate_limited"});
}
std::string_view method_name(std::uint8_t v) { return name_or_unknown(v, {"GET", "HEAD", "POST", "other"}); }
std::string_view device_name(std::uint8_t v) {
    return name_or_unknown(v, {"unknown", "desktop", "mobile", "tablet", "tv", "console", "bot"});
}
std::string_view os_name(std::uint8_t v) {
    return name_or_unknown(v, {"unknown", "windows", "macos", "linux", "chromeos", "ios", "ipados",
                               "android", "other"});
}
std::string_view browser_name(std::uint8_t v) {
    return name_or_unknown(v, {"unknown", "chrome", "safari", "firefox", "edge", "opera", "samsung",
                               "in_app", "other", "library"});
}
std::string_view bot_name(std::uint8_t v) {
    return name_or_unknown(v, {"person", "head", "prefetch", "preview", "crawler", "unfurler",
                               "mail_scanner", "repeat", "library", "no_user_agent", "monitor"});
}

// ---- events ----

void append_event(std::string& out, const Event& e) {
    const std::string_view domain = e.domain.substr(0, k_max_domain);
    const std::string_view code = e.code.substr(0, k_max_code);
    const std::string_view referrer = e.referrer.substr(0, k_max_referrer);
    const std::size_t network = e.network_family == 4 ? 3 : e.network_family == 6 ? 6 : 0;
    const std::size_t size = k_fixed_event_size + network + 1 + domain.size() + 2 + code.size() + 1 +
                             referrer.size();
    const std::size_t at = out.size();
    out.resize(at + size);
    auto* p = reinterpret_cast<std::uint8_t*>(out.data() + at);
    bytes::store<std::uint16_t>(p, static_cast<std::uint16_t>(size));
    bytes::store<std::int64_t>(p + 2, e.time_ms);
    bytes::store<std::uint64_t>(p + 10, e.serial);
    bytes::store<std::uint64_t>(p + 18, e.visitor);
    bytes::store<std::uint16_t>(p + 26, e.status);
    p[28] = e.outcome;
    p[29] = e.method;
    p[30] = e.rule;
    p[31] = e.device;
    p[32] = e.os;
    p[33] = e.browser;
    p[34] = e.bot;
    p[35] = e.flags;
    p[36] = static_cast<std::uint8_t>(e.country[0]);
    p[37] = static_cast<std::uint8_t>(e.country[1]);
    p[38] = network == 0 ? 0 : e.network_family;
    // An empty view may hold no pointer, which memcpy must not be given even for 0 bytes.
    const auto put = [p](std::size_t to, const void* from, std::size_t n) {
        if (n != 0) {
            std::memcpy(p + to, from, n);
        }
    };
    std::size_t o = k_fixed_event_size;
    put(o, e.network.data(), network);
    o += network;
    p[o++] = static_cast<std::uint8_t>(domain.size());
    put(o, domain.data(), domain.size());
    o += domain.size();
    bytes::store<std::uint16_t>(p + o, static_cast<std::uint16_t>(code.size()));
    o += 2;
    put(o, code.data(), code.size());
    o += code.size();
    p[o++] = static_cast<std::uint8_t>(referrer.size());
    put(o, referrer.data(), referrer.size());
}

bool EventCursor::next(Event& e) {
    if (m_rest.empty()) {
        return false;
    }
    const auto fail = [&](const char* what) {
        m_error = "event " + std::to_string(m_parsed + 1) + ": " + what;
        m_rest = {};
        return false;
    };
    if (m_rest.size() < 2) {
        return fail("truncated size field");
    }
    const auto* p = reinterpret_cast<const std::uint8_t*>(m_rest.data());
    const std::size_t size = bytes::load<std::uint16_t>(p);
    if (size < k_fixed_event_size + 4 || size > m_rest.size()) {
        return fail("size out of range");
    }
    e.time_ms = bytes::load<std::int64_t>(p + 2);
    e.serial = bytes::load<std::uint64_t>(p + 10);
    e.visitor = bytes::load<std::uint64_t>(p + 18);
    e.status = bytes::load<std::uint16_t>(p + 26);
    e.outcome = p[28];
    e.method = p[29];
    e.rule = p[30];
    e.device = p[31];
    e.os = p[32];
    e.browser = p[33];
    e.bot = p[34];
    e.flags = p[35];
    e.country = {static_cast<char>(p[36]), static_cast<char>(p[37])};
    e.network_family = p[38];
    const bool country_ok = (p[36] == 0 && p[37] == 0) ||
                            (p[36] >= 'A' && p[36] <= 'Z' && p[37] >= 'A' && p[37] <= 'Z');
    if (!country_ok) {
        return fail("country is not two uppercase letters");
    }
    if (e.status < 100 || e.status > 599) {
        return fail("status out of range");
    }
    if ((e.flags & ~(k_event_qr | k_event_tls)) != 0) {
        return fail("unknown flags");
    }
    std::size_t network = 0;
    if (e.network_family == 4) {
        network = 3;
    } else if (e.network_family == 6) {
        network = 6;
    } else if (e.network_family != 0) {
        return fail("unknown network family");
    }
    e.network = {};
    std::size_t o = k_fixed_event_size;
    const auto need = [&](std::size_t n) { return o + n <= size; };
    if (!need(network + 1)) {
        return fail("truncated network or domain");
    }
    std::memcpy(e.network.data(), p + o, network);
    o += network;
    const std::size_t domain = p[o++];
    if (domain > k_max_domain || !need(domain + 2)) {
        return fail("domain length out of range");
    }
    e.domain = std::string_view(m_rest.data() + o, domain);
    o += domain;
    const std::size_t code = bytes::load<std::uint16_t>(p + o);
    o += 2;
    if (code > k_max_code || !need(code + 1)) {
        return fail("code length out of range");
    }
    e.code = std::string_view(m_rest.data() + o, code);
    o += code;
    const std::size_t referrer = p[o++];
    if (referrer > k_max_referrer || o + referrer != size) {
        return fail("referrer length does not match the event size");
    }
    e.referrer = std::string_view(m_rest.data() + o, referrer);
    m_rest.remove_prefix(size);
    ++m_parsed;
    return true;
}

// ---- names ----

std::string SegmentId::hex() const {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(32);
    for (const std::uint8_t b : bytes) {
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 15]);
    }
    return out;
}

std::string sealed_name(std::int64_t opened_ms, const SegmentId& id) {
    return "clicks-" + utc_stamp(opened_ms) + "-" + id.hex() + std::string(k_sealed_suffix);
}

std::string part_name(std::int64_t opened_ms, const SegmentId& id) {
    return "clicks-" + utc_stamp(opened_ms) + "-" + id.hex() + std::string(k_part_suffix);
}

bool is_segment_name(std::string_view name, bool* part) {
    // clicks-YYYYMMDDTHHMMSSZ-<32 hex>.slclicks[.part]
    constexpr std::size_t stem = 7 + 16 + 1 + 32;
    bool is_part = false;
    if (name.size() == stem + k_part_suffix.size() && name.ends_with(k_part_suffix)) {
        is_part = true;
    } else if (name.size() != stem + k_sealed_suffix.size() || !name.ends_with(k_sealed_suffix)) {
        return false;
    }
    if (!name.starts_with("clicks-") || name[7 + 8] != 'T' || name[7 + 15] != 'Z' || name[7 + 16] != '-') {
        return false;
    }
    for (std::size_t i = 7; i < 7 + 15; ++i) {
        if (i != 7 + 8 && (name[i] < '0' || name[i] > '9')) {
            return false;
        }
    }
    for (std::size_t i = 7 + 17; i < stem; ++i) {
        const char c = name[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    if (part != nullptr) {
        *part = is_part;
    }
    return true;
}

// ---- writer ----

Result<std::unique_ptr<SegmentWriter>> SegmentWriter::create(const std::string& dir, std::int64_t now_ms,
                                                              std::uint32_t flags, int zstd_level) {
    std::unique_ptr<SegmentWriter> w(new SegmentWriter());
    if (RAND_bytes(w->m_id.bytes.data(), static_cast<int>(w->m_id.bytes.size())) != 1) {
        return Status::io_error("no random bytes for a segment id");
    }
    w->m_dir = dir;
    w->m_opened_ms = now_ms;
    w->m_level = zstd_level;
    w->m_path = dir + "/" + part_name(now_ms, w->m_id);
    w->m_fd = ::open(w->m_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (w->m_fd < 0) {
        return Status::io_error(w->m_path + ": create: " + errno_text(errno));
    }
    if (::flock(w->m_fd, LOCK_EX | LOCK_NB) != 0) {
        return Status::io_error(w->m_path + ": lock: " + errno_text(errno));
    }
    SegmentHeader h;
    h.id = w->m_id;
    h.opened_ms = now_ms;
    h.flags = flags;
    const std::string header = header_bytes(h);
    if (Status s = write_all(w->m_fd, header.data(), header.size(), w->m_path); !s) {
        ::unlink(w->m_path.c_str());
        return s;
    }
    ZSTD_CCtx* cctx = ZSTD_createCCtx();
    if (cctx == nullptr) {
        return Status::io_error("zstd: out of memory");
    }
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, zstd_level);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    w->m_cctx = cctx;
    return w;
}

SegmentWriter::~SegmentWriter() {
    if (m_fd >= 0) {
        ::close(m_fd);
    }
    ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(m_cctx));
}

Status SegmentWriter::append_block(std::string_view events, std::uint32_t count) {
    if (m_fd < 0) {
        return Status::invalid_argument(m_path + ": segment already sealed");
    }
    if (count == 0 || count > k_max_block_events || events.empty() || events.size() > k_max_block_raw) {
        return Status::invalid_argument("block of " + std::to_string(count) + " events, " +
                                        std::to_string(events.size()) + " bytes is out of range");
    }
    const std::size_t bound = ZSTD_compressBound(events.size());
    m_buffer.resize(k_block_header_size + bound);
    const std::size_t c = ZSTD_compress2(static_cast<ZSTD_CCtx*>(m_cctx), m_buffer.data() + k_block_header_size,
                                         bound, events.data(), events.size());
    if (ZSTD_isError(c) != 0U) {
        return Status::io_error(std::string("zstd: ") + ZSTD_getErrorName(c));
    }
    if (c > k_max_block_payload) {
        return Status::invalid_argument("block compresses to more than 16 MiB");
    }
    m_buffer.resize(k_block_header_size + c);
    auto* p = reinterpret_cast<std::uint8_t*>(m_buffer.data());
    std::memcpy(p, k_block_magic, 4);
    bytes::store<std::uint32_t>(p + 4, static_cast<std::uint32_t>(c));
    bytes::store<std::uint32_t>(p + 8, count);
    bytes::store<std::uint32_t>(p + 12, static_cast<std::uint32_t>(events.size()));
    bytes::store<std::uint64_t>(p + 16, check_of(std::string_view(m_buffer.data(), 16),
                                                 std::string_view(m_buffer.data() + k_block_header_size, c)));
    if (Status s = write_all(m_fd, m_buffer.data(), m_buffer.size(), m_path); !s) {
        // A short write leaves a partial block: a reader stops there, and sealing truncates it.
        return s;
    }
    ++m_blocks;
    m_events += count;
    m_payload_bytes += c;
    return Status::ok();
}

Status SegmentWriter::seal() {
    if (m_fd < 0) {
        return Status::invalid_argument(m_path + ": segment already sealed");
    }
    const std::string end = end_record(m_blocks, m_events);
    if (Status s = write_all(m_fd, end.data(), end.size(), m_path); !s) {
        return s;
    }
    if (::fsync(m_fd) != 0) {
        return Status::io_error(m_path + ": fsync: " + errno_text(errno));
    }
    const std::string sealed = m_dir + "/" + sealed_name(m_opened_ms, m_id);
    if (Status s = rename_new(m_path, sealed); !s) {
        return s;
    }
    ::close(m_fd);  // releases the lock after the rename: the sealed file is never seen unlocked as .part
    m_fd = -1;
    m_path = sealed;
    return fsync_dir(m_dir);
}

Result<std::string> seal_orphan(const std::string& part_path) {
    const int fd = ::open(part_path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        return Status::io_error(part_path + ": open: " + errno_text(errno));
    }
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        return Status::conflict(part_path + ": a live writer holds it");
    }
    auto reader = SegmentReader::open(part_path);
    if (!reader) {
        return reader.status();
    }
    SegmentReader& r = **reader;
    std::string events;
    std::uint32_t count = 0;
    for (;;) {
        const BlockResult b = r.next(events, count);
        if (b == BlockResult::block) {
            continue;
        }
        if (b == BlockResult::end) {
            break;  // already complete: only the rename is missing
        }
        // incomplete or damaged: keep what came before, end the segment there.
        if (::ftruncate(fd, static_cast<off_t>(r.offset())) != 0) {
            return Status::io_error(part_path + ": truncate: " + errno_text(errno));
        }
        const std::string end = end_record(r.blocks_seen(), r.events_seen());
        if (::pwrite(fd, end.data(), end.size(), static_cast<off_t>(r.offset())) !=
            static_cast<ssize_t>(end.size())) {
            return Status::io_error(part_path + ": write: " + errno_text(errno));
        }
        break;
    }
    if (::fsync(fd) != 0) {
        return Status::io_error(part_path + ": fsync: " + errno_text(errno));
    }
    const std::string dir = dir_of(part_path);
    const std::string sealed = dir + "/" + sealed_name(r.header().opened_ms, r.header().id);
    if (Status s = rename_new(part_path, sealed); !s) {
        return s;
    }
    if (Status s = fsync_dir(dir); !s) {
        return s;
    }
    return sealed;
}

// ---- reader ----

Result<std::unique_ptr<SegmentReader>> SegmentReader::open(const std::string& path) {
    std::unique_ptr<SegmentReader> r(new SegmentReader());
    r->m_path = path;
    r->m_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (r->m_fd < 0) {
        return Status::io_error(path + ": open: " + errno_text(errno));
    }
    struct stat st{};
    if (::fstat(r->m_fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        return Status::invalid_argument(path + ": not a regular file");
    }
    r->m_part = std::string_view(path).ends_with(".part");
    char header[k_header_size];
    auto got = read_at(r->m_fd, header, sizeof header, 0, path);
    if (!got) {
        return got.status();
    }
    auto h = parse_header(header, *got, path);
    if (!h) {
        return h.status();
    }
    r->m_header = *h;
    r->m_dctx = ZSTD_createDCtx();
    if (r->m_dctx == nullptr) {
        return Status::io_error("zstd: out of memory");
    }
    return r;
}

SegmentReader::~SegmentReader() {
    if (m_fd >= 0) {
        ::close(m_fd);
    }
    ZSTD_freeDCtx(static_cast<ZSTD_DCtx*>(m_dctx));
}

bool SegmentReader::live() const { return m_part && lock_held_by_other(m_fd); }

std::uint64_t SegmentReader::file_size() const {
    struct stat st{};
    return ::fstat(m_fd, &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

BlockResult SegmentReader::next(std::string& events, std::uint32_t& count) {
    const auto damaged = [&](const std::string& what) {
        m_error = m_path + ": at byte " + std::to_string(m_offset) + " (block " +
                  std::to_string(m_blocks_seen + 1) + "): " + what;
        return BlockResult::damaged;
    };
    char head[k_block_header_size];
    auto got = read_at(m_fd, head, sizeof head, m_offset, m_path);
    if (!got) {
        m_error = got.status().message();
        return BlockResult::damaged;
    }
    if (*got == 0) {
        if (m_part) {
            return BlockResult::incomplete;
        }
        return damaged("the segment ends without its end record");
    }
    const auto* p = reinterpret_cast<const std::uint8_t*>(head);
    if (*got >= 4 && std::memcmp(p, k_end_magic, 4) == 0) {
        if (*got < k_end_record_size) {
            return m_part ? BlockResult::incomplete : damaged("truncated end record");
        }
        if (bytes::load<std::uint64_t>(p + 16) != check_of(std::string_view(head, 16))) {
            return damaged("end record check mismatch");
        }
        if (bytes::load<std::uint32_t>(p + 4) != m_blocks_seen ||
            bytes::load<std::uint64_t>(p + 8) != m_events_seen) {
            return damaged("end record counts " + std::to_string(bytes::load<std::uint32_t>(p + 4)) +
                           " blocks and " + std::to_string(bytes::load<std::uint64_t>(p + 8)) +
                           " events; the segment has " + std::to_string(m_blocks_seen) + " and " +
                           std::to_string(m_events_seen));
        }
        if (file_size() != m_offset + k_end_record_size) {
            return damaged("bytes after the end record");
        }
        return BlockResult::end;
    }
    if (*got < k_block_header_size) {
        if (m_part && std::memcmp(p, k_block_magic, std::min<std::size_t>(*got, 4)) == 0) {
            return BlockResult::incomplete;
        }
        return damaged("truncated block header");
    }
    if (std::memcmp(p, k_block_magic, 4) != 0) {
        return damaged("bad block magic");
    }
    const std::uint32_t size = bytes::load<std::uint32_t>(p + 4);
    const std::uint32_t n = bytes::load<std::uint32_t>(p + 8);
    const std::uint32_t raw = bytes::load<std::uint32_t>(p + 12);
    if (size == 0 || size > k_max_block_payload) {
        return damaged("payload size " + std::to_string(size) + " out of range");
    }
    if (n == 0 || n > k_max_block_events) {
        return damaged("event count " + std::to_string(n) + " out of range");
    }
    if (raw > k_max_block_raw || raw < static_cast<std::uint64_t>(n) * k_min_event_size) {
        return damaged("decompressed size " + std::to_string(raw) + " out of range");
    }
    m_payload.resize(size);
    got = read_at(m_fd, m_payload.data(), size, m_offset + k_block_header_size, m_path);
    if (!got) {
        m_error = got.status().message();
        return BlockResult::damaged;
    }
    if (*got < size) {
        return m_part ? BlockResult::incomplete : damaged("truncated block payload");
    }
    if (bytes::load<std::uint64_t>(p + 16) != check_of(std::string_view(head, 16), m_payload)) {
        return damaged("block check mismatch");
    }
    const unsigned long long frame = ZSTD_getFrameContentSize(m_payload.data(), m_payload.size());
    if (frame != raw) {
        return damaged("zstd frame does not declare the block's decompressed size");
    }
    events.resize(raw);
    const std::size_t d = ZSTD_decompressDCtx(static_cast<ZSTD_DCtx*>(m_dctx), events.data(), raw,
                                              m_payload.data(), m_payload.size());
    if (ZSTD_isError(d) != 0U) {
        return damaged(std::string("zstd: ") + ZSTD_getErrorName(d));
    }
    if (d != raw) {
        return damaged("decompressed to " + std::to_string(d) + " bytes, not " + std::to_string(raw));
    }
    EventCursor cursor(events);
    Event e;
    while (cursor.next(e)) {
    }
    if (!cursor.error().empty()) {
        return damaged(cursor.error());
    }
    if (cursor.parsed() != n) {
        return damaged("block holds " + std::to_string(cursor.parsed()) + " events, its header says " +
                       std::to_string(n));
    }
    count = n;
    m_offset += k_block_header_size + size;
    ++m_blocks_seen;
    m_events_seen += n;
    return BlockResult::block;
}

}  // namespace shortlink::formats::clicks
