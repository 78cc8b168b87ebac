// The body of the reader fuzz target, shared by the libFuzzer binary (reader_fuzzer.cpp) and
// the corpus replay test that ctest runs (corpus_replay_test.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

namespace shortlink::fuzz {

// Feeds one input to the snapshot reader. Before opening it recomputes the checksum of every
// section whose table entry is in bounds, so that mutations get past the checksums and reach
// the domain, index and slot validation (the signature check is off for the same reason).
// If the input opens, every lookup path is exercised. Returns 1 if it opened, 0 if rejected.
int fuzz_reader_one(const std::uint8_t* data, std::size_t size);

}  // namespace shortlink::fuzz
