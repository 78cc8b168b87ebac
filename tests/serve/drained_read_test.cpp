// serve/drained_read.h: a read that reports a short read as draining the socket must still see
// every byte (a full buffer is not drained: the rest is read without waiting for a new edge),
// end of stream, a close while it waits, and an io_context destroyed under it.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include "serve/drained_read.h"

using namespace shortlink::serve;
using boost::asio::ip::tcp;

namespace {

// A connected pair on 127.0.0.1: `server` reads with a DrainedRead, `client` writes.
struct Pair {
    boost::asio::io_context io;
    std::optional<StreamSocket> server;
    tcp::socket client{io};

    explicit Pair(bool non_blocking = true) {
        tcp::acceptor acceptor(io, tcp::endpoint(boost::asio::ip::address_v4::loopback(), 0));
        client.connect(acceptor.local_endpoint());
        server.emplace(acceptor.accept());
        if (non_blocking) {
            server->non_blocking(true);
        }
    }
};

// Reads into `out` until it holds `want` bytes, with a buffer of `chunk` bytes; each completion
// appends what it got and starts the next read.
struct Reader : std::enable_shared_from_this<Reader> {
    StreamSocket& socket;
    DrainedRead read;
    std::string buffer;
    std::string out;
    std::size_t want;
    boost::system::error_code error;
    int completions = 0;

    Reader(StreamSocket& s, std::size_t chunk, std::size_t want_bytes)
        : socket(s), buffer(chunk, '\0'), want(want_bytes) {}

    void start() {
        read.start(socket, boost::asio::buffer(buffer),
                   ReadCompletion{shared_from_this(),
                                  [](void* self, const boost::system::error_code& ec,
                                     std::size_t n) { static_cast<Reader*>(self)->done(ec, n); }});
    }
    void done(const boost::system::error_code& ec, std::size_t n) {
        ++completions;
        if (ec) {
            error = ec;
            return;
        }
        out.append(buffer.data(), n);
        if (out.size() < want) {
            start();
        }
    }
};

std::string pattern(std::size_t n, char seed) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) {
        s[i] = static_cast<char>(seed + static_cast<char>(i % 23));
    }
    return s;
}

void run_until(boost::asio::io_context& io, const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
        io.run_for(std::chrono::milliseconds(10));
        io.restart();
    }
}

}  // namespace

TEST_CASE("DrainedReadSeesEveryByteWhetherABufferFillsOrNot", "[serve][drained_read]") {
    Pair p;
    // 64-byte buffer. First 200 bytes already waiting: three full reads (not drained: the next
    // read must try at once, with no new edge to come) and a short one. Then pieces sent while
    // reads wait: a short read has drained the socket, and each new piece's edge wakes the read.
    const std::string first = pattern(200, 'a');
    boost::asio::write(p.client, boost::asio::buffer(first));
    auto reader = std::make_shared<Reader>(*p.server, 64, 200 + 64 + 5 + 300);
    reader->start();
    run_until(p.io, [&] { return reader->out.size() >= 200; });
    REQUIRE(reader->out == first);

    const std::string exact = pattern(64, 'k');  // exactly one buffer
    boost::asio::write(p.client, boost::asio::buffer(exact));
    run_until(p.io, [&] { return reader->out.size() >= 264; });
    REQUIRE(reader->out.size() == 264);

    const std::string small = pattern(5, 'q');
    boost::asio::write(p.client, boost::asio::buffer(small));
    run_until(p.io, [&] { return reader->out.size() >= 269; });
    REQUIRE(reader->out.size() == 269);

    const std::string large = pattern(300, 'x');
    boost::asio::write(p.client, boost::asio::buffer(large));
    run_until(p.io, [&] { return reader->out.size() >= 569; });
    CHECK(reader->out == first + exact + small + large);
    CHECK_FALSE(reader->error);
}

TEST_CASE("DrainedReadReportsEndOfStream", "[serve][drained_read]") {
    Pair p;
    boost::asio::write(p.client, boost::asio::buffer(std::string("bye")));
    auto reader = std::make_shared<Reader>(*p.server, 64, 1000);
    reader->start();
    run_until(p.io, [&] { return reader->out.size() >= 3; });
    p.client.close();
    run_until(p.io, [&] { return static_cast<bool>(reader->error); });
    CHECK(reader->out == "bye");
    CHECK(reader->error == boost::asio::error::eof);
}

TEST_CASE("DrainedReadWaitingWhenTheSocketClosesCompletesAborted", "[serve][drained_read]") {
    Pair p;
    auto reader = std::make_shared<Reader>(*p.server, 64, 10);
    reader->start();
    p.io.run_for(std::chrono::milliseconds(20));
    p.io.restart();
    REQUIRE(reader->completions == 0);
    p.server->close();
    run_until(p.io, [&] { return reader->completions > 0; });
    CHECK(reader->completions == 1);
    CHECK(reader->error == boost::asio::error::operation_aborted);
}

TEST_CASE("DrainedReadPendingWhenItsIoContextGoesReleasesItsOwnerUncalled",
          "[serve][drained_read]") {
    std::weak_ptr<Reader> watch;
    {
        Pair p;
        auto reader = std::make_shared<Reader>(*p.server, 64, 10);
        watch = reader;
        reader->start();
        p.io.run_for(std::chrono::milliseconds(20));
        // The reader is kept alive only by its pending read from here on. It owns the
        // DrainedRead, so the io_context's teardown must destroy the completion without
        // touching the operation afterwards (ASan would see it).
        p.server.reset();  // closing queues the completion; the io_context never runs it
        reader.reset();
        CHECK_FALSE(watch.expired());
    }
    CHECK(watch.expired());
}

TEST_CASE("DrainedReadOnASocketLeftBlockingNeverBlocks", "[serve][drained_read]") {
    Pair p(false);
    auto reader = std::make_shared<Reader>(*p.server, 16, 40);
    reader->start();
    p.io.run_for(std::chrono::milliseconds(20));  // would hang here if the recv blocked
    p.io.restart();
    CHECK(reader->completions == 0);
    const std::string data = pattern(40, 'm');
    boost::asio::write(p.client, boost::asio::buffer(data));
    run_until(p.io, [&] { return reader->out.size() >= 40; });
    CHECK(reader->out == data);
}
