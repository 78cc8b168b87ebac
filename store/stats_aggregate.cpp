// The stats aggregator, the rollup's dims encoding and the string ids. See stats_aggregate.h.
#include "store/stats_aggregate.h"

#include <algorithm>
#include <functional>
#include <memory>
#include <limits>

#include "formats/bytes.h"
#include "formats/clicks.h"
#include "formats/hash.h"

namespace shortlink::stats::detail {
namespace {

std::uint64_t mix_key(std::uint64_t a, std::uint64_t b) {
    // Two rounds of the murmur3 finalizer over a and b folded together: keys here are small
    // integers and visitor hashes, and linear probing needs their low bits spread.
    std::uint64_t h = a * 0x9e3779b97f4a7c15ULL ^ (b + 0x632be59bd9b4e019ULL + (a << 6) + (a >> 2));
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

// A map from (a, b) to V with linear probing, at most half full. Values are stable only until
// the next insert.
template <class V>
class FlatMap {
public:
    FlatMap() { reset(16); }

    // The value of (a, b), inserted value-initialised when missing (`inserted` says which).
    V& find_or_insert(std::uint64_t a, std::uint64_t b, bool& inserted) {
        if ((m_size + 1) * 2 > m_slots.size()) {
            grow();
        }
        std::size_t i = mix_key(a, b) & m_mask;
        while (m_slots[i].used) {
            if (m_slots[i].a == a && m_slots[i].b == b) {
                inserted = false;
                return m_slots[i].value;
            }
            i = (i + 1) & m_mask;
        }
        Slot& s = m_slots[i];
        s.used = true;
        s.a = a;
        s.b = b;
        s.value = V{};
        ++m_size;
        inserted = true;
        return s.value;
    }

    std::size_t size() const { return m_size; }

    // Empties the map and keeps its memory (the next day's aggregate is about as big).
    void clear() {
        if (m_size != 0) {
            for (Slot& s : m_slots) {
                s.used = false;
            }
            m_size = 0;
        }
    }

    // Room for `n` entries without growing.
    void reserve(std::size_t n) {
        std::size_t capacity = m_slots.size();
        while (capacity < 2 * n) {
            capacity *= 2;
        }
        if (capacity != m_slots.size()) {
            rehash(capacity);
        }
    }

    template <class F>
    void for_each(F&& f) const {
        for (const Slot& s : m_slots) {
            if (s.used) {
                f(s.a, s.b, s.value);
            }
        }
    }

private:
    struct Slot {
        std::uint64_t a = 0;
        std::uint64_t b = 0;
        V value{};
        bool used = false;
    };

    void reset(std::size_t capacity) {
        m_slots.assign(capacity, Slot{});
        m_mask = capacity - 1;
        m_size = 0;
    }

    void grow() { rehash(m_slots.size() * 2); }

    void rehash(std::size_t capacity) {
        std::vector<Slot> old = std::move(m_slots);
        reset(capacity);
        for (const Slot& s : old) {
            if (s.used) {
                std::size_t i = mix_key(s.a, s.b) & m_mask;
                while (m_slots[i].used) {
                    i = (i + 1) & m_mask;
                }
                m_slots[i] = s;
                ++m_size;
            }
        }
    }

    std::vector<Slot> m_slots;
    std::size_t m_mask = 0;
    std::size_t m_size = 0;
};

struct Group {
    std::int64_t bucket = 0;
    std::int64_t link = 0;
    std::uint8_t outcome = 0;
    std::uint8_t is_bot = 0;
};

// An event as the aggregator keeps it until its rows are read.
struct Record {
    std::uint64_t visitor = 0;
    DimValues values;
    std::uint32_t group = 0;
};
static_assert(sizeof(Record) == 32);

std::uint64_t group_word(std::int64_t link, std::uint8_t outcome, std::uint8_t is_bot) {
    return static_cast<std::uint64_t>(link) << 9 | static_cast<std::uint64_t>(outcome) << 1 | (is_bot & 1u);
}

// Reads a varint of up to 64 bits from [p, end); 0 when truncated or too long.
std::size_t get_varint(const std::uint8_t* p, const std::uint8_t* end, std::uint64_t& v) {
    std::uint64_t result = 0;
    for (std::size_t i = 0; i < 10 && p + i < end; ++i) {
        result |= static_cast<std::uint64_t>(p[i] & 0x7f) << (7 * i);
        if ((p[i] & 0x80) == 0) {
            v = result;
            return i + 1;
        }
    }
    return 0;
}

void put_varint(std::string& out, std::uint64_t v) {
    std::uint8_t buf[10];
    const std::size_t n = formats::bytes::put_varint(buf, v);
    out.append(reinterpret_cast<const char*>(buf), n);
}

}  // namespace

class DimCounter;

struct Aggregator::Tables {
    ~Tables();
    FlatMap<std::uint32_t> group_index;  // (bucket, group_word) -> index into groups
    std::vector<Group> groups;
    // Ordered by (group, visitor) when rows are read; only the order changes, so a const read
    // may do it.
    mutable std::vector<Record> records;
    mutable std::vector<Record> scratch;  // the other buffer of the counting sort
    mutable bool sorted = true;
    mutable std::vector<std::unique_ptr<DimCounter>> counters;  // by dimension, made when first used
};

Aggregator::Aggregator(std::uint32_t dimensions) : m_dimensions(dimensions), m_tables(new Tables) {}

Aggregator::~Aggregator() { delete m_tables; }

void Aggregator::add(const AggEvent& e) {
    Tables& t = *m_tables;
    ++m_events;
    bool inserted = false;
    std::uint32_t& slot = t.group_index.find_or_insert(static_cast<std::uint64_t>(e.bucket),
                                                       group_word(e.link, e.outcome, e.is_bot), inserted);
    if (inserted) {
        slot = static_cast<std::uint32_t>(t.groups.size());
        t.groups.push_back(Group{e.bucket, e.link, e.outcome, e.is_bot});
    }
    t.records.push_back(Record{e.visitor, e.values, slot});
    t.sorted = false;
}

// Counts of one group for one dimension. Values of a narrow dimension (all but the referrer: a
// byte, or two for the country) count in arrays indexed by value, a visitor's repeat of a value
// caught by stamping the value with the visitor's run; a wide one collects (value, clicks,
// visitors) entries merged by sorting. Counts within one group fit 32 bits (a day's events).
class DimCounter {
public:
    explicit DimCounter(Dimension dim)
        : m_wide(dim == Dimension::referrer), m_values_count(dim == Dimension::country ? 1u << 16 : 1u << 8) {
        if (!m_wide) {
            m_clicks.assign(m_values_count, 0);
            m_visitors.assign(m_values_count, 0);
            m_stamp.assign(m_values_count, 0);
        }
    }

