// Structured logging for the server: one JSON object per line, written with a single write(2)
// so lines from different threads never interleave.
//
//   LogLine("info", "snapshot_loaded").str("path", p).num("serial", 42).emit(fd);
//
// Never used on the per-request path (only for lifecycle events, swaps, refusals and errors).
// Thread-safety: a LogLine is a local value; emit() is safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace shortlink::serve {

class LogLine {
public:
    LogLine(std::string_view level, std::string_view event);
    LogLine& str(std::string_view key, std::string_view value);
    LogLine& num(std::string_view key, std::int64_t value);
    LogLine& real(std::string_view key, double value);
    LogLine& boolean(std::string_view key, bool value);
    // Writes the line to `fd` (stderr by default); write errors are ignored (nowhere to report).
    void emit(int fd = 2);

private:
    void key(std::string_view k);
    std::string m_text;
};

// Appends `s` as a JSON string literal (quotes included) to `out`.
void append_json_string(std::string& out, std::string_view s);

}  // namespace shortlink::serve
