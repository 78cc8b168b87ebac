// The click segment fuzz target: a segment file as `serve --clicks` leaves it for `stats ingest`
// (formats/clicks.h), under a sealed or a .part name, read block by block and event by event,
// read again from a block boundary as an ingest resumes, and, as a .part, sealed the way the next
// server seals an orphan. Whatever the bytes: every event read back re-encodes to the bytes it
// came from, the reader only moves forward and stays inside the file, damage names the file, and
// a sealed orphan keeps exactly the complete blocks that could be read before.
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "formats/bytes.h"
#include "formats/clicks.h"
#include "formats/hash.h"
#include "tests/fuzz/fuzz_checks.h"
#include "tests/fuzz/fuzz_targets.h"

namespace shortlink::fuzz {

namespace {

namespace clicks = formats::clicks;
namespace bytes = formats::bytes;

// The first input byte; the rest is the file.
constexpr std::uint8_t k_mode_part = 1;        // named as a .part, not as a sealed segment
constexpr std::uint8_t k_mode_fix_checks = 2;  // header, block and end record checks recomputed

// The name the file gets (a reader goes by the header, never by the name).
constexpr std::int64_t k_name_ms = 1764000000000;
constexpr clicks::SegmentId k_name_id = {{0x5e, 0x67, 0x3e, 0x47, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}};

// One directory per process, emptied on every call and removed at exit. On /dev/shm unless
// TMPDIR names another place: sealing an orphan fsyncs the file and the directory every time.
class Scratch {
public:
    Scratch() {
        const char* tmp = std::getenv("TMPDIR");
        std::string base = tmp != nullptr && *tmp != '\0' ? tmp : "";
        if (base.empty()) {
            std::error_code ec;
            base = std::filesystem::is_directory("/dev/shm", ec) ? "/dev/shm" : "/tmp";
        }
        std::string pattern = base + "/fuzz_clicks.XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr) {
            fail("cannot make a scratch directory", pattern);
        }
        m_dir = pattern;
    }
    ~Scratch() {
        std::error_code ignored;
        std::filesystem::remove_all(m_dir, ignored);
    }
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;

