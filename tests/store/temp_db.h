// A database path in a fresh temporary directory for the store's tests, removed with its WAL
// files afterwards.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace shortlink::test {

struct TempDb {
    std::string dir;
    std::string path;
    TempDb() {
        char tmpl[] = "/tmp/shortlink-store-test-XXXXXX";
        dir = mkdtemp(tmpl);
        path = dir + "/links.db";
    }
    ~TempDb() {
        for (const char* suffix : {"", "-wal", "-shm"}) {
            std::remove((path + suffix).c_str());
        }
        rmdir(dir.c_str());
    }
    TempDb(const TempDb&) = delete;
    TempDb& operator=(const TempDb&) = delete;
};

}  // namespace shortlink::test
