// The state of a link: the one enum the store, the compiler, the snapshot format and the server
// share (store::LinkState is this type). Its numbers are stored: links.status in the database and
// bits 0-1 of a snapshot link record's meta word (SPEC.md "Link records"), so they never change.
#pragma once

#include <cstdint>
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

}  // namespace shortlink::formats
