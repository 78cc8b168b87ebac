#include "tests/fuzz/fuzz_reader.h"

#include <string>

#include "formats/bytes.h"
#include "formats/hash.h"
#include "formats/snapshot.h"
#include "formats/snapshot_format.h"

namespace shortlink::fuzz {

namespace fmt = formats::format;

int fuzz_reader_one(const std::uint8_t* data, std::size_t size) {
    std::string bytes(reinterpret_cast<const char*>(data), size);
    auto* p = reinterpret_cast<std::uint8_t*>(bytes.data());
    if (size >= fmt::k_header_size) {
        const auto count = formats::bytes::load<std::uint32_t>(p + fmt::k_off_section_count);
        for (std::uint32_t i = 0; i < count && i < fmt::k_max_sections; ++i) {
            const std::size_t e = fmt::k_header_size + i * fmt::k_section_entry_size;
            if (e + fmt::k_section_entry_size > size) {
                break;
            }
            const auto off = formats::bytes::load<std::uint64_t>(p + e + 8);
            const auto len = formats::bytes::load<std::uint64_t>(p + e + 16);
            if (off <= size && len <= size - off) {
                formats::bytes::store<std::uint64_t>(p + e + 24, formats::checksum(p + off, len));
            }
        }
    }
    formats::OpenOptions options;
    options.verify_signature = false;
    auto snap = formats::Snapshot::open_buffer(bytes, {}, options, "fuzz");
    if (!snap) {
        return 0;
    }
    const formats::Snapshot& s = **snap;
    std::size_t sink = 0;
    s.for_each_link([&](const formats::LinkView& l) {
        sink += l.destination.size();
        auto again = s.lookup(l.domain_index, l.code);
        sink += again ? again->code.size() : 0;
    });
    for (std::uint32_t d = 0; d < s.domain_count(); ++d) {
        sink += s.domain(d).host.size();
        sink += s.lookup(d, "abc").has_value() ? 1 : 0;
        sink += s.find_domain(s.domain(d).host).value_or(0);
    }
    sink += s.find_domain("no.such.host").value_or(0);
    sink += s.lookup(0x7fffffff, "x").has_value() ? 1 : 0;
    return sink == static_cast<std::size_t>(-1) ? 2 : 1;
}

}  // namespace shortlink::fuzz
