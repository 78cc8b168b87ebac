// The links file: the YAML document `shortlink apply` reads and `shortlink export --format yaml`
// writes, so domains and links can be kept in git and reviewed like code (man/shortlink-apply.1
// documents every key; docs/links-in-git.md shows it in a CI pipeline).
//
//     domains:
//       - host: go.example.com
//         default_type: 301
//     links:
//       - domain: go.example.com   # absent or "*": the default domain
//         code: spring
//         url: https://example.com/spring
//         tags: [promo]
//
// Keys take the names of the JSON a link and a domain are printed as (`show --json`,
// `domain show --json`); the fields the store keeps itself (version, times of creation and
// change, short_url, is_default) are refused. A key that is absent means what `add` or
// `domain add` gives without that option, so a file says everything about what it lists.
//
// Reading is strict and bounded, because a file may come from a pull request: one document, a
// mapping at the top, no unknown or repeated key, no aliases (a "billion laughs" document
// expands from a few hundred bytes into gigabytes), no explicit YAML tags, values of the type
// their key takes (a quoted "301" is not a redirect type; `yes` is not a boolean), UTF-8 text
// without control characters or tab indentation, at most k_max_links_file_bytes. The document is
// read as a stream of yaml-cpp events against the schema, so nothing it holds is kept but the
// entries, and the first event that does not fit stops the parse (yaml-cpp's recursion over
// nested collections never goes deeper than the schema). Values are validated by the functions
// `add`, `edit`, `domain add` and `import` use (store/validate.h, store/timefmt.h).
//
// Thread-safety: functions are reentrant; a LinksFileWriter is used from one thread at a time.
// Nothing here throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <istream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "formats/status.h"
#include "store/store.h"

namespace shortlink::store {

// A links file is read whole before it is parsed: larger than this, it is refused. 64 MiB holds
// about half a million links; a larger set belongs in `import`, not in a reviewed file.
inline constexpr std::size_t k_max_links_file_bytes = std::size_t{64} << 20;

// Where an entry or value starts in the file, 1-based (columns count bytes).
struct FilePosition {
    std::uint32_t line = 0;
    std::uint32_t column = 0;
};

// "line L, column C" to begin a message.
std::string position_text(FilePosition at);

struct DomainEntry {
    DomainRecord record;  // host normalized ("*": the default domain); id and is_default unset
    FilePosition at;      // the entry's first key
};

struct LinkEntry {
    LinkInput input;  // validated and normalized; host "*" for the default domain, tags sorted
    FilePosition at;  // the entry's first key
};

struct LinksFile {
    std::vector<DomainEntry> domains;  // in file order, each host once
    std::vector<LinkEntry> links;      // in file order, each (domain, code) once
};

// Parses a whole links file. invalid_argument "line L, column C: why" for the first thing that
// is wrong; an empty file (or one of only comments) is refused, so an accident cannot read as
// "no links" (`links: []` says that).
Result<LinksFile> parse_links_file(std::string_view text);

// Reads `in` to its end (at most k_max_links_file_bytes, else invalid_argument) and parses it.
Result<LinksFile> read_links_file(std::istream& in);

// Writes a links file in the shape parse_links_file() reads: every domain with every setting,
// then links with the keys whose values differ from a new link's (so the file reads like the
// one a person writes). Strings are quoted where YAML would read them as something else.
// Text accumulates inside until take() hands it out, so a caller can stream a large export.
class LinksFileWriter {
public:
    LinksFileWriter();
    ~LinksFileWriter();
    LinksFileWriter(const LinksFileWriter&) = delete;
    LinksFileWriter& operator=(const LinksFileWriter&) = delete;

    // Called once, before any link.
    void domains(const std::vector<DomainRecord>& domains);
    void link(const Link& link);
    // Ends the document; then take() returns the rest.
    void finish();
    // The text written since the last take().
    std::string take();

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

}  // namespace shortlink::store
