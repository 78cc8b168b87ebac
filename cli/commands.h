// Setup functions of every subcommand, one per cli/cmd_<name>.cpp. See command_table.h.
#pragma once

#include "cli/command_table.h"

namespace shortlink::cli {

// ISSUE2-SETUPS
// ISSUE3-SETUPS
// ISSUE4-SETUPS

}  // namespace shortlink::cli
