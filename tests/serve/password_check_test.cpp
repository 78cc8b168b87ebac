// The password pool and the attempt table (serve/password_check.h): the pool runs tasks off the
// caller's thread and refuses beyond its queue; the table limits per client and per link, frees
// a key when its window passes, and stays its fixed size under a flood of new keys.
#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include <catch2/catch.hpp>

#include "serve/password_check.h"

using namespace shortlink;
using serve::AttemptLimiter;
using serve::PasswordPool;

namespace {

std::array<std::uint8_t, 16> address(std::uint32_t n) {
    std::array<std::uint8_t, 16> a{};
    a[10] = 0xff;
    a[11] = 0xff;
    a[12] = static_cast<std::uint8_t>(n >> 24);
    a[13] = static_cast<std::uint8_t>(n >> 16);
    a[14] = static_cast<std::uint8_t>(n >> 8);
    a[15] = static_cast<std::uint8_t>(n);
    return a;
}

}  // namespace

TEST_CASE("PoolRunsTasksAndRefusesBeyondItsQueue", "[password]") {
    PasswordPool pool(1, 2);
    std::promise<void> release;
    std::shared_future<void> gate = release.get_future().share();
    std::promise<void> started;
    std::atomic<int> ran{0};
    REQUIRE(pool.submit([&] {
        started.set_value();
        gate.wait();
        ++ran;
    }));
    started.get_future().wait();  // the one thread is busy
    CHECK(pool.submit([&] { ++ran; }));
    CHECK(pool.submit([&] { ++ran; }));
    CHECK(pool.queue_depth() == 2);
    CHECK_FALSE(pool.submit([&] { ++ran; }));  // the queue is full
    CHECK(pool.rejected() == 1);
    release.set_value();
    for (int i = 0; i < 500 && ran.load() < 3; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    CHECK(ran.load() == 3);
    CHECK(pool.queue_depth() == 0);
    pool.stop();
    CHECK_FALSE(pool.submit([] {}));
}

TEST_CASE("LimiterCountsPerClientAndPerLinkInWindows", "[password]") {
    AttemptLimiter limiter(3, 5);
    const std::int64_t t = 1000;
    for (int i = 0; i < 3; ++i) {
        CHECK(limiter.retry_after(address(1), "*", "doc", t) == 0);
        limiter.record_failure(address(1), "*", "doc", t);
    }
    const std::uint32_t wait = limiter.retry_after(address(1), "*", "doc", t + 10);
    CHECK(wait == 50);
    CHECK(limiter.limited() == 1);
    // Another link is also closed to that client; another client may still try this link.
    CHECK(limiter.retry_after(address(1), "*", "other", t + 10) == 50);
    CHECK(limiter.retry_after(address(2), "*", "doc", t + 10) == 0);
    limiter.record_failure(address(2), "*", "doc", t + 10);
    limiter.record_failure(address(3), "*", "doc", t + 10);
    // Five failures on the link from anywhere: closed to everyone until its window ends.
    CHECK(limiter.retry_after(address(4), "*", "doc", t + 20) == 40);
    CHECK(limiter.retry_after(address(4), "*", "doc", t + 60) == 0);
    CHECK(limiter.retry_after(address(1), "*", "doc", t + 60) == 0);
    AttemptLimiter unlimited(0, 0);
    for (int i = 0; i < 100; ++i) {
        unlimited.record_failure(address(1), "*", "doc", t);
    }
    CHECK(unlimited.retry_after(address(1), "*", "doc", t) == 0);
}

TEST_CASE("LimiterStaysBoundedUnderAFloodOfAddresses", "[password]") {
    AttemptLimiter limiter(2, 0);
    const std::int64_t t = 5000;
    // Ten times more addresses than places: memory does not grow, and a count is never raised
    // by another key (a flood can only push counts out).
    for (std::uint32_t n = 0; n < AttemptLimiter::k_entries * 10; ++n) {
        limiter.record_failure(address(n), "*", "doc", t);
    }
    std::size_t limited = 0;
    for (std::uint32_t n = 0; n < AttemptLimiter::k_entries * 10; ++n) {
        limited += limiter.retry_after(address(n), "*", "doc", t) != 0 ? 1 : 0;
    }
    CHECK(limited == 0);  // one failure each: none reached 2
    // A client that keeps failing is still limited while the flood goes on around it.
    limiter.record_failure(address(7), "*", "doc", t + 1);
    limiter.record_failure(address(7), "*", "doc", t + 1);
    CHECK(limiter.retry_after(address(7), "*", "doc", t + 1) != 0);
}