    // One visitor's events [begin, end) in the group.
    void visitor(const Record* begin, const Record* end, Dimension dim) {
        if (!m_wide) {
            ++m_run;
            for (const Record* r = begin; r != end; ++r) {
                const auto v = static_cast<std::uint32_t>(r->values.of(dim));
                if (m_clicks[v]++ == 0) {
                    m_touched.push_back(v);
                }
                if (m_stamp[v] != m_run) {
                    m_stamp[v] = m_run;
                    ++m_visitors[v];
                }
            }
            return;
        }
        if (end - begin == 1) {
            m_entries.push_back(DimCell{begin->values.of(dim), 1, 1});
            return;
        }
        m_values.clear();
        for (const Record* r = begin; r != end; ++r) {
            m_values.push_back(r->values.of(dim));
        }
        std::sort(m_values.begin(), m_values.end());
        for (std::size_t i = 0; i < m_values.size();) {
            std::size_t j = i;
            while (j < m_values.size() && m_values[j] == m_values[i]) {
                ++j;
            }
            m_entries.push_back(DimCell{m_values[i], j - i, 1});
            i = j;
        }
    }

    // The group's cells in ascending value order; the counter is then empty.
    void finish(std::vector<DimCell>& cells) {
        cells.clear();
        if (!m_wide) {
            std::sort(m_touched.begin(), m_touched.end());
            for (std::uint32_t v : m_touched) {
                cells.push_back(DimCell{v, m_clicks[v], m_visitors[v]});
                m_clicks[v] = 0;
                m_visitors[v] = 0;
            }
            m_touched.clear();
            return;
        }
        std::sort(m_entries.begin(), m_entries.end(),
                  [](const DimCell& a, const DimCell& b) { return a.value < b.value; });
        for (const DimCell& e : m_entries) {
            if (!cells.empty() && cells.back().value == e.value) {
                cells.back().clicks += e.clicks;
                cells.back().visitors += e.visitors;
            } else {
                cells.push_back(e);
            }
        }
        m_entries.clear();
    }

private:
    bool m_wide;
    std::size_t m_values_count;
    // Narrow dimensions.
    std::vector<std::uint32_t> m_clicks;
    std::vector<std::uint32_t> m_visitors;
    std::vector<std::uint64_t> m_stamp;  // the last visitor run that counted the value
    std::vector<std::uint32_t> m_touched;
    std::uint64_t m_run = 0;
    // Wide dimensions.
    std::vector<DimCell> m_entries;
    std::vector<std::uint64_t> m_values;
};

Aggregator::Tables::~Tables() = default;

Status Aggregator::for_each_row(const std::function<Status(AggRow&)>& each) const {
    const Tables& t = *m_tables;
    // Where each group's records start; then the records placed by group (a counting sort) and
    // each group's sorted by visitor (groups are small, a dozen events on average).
    std::vector<std::uint32_t> starts(t.groups.size() + 1, 0);
    for (const Record& r : t.records) {
        ++starts[r.group + 1];
    }
    for (std::size_t i = 1; i < starts.size(); ++i) {
        starts[i] += starts[i - 1];
    }
    if (!t.sorted) {
        t.scratch.resize(t.records.size());
        std::vector<std::uint32_t> fill(starts.begin(), starts.end() - 1);
        for (const Record& r : t.records) {
            t.scratch[fill[r.group]++] = r;
        }
        t.records.swap(t.scratch);
        for (std::size_t g = 0; g < t.groups.size(); ++g) {
            std::sort(t.records.begin() + starts[g], t.records.begin() + starts[g + 1],
                      [](const Record& a, const Record& b) { return a.visitor < b.visitor; });
        }
        t.sorted = true;
    }
    std::vector<std::uint32_t> order(t.groups.size());
    for (std::uint32_t i = 0; i < order.size(); ++i) {
        order[i] = i;
    }
    std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
        const Group& x = t.groups[a];
        const Group& y = t.groups[b];
        if (x.bucket != y.bucket) {
            return x.bucket < y.bucket;
        }
        if (x.link != y.link) {
            return x.link < y.link;
        }
        if (x.outcome != y.outcome) {
            return x.outcome < y.outcome;
        }
        return x.is_bot < y.is_bot;
    });

