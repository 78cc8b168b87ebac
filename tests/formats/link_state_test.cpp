// A link's effective state: the order a server decides it in (serve/answer_impl.h) and its names.
#include <catch2/catch.hpp>

#include "formats/link_state.h"

using namespace shortlink::formats;

TEST_CASE("EffectiveStateFollowsTheServersOrder", "[link_state]") {
    constexpr std::int64_t now = 1000;
    CHECK(effective_state(LinkState::active, 0, 0, now) == EffectiveState::active);
    // Disabled and deleted win over the times.
    CHECK(effective_state(LinkState::disabled, now + 5, now - 5, now) == EffectiveState::disabled);
    CHECK(effective_state(LinkState::deleted, 0, now - 5, now) == EffectiveState::deleted);
    // Before not_before, even when also past the expiry (a server answers not_yet_valid first).
    CHECK(effective_state(LinkState::active, now + 1, now - 1, now) == EffectiveState::not_yet_valid);
    CHECK(effective_state(LinkState::active, now, 0, now) == EffectiveState::active);
    // Expired from the expiry second on.
    CHECK(effective_state(LinkState::active, 0, now, now) == EffectiveState::expired);
    CHECK(effective_state(LinkState::active, 0, now + 1, now) == EffectiveState::active);
}

TEST_CASE("EffectiveStateNamesRoundTrip", "[link_state]") {
    for (EffectiveState s : {EffectiveState::active, EffectiveState::disabled, EffectiveState::deleted,
                             EffectiveState::not_yet_valid, EffectiveState::expired}) {
        CHECK(parse_effective_state(effective_state_name(s)) == s);
    }
    CHECK(effective_state_name(EffectiveState::not_yet_valid) == "not_yet_valid");
    CHECK_FALSE(parse_effective_state("Expired").has_value());
    CHECK_FALSE(parse_effective_state("").has_value());
    CHECK_FALSE(parse_effective_state("scheduled").has_value());
}
