// RFC 4180 CSV: a streaming reader that reports the line each record starts on, and a writer
// that quotes only when needed. No Debian-packaged C++ CSV library is in the stack; the grammar
// is small (fields, quoted fields with "" escapes, CRLF or LF) and hostile input must map to
// precise line numbers, so it is written here.
//
// Thread-safety: one reader per stream, used from one thread.
#pragma once

#include <cstdint>
#include <istream>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "formats/status.h"

namespace shortlink::csv {

// A record longer than this is refused rather than buffered (an unterminated quote in a hostile
// file would otherwise swallow the whole input). URLs are at most 8 KiB.
inline constexpr std::size_t k_max_record_bytes = 1 << 20;

class Reader {
public:
    explicit Reader(std::istream& in) : m_in(*in.rdbuf()) {}

    // Reads the next record into `fields`. Returns true with a record, false at end of input, or
    // a failed Status (invalid_argument, message with the line number) on malformed input.
    Result<bool> next(std::vector<std::string>& fields);

    // The line (1-based) the last record returned by next() started on.
    std::uint64_t record_line() const { return m_record_line; }

private:
    std::streambuf& m_in;
    std::uint64_t m_line = 1;
    std::uint64_t m_record_line = 0;
};

// Appends one field, quoted if it holds a comma, quote, CR, LF or leading/trailing space.
void write_field(std::string& out, std::string_view field);
// Appends a whole record terminated by "\r\n" (RFC 4180).
void append_record(std::string& out, const std::vector<std::string>& fields);

}  // namespace shortlink::csv