    // Counters of the tracked dimensions, made once and kept for the next aggregate (the
    // country's arrays hold 768 KiB).
    auto& counters = t.counters;
    if (counters.empty()) {
        counters.resize(k_dimension_count);
        for (std::size_t d = 0; d < k_dimension_count; ++d) {
            if ((m_dimensions >> d & 1u) != 0) {
                counters[d] = std::make_unique<DimCounter>(static_cast<Dimension>(d));
            }
        }
    }
    AggRow row;
    for (std::uint32_t g : order) {
        const Group& group = t.groups[g];
        row.bucket = group.bucket;
        row.link = group.link;
        row.outcome = group.outcome;
        row.is_bot = group.is_bot;
        const Record* begin = t.records.data() + starts[g];
        const Record* end = t.records.data() + starts[g + 1];
        row.clicks = static_cast<std::uint64_t>(end - begin);
        row.visitors = 0;
        for (const Record* r = begin; r != end;) {
            const Record* run_end = r + 1;
            while (run_end != end && run_end->visitor == r->visitor) {
                ++run_end;
            }
            ++row.visitors;
            for (std::size_t d = 0; d < k_dimension_count; ++d) {
                if (counters[d]) {
                    counters[d]->visitor(r, run_end, static_cast<Dimension>(d));
                }
            }
            r = run_end;
        }
        for (std::size_t d = 0; d < k_dimension_count; ++d) {
            if (counters[d]) {
                counters[d]->finish(row.dims[d]);
            } else {
                row.dims[d].clear();
            }
        }
        if (Status st = each(row); !st) {
            return st;
        }
    }
    return Status::ok();
}

std::vector<AggRow> Aggregator::rows() const {
    std::vector<AggRow> out;
    out.reserve(groups());
    (void)for_each_row([&](AggRow& row) {
        out.push_back(row);
        return Status::ok();
    });
    return out;
}

std::size_t Aggregator::groups() const { return m_tables->groups.size(); }

void Aggregator::reserve(std::uint64_t events) {
    Tables& t = *m_tables;
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(events, std::uint64_t{1} << 28));
    t.records.reserve(n);
    // A group per few dozen events is the common shape; the tables grow past it if need be.
    t.group_index.reserve(n / 16);
    t.groups.reserve(n / 16);
}

void Aggregator::clear() {
    Tables& t = *m_tables;
    t.group_index.clear();
    t.groups.clear();
    t.records.clear();
    t.sorted = true;
    m_events = 0;
}

StringIds::StringIds() : m_slots(1024) {}

