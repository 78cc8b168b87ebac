// Status and Result<T>: how every library in shortlink reports failure.
//
// Libraries (formats, compiler, serve, the store) never print, exit or throw across their
// public API; they return a Status, or a Result<T> holding either a value or a Status.
// Only cli/ turns a failed Status into an exception and, in main, into an exit code.
// Modelled on leveldb's include/leveldb/status.h.
//
// Thread-safety: values; a const Status may be read from any number of threads.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace shortlink {

class [[nodiscard]] Status {
public:
    enum class Code {
        ok = 0,
        not_found,         // the thing asked for does not exist
        corruption,        // bytes on disk are not what the format says
        invalid_argument,  // the caller's input is wrong (bad URL, bad code, bad option)
        io_error,          // the operating system refused (open, read, write, fsync, mmap)
        conflict,          // already exists / would clobber / lost a race
        unsupported,       // valid but not handled by this build (format version too new, ...)
        permission_denied, // signature does not verify, wrong key, wrong passphrase
        cancelled,         // stopped on request before it finished; nothing was decided
    };

    Status() = default;

    static Status ok() { return Status(); }
    static Status not_found(std::string msg) { return {Code::not_found, std::move(msg)}; }
    static Status corruption(std::string msg) { return {Code::corruption, std::move(msg)}; }
    static Status invalid_argument(std::string msg) { return {Code::invalid_argument, std::move(msg)}; }
    static Status io_error(std::string msg) { return {Code::io_error, std::move(msg)}; }
    static Status conflict(std::string msg) { return {Code::conflict, std::move(msg)}; }
    static Status unsupported(std::string msg) { return {Code::unsupported, std::move(msg)}; }
    static Status permission_denied(std::string msg) { return {Code::permission_denied, std::move(msg)}; }
    static Status cancelled(std::string msg) { return {Code::cancelled, std::move(msg)}; }

    [[nodiscard]] bool is_ok() const { return m_code == Code::ok; }
    explicit operator bool() const { return is_ok(); }
    [[nodiscard]] Code code() const { return m_code; }
    [[nodiscard]] const std::string& message() const { return m_message; }

    // "corruption: section 3 checksum mismatch"; "ok" for success.
    [[nodiscard]] std::string to_string() const {
        if (is_ok()) {
            return "ok";
        }
        return std::string(code_name(m_code)) + ": " + m_message;
    }

    static std::string_view code_name(Code code) {
        switch (code) {
        case Code::ok: return "ok";
        case Code::not_found: return "not found";
        case Code::corruption: return "corruption";
        case Code::invalid_argument: return "invalid argument";
        case Code::io_error: return "I/O error";
        case Code::conflict: return "conflict";
        case Code::unsupported: return "unsupported";
        case Code::permission_denied: return "permission denied";
        case Code::cancelled: return "cancelled";
        }
        return "unknown";
    }

private:
    Status(Code code, std::string msg) : m_code(code), m_message(std::move(msg)) {}

    Code m_code = Code::ok;
    std::string m_message;
};

// Either a T or a failed Status. Accessing value() of a failed Result is a programming error.
template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : m_v(std::move(value)) {}  // NOLINT: implicit by design
    Result(Status status) : m_v(std::move(status)) { assert(!std::get<Status>(m_v).is_ok()); }  // NOLINT

    [[nodiscard]] bool is_ok() const { return std::holds_alternative<T>(m_v); }
    explicit operator bool() const { return is_ok(); }

    T& value() & { return std::get<T>(m_v); }
    const T& value() const& { return std::get<T>(m_v); }
    T&& value() && { return std::get<T>(std::move(m_v)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    // The failure; Status::ok() when a value is held.
    [[nodiscard]] Status status() const {
        return is_ok() ? Status::ok() : std::get<Status>(m_v);
    }

private:
    std::variant<T, Status> m_v;
};

}  // namespace shortlink
