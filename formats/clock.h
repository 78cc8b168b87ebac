// The one clock every library and command reads. Wall time for what is stored or sent
// (audit rows, serials, Date headers, expiry checks), monotonic time for deadlines and
// durations. The coarse variants read the vDSO's tick-granular copy: cheap enough for every
// request, exact to about 4 ms.
#pragma once

#include <cstdint>
#include <ctime>

namespace shortlink::clock {

namespace detail {
inline timespec read(clockid_t id) {
    timespec ts{};
    clock_gettime(id, &ts);
    return ts;
}
}  // namespace detail

// Seconds since the Unix epoch.
inline std::int64_t unix_seconds() { return detail::read(CLOCK_REALTIME).tv_sec; }

// Milliseconds since the Unix epoch.
inline std::int64_t unix_millis() {
    const timespec ts = detail::read(CLOCK_REALTIME);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Milliseconds since the Unix epoch from the coarse clock (the request path's click events).
inline std::int64_t coarse_unix_millis() {
    const timespec ts = detail::read(CLOCK_REALTIME_COARSE);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Seconds since the Unix epoch from the coarse clock (the request path).
inline std::int64_t coarse_unix_seconds() { return detail::read(CLOCK_REALTIME_COARSE).tv_sec; }

// Nanoseconds on the monotonic clock (an arbitrary origin; only differences mean anything).
inline std::uint64_t monotonic_ns() {
    const timespec ts = detail::read(CLOCK_MONOTONIC);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<std::uint64_t>(ts.tv_nsec);
}

inline std::int64_t monotonic_ms() { return static_cast<std::int64_t>(monotonic_ns() / 1000000); }

}  // namespace shortlink::clock
