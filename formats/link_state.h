// The state of a link: the one enum the store, the compiler, the snapshot format and the server
// share (store::LinkState is this type). Its numbers are stored: links.status in the database and
// bits 0-1 of a snapshot link record's meta word (SPEC.md "Link records"), so they never change.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

namespace shortlink::formats {

enum class LinkState : std::uint8_t { active = 0, disabled = 1, deleted = 2 };

// The state a stored number names; nullopt for any other number (3 in a snapshot's two bits).
constexpr std::optional<LinkState> link_state_from_number(std::uint64_t number) {
    if (number > static_cast<std::uint8_t>(LinkState::deleted)) {
        return std::nullopt;
    }
    return static_cast<LinkState>(number);
}

// "active", "disabled", "deleted": how commands print a state and import reads one.
constexpr std::string_view link_state_name(LinkState state) {
    switch (state) {
    case LinkState::active: return "active";
    case LinkState::disabled: return "disabled";
    case LinkState::deleted: return "deleted";
    }
    return "unknown";
}

constexpr std::optional<LinkState> parse_link_state(std::string_view name) {
    for (LinkState state : {LinkState::active, LinkState::disabled, LinkState::deleted}) {
        if (name == link_state_name(state)) {
            return state;
        }
    }
    return std::nullopt;
}

// What a link does at a moment, in the order a server decides it (serve/answer_impl.h): a
// disabled or deleted link answers 410 whatever its times; an active one answers 410 before its
// not-before time and from its expiry on, and redirects in between. Listed by `list` and in the
// JSON "state" field; never stored.
enum class EffectiveState : std::uint8_t { active, disabled, deleted, not_yet_valid, expired };

// The not_before of a reserved link (one that has no start time yet, `add --reserve`), in a
// snapshot and wherever its effective state is judged: not yet valid at any time.
inline constexpr std::int64_t k_reserved_not_before = std::numeric_limits<std::int64_t>::max();

// not_before and expires are Unix seconds, 0 for none.
constexpr EffectiveState effective_state(LinkState state, std::int64_t not_before, std::int64_t expires,
                                         std::int64_t now) {
    if (state == LinkState::disabled) {
        return EffectiveState::disabled;
    }
    if (state == LinkState::deleted) {
        return EffectiveState::deleted;
    }
    if (not_before != 0 && now < not_before) {
        return EffectiveState::not_yet_valid;
    }
    if (expires != 0 && now >= expires) {
        return EffectiveState::expired;
    }
    return EffectiveState::active;
}

// "active", "disabled", "deleted", "not_yet_valid", "expired": the names serve's answers and
// click outcomes use for the same conditions.
constexpr std::string_view effective_state_name(EffectiveState state) {
    switch (state) {
    case EffectiveState::active: return "active";
    case EffectiveState::disabled: return "disabled";
    case EffectiveState::deleted: return "deleted";
    case EffectiveState::not_yet_valid: return "not_yet_valid";
    case EffectiveState::expired: return "expired";
    }
    return "unknown";
}

constexpr std::optional<EffectiveState> parse_effective_state(std::string_view name) {
    for (EffectiveState state : {EffectiveState::active, EffectiveState::disabled, EffectiveState::deleted,
                                 EffectiveState::not_yet_valid, EffectiveState::expired}) {
        if (name == effective_state_name(state)) {
            return state;
        }
    }
    return std::nullopt;
}

}  // namespace shortlink::formats
