// The libFuzzer entry point of every fuzz target: SHORTLINK_FUZZ_ONE names the target's body
// (tests/fuzz/fuzz_targets.h), which tests/fuzz/CMakeLists.txt sets per binary.
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    SHORTLINK_FUZZ_ONE(data, size);
    return 0;
}
