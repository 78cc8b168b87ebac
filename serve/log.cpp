#include "serve/log.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <unistd.h>

#include "formats/clock.h"

namespace shortlink::serve {

void append_json_string(std::string& out, std::string_view s) {
    out.push_back('"');
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(c);
        } else if (u < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\u%04x", u);
            out.append(buf);
        } else {
            out.push_back(c);
        }
    }
    out.push_back('"');
}

LogLine::LogLine(std::string_view level, std::string_view event) {
    const std::int64_t now_ms = clock::unix_millis();
    const std::time_t secs = static_cast<std::time_t>(now_ms / 1000);
    const std::int64_t ms = now_ms % 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char ts[40];
    const std::size_t n = std::strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(ts + n, sizeof(ts) - n, ".%03dZ", static_cast<int>(ms));
    m_text = "{\"ts\":\"";
    m_text += ts;
    m_text += "\",\"level\":";
    append_json_string(m_text, level);
    m_text += ",\"event\":";
    append_json_string(m_text, event);
}

void LogLine::key(std::string_view k) {
    m_text.push_back(',');
    append_json_string(m_text, k);
    m_text.push_back(':');
}

LogLine& LogLine::str(std::string_view k, std::string_view value) {
    key(k);
    append_json_string(m_text, value);
    return *this;
}

LogLine& LogLine::num(std::string_view k, std::int64_t value) {
    key(k);
    m_text += std::to_string(value);
    return *this;
}

LogLine& LogLine::real(std::string_view k, double value) {
    key(k);
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.3f", value);
    m_text += buf;
    return *this;
}

LogLine& LogLine::boolean(std::string_view k, bool value) {
    key(k);
    m_text += value ? "true" : "false";
    return *this;
}

void LogLine::emit(int fd) {
    m_text += "}\n";
    const char* p = m_text.data();
    std::size_t left = m_text.size();
    while (left > 0) {
        const ssize_t n = ::write(fd, p, left);
        if (n <= 0) {
            return;
        }
        p += n;
        left -= static_cast<std::size_t>(n);
    }
}

}  // namespace shortlink::serve
