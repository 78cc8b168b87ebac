// libFuzzer entry point for the snapshot reader (ninja's misc/manifest_fuzzer.cc in spirit).
// Build: CXX=clang++ cmake -B build-fuzz -DSHORTLINK_FUZZ=ON && ninja -C build-fuzz reader_fuzzer
// Run:   build-fuzz/tests/fuzz/reader_fuzzer -max_total_time=60 tests/fuzz/corpus/reader
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    shortlink::fuzz::fuzz_reader_one(data, size);
    return 0;
}