    const std::string& dir() const { return m_dir; }
    void clear() const {
        std::error_code ec;
        for (const auto& entry : std::filesystem::directory_iterator(m_dir, ec)) {
            std::filesystem::remove_all(entry.path(), ec);
        }
    }

private:
    std::string m_dir;
};

const Scratch& scratch() {
    static const Scratch dir;
    return dir;
}

std::uint64_t check_of(const std::uint8_t* p, std::size_t n, std::uint64_t seed) {
    return formats::hash128(p, n, seed).lo;
}

// Recomputes the checks the way a writer makes them (SPEC.md "Click segments"), so that mutations
// get past them to the sizes, zstd and the events. Walks blocks while their sizes fit the file.
void fix_checks(std::string& file) {
    if (file.size() < clicks::k_header_size) {
        return;
    }
    auto* p = reinterpret_cast<std::uint8_t*>(file.data());
    bytes::store<std::uint64_t>(p + 56, check_of(p, 56, 0));
    std::size_t o = clicks::k_header_size;
    while (file.size() - o >= clicks::k_block_header_size) {
        std::uint8_t* head = p + o;
        if (std::memcmp(head, "SLCE", 4) == 0) {
            bytes::store<std::uint64_t>(head + 16, check_of(head, 16, 0));
            return;
        }
        const std::uint32_t size = bytes::load<std::uint32_t>(head + 4);
        if (std::memcmp(head, "SLCB", 4) != 0 || size > file.size() - o - clicks::k_block_header_size) {
            return;
        }
        bytes::store<std::uint64_t>(head + 16, check_of(head + clicks::k_block_header_size, size, check_of(head, 16, 0)));
        o += clicks::k_block_header_size + size;
    }
}

std::uint32_t load32(std::string_view file, std::uint64_t at) {
    return bytes::load<std::uint32_t>(reinterpret_cast<const std::uint8_t*>(file.data() + at));
}

// What a decoded event must be, beyond re-encoding to its bytes.
void check_event(const clicks::Event& e) {
    if (e.domain.size() > clicks::k_max_domain || e.code.size() > clicks::k_max_code ||
        e.referrer.size() > clicks::k_max_referrer) {
        fail("a decoded string is over its cap", std::string(e.domain) + " " + std::string(e.code));
    }
    if (e.status < 100 || e.status > 599) {
        fail("a decoded status is out of range", std::to_string(e.status));
    }
    if ((e.flags & ~(clicks::k_event_qr | clicks::k_event_tls)) != 0) {
        fail("decoded flags hold an unknown bit", std::to_string(e.flags));
    }
    const auto letter = [](char c) { return c >= 'A' && c <= 'Z'; };
    if (!(e.country[0] == 0 && e.country[1] == 0) && !(letter(e.country[0]) && letter(e.country[1]))) {
        fail("a decoded country is not two uppercase letters", std::string(e.country.data(), 2));
    }
    const std::size_t used = e.network_family == 4 ? 3 : e.network_family == 6 ? 6 : 0;
    if (used == 0 && e.network_family != 0) {
        fail("a decoded network family is not 0, 4 or 6", std::to_string(e.network_family));
    }
    for (std::size_t i = used; i < e.network.size(); ++i) {
        if (e.network[i] != 0) {
            fail("a decoded network holds bytes past its prefix", std::to_string(e.network_family));
        }
    }
    for (const std::string_view name : {clicks::outcome_name(e.outcome), clicks::method_name(e.method),
                                        clicks::device_name(e.device), clicks::os_name(e.os),
                                        clicks::browser_name(e.browser), clicks::bot_name(e.bot)}) {
        if (name.empty()) {
            fail("a decoded value has no name", std::to_string(e.outcome));
        }
    }
}

// Decodes a verified block; every event re-encodes to exactly the bytes it was read from, and
// the events cover the block. Returns how many there were.
std::size_t decode_block(std::string_view block) {
    clicks::EventCursor cursor(block);
    clicks::Event e;
    std::size_t at = 0;
    std::string again;
    while (cursor.next(e)) {
        check_event(e);
        again.clear();
        clicks::append_event(again, e);
        if (again.size() > block.size() - at || block.substr(at, again.size()) != again) {
            fail("an event does not re-encode to the bytes it was read from",
                 "event " + std::to_string(cursor.parsed()) + " at byte " + std::to_string(at));
        }
        at += again.size();
    }
    if (!cursor.error().empty()) {
        fail("a block the reader verified holds an event that does not parse", cursor.error());
    }
    if (at != block.size()) {
        fail("the events of a block do not cover it", std::to_string(at) + " of " + std::to_string(block.size()));
    }
    // Cut by a byte, the block loses exactly its last event, and says so.
    if (!block.empty()) {
        clicks::EventCursor cut(block.substr(0, block.size() - 1));
        while (cut.next(e)) {
        }
        if (cut.error().empty() || cut.parsed() + 1 != cursor.parsed()) {
            fail("a block cut by one byte does not lose exactly its last event", cut.error());
        }
    }
    return cursor.parsed();
}

struct Boundary {
    std::uint64_t offset = 0;
    std::uint32_t blocks = 0;
    std::uint64_t events = 0;
};

// How a read of a segment ended.
struct Pass {
    clicks::BlockResult last = clicks::BlockResult::damaged;
    Boundary stop;                    // where it stopped, and what it had read by then
    std::string error;
    std::vector<Boundary> boundaries;  // where every block it read began
};

// Reads blocks until the reader stops, checking each step against the file's bytes.
Pass read_segment(clicks::SegmentReader& r, const std::string& path, std::string_view file, bool part) {
    if (r.file_size() != file.size()) {
        fail("the reader's file size is not the file's", path);
    }
    Pass pass;
    std::string events;
    // Every block takes at least its header and a byte: more steps than this is a reader stuck.
    const std::size_t bound = file.size() / (clicks::k_block_header_size + 1) + 2;
    for (std::size_t step = 0;; ++step) {
        if (step > bound) {
            fail("the reader does not move forward", path);
        }
        const Boundary before{r.offset(), r.blocks_seen(), r.events_seen()};
        std::uint32_t count = 0;
        const clicks::BlockResult b = r.next(events, count);
        if (r.offset() < before.offset || r.offset() > file.size()) {
            fail("the reader's offset went back or past the end",
                 std::to_string(before.offset) + " -> " + std::to_string(r.offset()));
        }
        if (b == clicks::BlockResult::block) {
            const std::uint64_t payload = load32(file, before.offset + 4);
            if (r.offset() != before.offset + clicks::k_block_header_size + payload ||
                r.blocks_seen() != before.blocks + 1 || r.events_seen() != before.events + count) {
                fail("a block moved the reader by other than itself", std::to_string(before.offset));
            }
            if (events.size() != load32(file, before.offset + 12)) {
                fail("a block decompressed to other than its declared size", std::to_string(before.offset));
            }
            if (decode_block(events) != count) {
                fail("a block's count is not the number of events decoded", std::to_string(count));
            }
            pass.boundaries.push_back(before);
            continue;
        }
        if (r.offset() != before.offset || r.blocks_seen() != before.blocks || r.events_seen() != before.events) {
            fail("a reader that stopped moved", std::to_string(before.offset));
        }
        pass.last = b;
        pass.stop = before;
        pass.error = r.error();
        const std::string_view rest = file.substr(before.offset);
        switch (b) {
        case clicks::BlockResult::end:
            if (rest.size() != clicks::k_end_record_size || !rest.starts_with("SLCE") ||
                load32(file, before.offset + 4) != before.blocks ||
                bytes::load<std::uint64_t>(reinterpret_cast<const std::uint8_t*>(rest.data() + 8)) != before.events) {
                fail("end reported without an end record that ends the file and counts what was read", path);
            }
            break;
        case clicks::BlockResult::incomplete: {
            if (!part) {
                fail("a sealed segment reported incomplete", path);
            }
            // Only the start of a block or an end record: what a writer has not finished yet.
            const std::string_view magic = rest.substr(0, 4);
            const bool started = std::string_view("SLCB").starts_with(magic) || std::string_view("SLCE").starts_with(magic);
            const bool short_block = rest.starts_with("SLCB") && rest.size() >= clicks::k_block_header_size &&
                                     rest.size() < clicks::k_block_header_size + std::uint64_t{load32(file, before.offset + 4)};
            if (!rest.empty() && !(started && rest.size() < clicks::k_block_header_size) && !short_block) {
                fail("incomplete reported where the file has more than an unfinished block", path);
            }
            break;
        }
        case clicks::BlockResult::damaged:
            if (pass.error.empty() || !pass.error.starts_with(path + ": ")) {
                fail("damage reported without an error that names the file", pass.error);
            }
            break;
        case clicks::BlockResult::block:
            break;
        }
        if (b != clicks::BlockResult::damaged && !pass.error.empty()) {
            fail("a reader that stopped cleanly has an error", pass.error);
        }
        return pass;
    }
}

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

// As an ingest resumes: a new reader sent to a block boundary reads on to the same stop.
void check_resume(const std::string& path, std::string_view file, bool part, const Pass& pass) {
    if (pass.boundaries.empty()) {
        return;
    }
    const Boundary from = pass.boundaries[pass.boundaries.size() / 2];
    auto again = clicks::SegmentReader::open(path);
    if (!again) {
        fail("a segment that opened once does not open again", again.status().message());
    }
    (*again)->seek(from.offset, from.blocks, from.events);
    const Pass resumed = read_segment(**again, path, file, part);
    if (resumed.last != pass.last || resumed.stop.offset != pass.stop.offset ||
        resumed.stop.blocks != pass.stop.blocks || resumed.stop.events != pass.stop.events ||
        resumed.error != pass.error) {
        fail("a read resumed at a block boundary ends elsewhere", resumed.error + " / " + pass.error);
    }
}

// As the next server does with a .part nobody locks: sealed, it keeps the blocks read before
// and reads to its end record.
void check_seal(const std::string& path, std::string_view file, const clicks::SegmentHeader& header,
                const Pass& pass) {
    auto sealed = clicks::seal_orphan(path);
    if (!sealed) {
        fail("an orphan whose header opens was not sealed", sealed.status().message());
    }
    const std::string name = std::filesystem::path(*sealed).filename().string();
    bool is_part = true;
    if (name != clicks::sealed_name(header.opened_ms, header.id) || !clicks::is_segment_name(name, &is_part) ||
        is_part) {
        fail("a sealed orphan is not named as a sealed segment", name);
    }
    struct stat st{};
    if (::stat(path.c_str(), &st) == 0) {
        fail("the .part is still there after sealing", path);
    }
    const std::string kept = slurp(*sealed);
    const std::uint64_t expected_size = pass.last == clicks::BlockResult::end
                                            ? file.size()
                                            : pass.stop.offset + clicks::k_end_record_size;
    if (kept.size() != expected_size || std::string_view(kept).substr(0, pass.stop.offset) != file.substr(0, pass.stop.offset)) {
        fail("sealing changed the blocks before the stop", name);
    }
    auto r = clicks::SegmentReader::open(*sealed);
    if (!r) {
        fail("a sealed orphan does not open", r.status().message());
    }
    const Pass after = read_segment(**r, *sealed, kept, false);
    if (after.last != clicks::BlockResult::end || after.stop.blocks != pass.stop.blocks ||
        after.stop.events != pass.stop.events) {
        fail("a sealed orphan does not read to its end with the blocks read before", after.error);
    }
}

int check_segment(const std::string& path, std::string_view file, bool part) {
    auto opened = clicks::SegmentReader::open(path);
    if (!opened) {
        const std::string error = opened.status().message();
        if (!error.starts_with(path + ": ")) {
            fail("a segment refused without an error that names the file", error);
        }
        return 0;
    }
    const clicks::SegmentHeader header = (*opened)->header();
    if ((*opened)->is_part() != part || (*opened)->live()) {
        fail("a segment opened as the wrong kind, or as live without a writer", path);
    }
    const Pass pass = read_segment(**opened, path, file, part);
    opened->reset();
    check_resume(path, file, part, pass);
    if (part) {
        check_seal(path, file, header, pass);
        return pass.last == clicks::BlockResult::incomplete || pass.last == clicks::BlockResult::end ? 1 : 0;
    }
    return pass.last == clicks::BlockResult::end ? 1 : 0;
}

}  // namespace

int fuzz_clicks_one(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const std::uint8_t mode = data[0];
    std::string file(reinterpret_cast<const char*>(data + 1), size - 1);
    if ((mode & k_mode_fix_checks) != 0) {
        fix_checks(file);
    }
    const bool part = (mode & k_mode_part) != 0;
    const Scratch& dir = scratch();
    dir.clear();
    const std::string path =
        dir.dir() + "/" + (part ? clicks::part_name(k_name_ms, k_name_id) : clicks::sealed_name(k_name_ms, k_name_id));
    {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out.write(file.data(), static_cast<std::streamsize>(file.size()));
        if (!out.flush()) {
            fail("cannot write the segment file", path);
        }
    }
    const int accepted = check_segment(path, file, part);
    dir.clear();
    return accepted;
}

}  // namespace shortlink::fuzz
