// The miss budget (serve/miss_budget.h): the verdict at the budget's edge and its Retry-After,
// windows that reset, independent clients, IPv6 counted by /64, a budget passed per call, and a
// table that stays bounded and keeps a scanner's count against a flood of new addresses.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <iostream>
#include <random>
#include <thread>
#include <vector>

#include "serve/client_address.h"
#include "serve/miss_budget.h"

using namespace shortlink::serve;

namespace {

Address16 v4(std::uint32_t a) {
    Address16 out{};
    out[10] = out[11] = 0xff;
    out[12] = static_cast<std::uint8_t>(a >> 24);
    out[13] = static_cast<std::uint8_t>(a >> 16);
    out[14] = static_cast<std::uint8_t>(a >> 8);
    out[15] = static_cast<std::uint8_t>(a);
    return out;
}

constexpr std::int64_t k_minute_start = 1'800'000'000;  // a multiple of 60

}  // namespace

TEST_CASE("past the budget a client's misses are over, until the next minute", "[miss_budget]") {
    MissBudget table(42);
    const Address16 scanner = v4(0xC0000201);
    for (int i = 1; i <= 5; ++i) {
        CHECK_FALSE(table.record_miss(scanner, k_minute_start + 10, 5).over);
    }
    MissVerdict v = table.record_miss(scanner, k_minute_start + 10, 5);
    CHECK(v.over);
    CHECK(v.retry_after_s == 50);
    v = table.record_miss(scanner, k_minute_start + 59, 5);
    CHECK(v.over);
    CHECK(v.retry_after_s == 1);
    // Another client is untouched.
    CHECK_FALSE(table.record_miss(v4(0xC0000202), k_minute_start + 59, 5).over);
    // A new minute: a fresh budget.
    CHECK_FALSE(table.record_miss(scanner, k_minute_start + 60, 5).over);
    CHECK(table.tracked(k_minute_start + 60) == 1);
}

TEST_CASE("the budget is the caller's, per call; 0 counts nothing", "[miss_budget]") {
    MissBudget table(7);
    const Address16 c = v4(0x0A000001);
    for (int i = 0; i < 3; ++i) {
        CHECK_FALSE(table.record_miss(c, k_minute_start, 0).over);
    }
    CHECK(table.tracked(k_minute_start) == 0);
    CHECK_FALSE(table.record_miss(c, k_minute_start, 100).over);  // count 1
    CHECK_FALSE(table.record_miss(c, k_minute_start, 100).over);  // count 2
    CHECK(table.record_miss(c, k_minute_start, 2).over);          // count 3, a stricter domain's budget
    CHECK_FALSE(table.record_miss(c, k_minute_start, 100).over);  // count 4, a laxer one's
}

TEST_CASE("an IPv6 client counts by its /64", "[miss_budget]") {
    MissBudget table(9);
    Address16 a{0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2};
    for (int i = 0; i < 4; ++i) {
        a[15] = static_cast<std::uint8_t>(i);  // rotating the interface identifier
        CHECK_FALSE(table.record_miss(a, k_minute_start, 4).over);
    }
    a[15] = 99;
    CHECK(table.record_miss(a, k_minute_start, 4).over);
    a[7] = 3;  // the next /64
    CHECK_FALSE(table.record_miss(a, k_minute_start, 4).over);
}

TEST_CASE("a flood of addresses keeps the table bounded and the scanner counted", "[miss_budget]") {
    const std::uint64_t seed = std::random_device{}();
    std::cout << "miss_budget flood seed " << seed << "\n";
    std::mt19937_64 random(seed);
    MissBudget table(random());
    const Address16 scanner = v4(0xCB007101);
    for (int i = 0; i < 50; ++i) {
        (void)table.record_miss(scanner, k_minute_start, 40);
    }
    // Four times as many addresses as slots, one miss each.
    for (std::size_t i = 0; i < 4 * MissBudget::k_slots; ++i) {
        (void)table.record_miss(v4(static_cast<std::uint32_t>(random())), k_minute_start + 1, 40);
    }
    CHECK(table.tracked(k_minute_start) <= MissBudget::k_slots);
    CHECK(table.evictions() > 0);
    // The scanner's 50 outweigh any newcomer's one: it was never the one taken over.
    CHECK(table.record_miss(scanner, k_minute_start + 2, 40).over);
}

TEST_CASE("threads counting one client at once lose no miss", "[miss_budget]") {
    MissBudget table(3);
    const Address16 c = v4(0xC6336401);
    constexpr int k_threads = 4;
    constexpr int k_each = 1000;
    std::atomic<int> over{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < k_threads; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < k_each; ++i) {
                over += table.record_miss(c, k_minute_start, 3000).over ? 1 : 0;
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    CHECK(over.load() == k_threads * k_each - 3000);
}
