#include "cli/command_table.h"

#include "cli/commands.h"

namespace shortlink::cli {

const std::vector<Command>& command_table() {
    static const std::vector<Command> k_table = {
        // control plane (the link store)
        // ISSUE2-COMMANDS
        // snapshots and keys
        // ISSUE3-COMMANDS
        // redirect plane
        // ISSUE4-COMMANDS
    };
    return k_table;
}

}  // namespace shortlink::cli