std::size_t StringIds::probe(std::string_view key, std::uint64_t hash) const {
    const std::size_t mask = m_slots.size() - 1;
    std::size_t i = hash & mask;
    while (m_slots[i].used) {
        const Slot& s = m_slots[i];
        if (s.hash == hash && s.length == key.size() && std::string_view(m_arena).substr(s.offset, s.length) == key) {
            return i;
        }
        i = (i + 1) & mask;
    }
    return i;
}

const std::int64_t* StringIds::find(std::string_view key) const {
    const Slot& s = m_slots[probe(key, formats::hash128(key, 0).lo)];
    return s.used ? &s.id : nullptr;
}

void StringIds::set(std::string_view key, std::int64_t id) {
    const std::uint64_t hash = formats::hash128(key, 0).lo;
    std::size_t i = probe(key, hash);
    if (m_slots[i].used) {
        m_slots[i].id = id;
        return;
    }
    if ((m_size + 1) * 2 > m_slots.size()) {
        std::vector<Slot> old(m_slots.size() * 2);
        old.swap(m_slots);
        const std::size_t mask = m_slots.size() - 1;
        for (const Slot& s : old) {
            if (s.used) {
                std::size_t j = s.hash & mask;
                while (m_slots[j].used) {
                    j = (j + 1) & mask;
                }
                m_slots[j] = s;
            }
        }
        i = probe(key, hash);
    }
    m_slots[i] = Slot{hash, static_cast<std::uint32_t>(m_arena.size()), static_cast<std::uint32_t>(key.size()), id, true};
    m_arena.append(key);
    ++m_size;
}

void StringIds::clear() {
    m_slots.assign(1024, Slot{});
    m_size = 0;
    m_arena.clear();
}

std::string_view StringIds::name_of(std::int64_t id) const {
    for (const Slot& s : m_slots) {
        if (s.used && s.id == id) {
            return std::string_view(m_arena).substr(s.offset, s.length);
        }
    }
    return {};
}

void encode_dims(const DimCells& dims, std::string& out) {
    out.clear();
    for (const auto& cells : dims) {
        put_varint(out, cells.size());
        for (const DimCell& c : cells) {
            put_varint(out, c.value);
            put_varint(out, c.clicks);
            put_varint(out, c.visitors);
        }
    }
}

Status decode_dims(std::string_view blob, DimCells& dims) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(blob.data());
    const auto* end = p + blob.size();
    const auto bad = [&](const char* what) {
        return Status::corruption("rollup dims at byte " +
                                  std::to_string(p - reinterpret_cast<const std::uint8_t*>(blob.data())) + ": " +
                                  what);
    };
    for (auto& cells : dims) {
        cells.clear();
        std::uint64_t n = 0;
        std::size_t used = get_varint(p, end, n);
        if (used == 0) {
            return bad("truncated count");
        }
        p += used;
        // Three bytes at least per cell: a count past what remains is damage, not an allocation.
        if (n > static_cast<std::uint64_t>(end - p) / 3) {
            return bad("cell count past the end");
        }
        cells.resize(n);
        for (DimCell& c : cells) {
            for (std::uint64_t* field : {&c.value, &c.clicks, &c.visitors}) {
                used = get_varint(p, end, *field);
                if (used == 0) {
                    return bad("truncated cell");
                }
                p += used;
            }
            if (&c != cells.data() && (&c)[-1].value >= c.value) {
                return bad("values out of order");
            }
        }
    }
    if (p != end) {
        return bad("bytes after the last dimension");
    }
    return Status::ok();
}

void add_dims(DimCells& into, const DimCells& more) {
    for (std::size_t d = 0; d < k_dimension_count; ++d) {
        std::vector<DimCell> merged;
        merged.reserve(into[d].size() + more[d].size());
        auto a = into[d].begin();
        auto b = more[d].begin();
        while (a != into[d].end() || b != more[d].end()) {
            if (b == more[d].end() || (a != into[d].end() && a->value < b->value)) {
                merged.push_back(*a++);
            } else if (a == into[d].end() || b->value < a->value) {
                merged.push_back(*b++);
            } else {
                merged.push_back(DimCell{a->value, a->clicks + b->clicks, a->visitors + b->visitors});
                ++a;
                ++b;
            }
        }
        into[d] = std::move(merged);
    }
}

std::uint64_t pack_country(char c0, char c1) {
    return static_cast<std::uint64_t>(static_cast<unsigned char>(c0)) << 8 | static_cast<unsigned char>(c1);
}

std::string country_text(std::uint64_t packed) {
    if (packed == 0) {
        return {};
    }
    return std::string{static_cast<char>(packed >> 8 & 0xff), static_cast<char>(packed & 0xff)};
}

}  // namespace shortlink::stats::detail
