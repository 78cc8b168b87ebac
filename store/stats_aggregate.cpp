// The stats aggregator and the rollup's dims encoding. See stats_aggregate.h.
//
// Three open-addressing tables keyed by two 64-bit words: groups, cells (a group's count for one
// value of one dimension) and visitors (a group's visitor, with the values of its first event).
// A later event of the same visitor whose value differs from the first is checked against a
// fourth table of (cell, visitor) pairs, so distinct counts stay exact without a set per cell.
#include "store/stats_aggregate.h"

#include <algorithm>
#include <functional>
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
    std::uint64_t clicks = 0;
    std::uint64_t visitors = 0;
    std::uint32_t block = 0;  // its first cell in `cells` when small dimensions are tracked
};

struct Counter {
    std::uint64_t clicks = 0;
    std::uint64_t visitors = 0;
};

// Values of a visitor's first event in a group; a value that does not fit (a referrer id past
// 2^32 - 1) is stored as k_no_value and every event then takes the (cell, visitor) check.
constexpr std::uint32_t k_no_value = std::numeric_limits<std::uint32_t>::max();
using FirstValues = std::array<std::uint32_t, k_dimension_count>;

// The dimensions with a few known values (device, os, browser, bot, qr) count them in a block of
// cells per group, so an event touches one group's memory rather than a hash table slot per
// dimension; a value past the known ones (a newer writer's) goes to the table like a country.
constexpr std::array<std::uint32_t, k_dimension_count> k_block_values = {
    0,  // country
    formats::clicks::k_device_count,
    formats::clicks::k_os_count,
    formats::clicks::k_browser_count,
    0,  // referrer
    formats::clicks::k_bot_count,
    2,  // qr
};
constexpr std::array<std::uint32_t, k_dimension_count> block_offsets() {
    std::array<std::uint32_t, k_dimension_count> offsets{};
    std::uint32_t at = 0;
    for (std::size_t d = 0; d < k_dimension_count; ++d) {
        offsets[d] = at;
        at += k_block_values[d];
    }
    return offsets;
}
constexpr std::array<std::uint32_t, k_dimension_count> k_block_offset = block_offsets();
constexpr std::uint32_t k_block_size = k_block_offset[k_dimension_count - 1] + k_block_values[k_dimension_count - 1];

std::uint64_t group_word(std::int64_t link, std::uint8_t outcome, std::uint8_t is_bot) {
    return static_cast<std::uint64_t>(link) << 9 | static_cast<std::uint64_t>(outcome) << 1 | (is_bot & 1u);
}

std::uint64_t cell_word(std::uint32_t group, std::size_t dim) { return std::uint64_t{group} << 8 | dim; }

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

struct Aggregator::Tables {
    FlatMap<std::uint32_t> group_index;   // (bucket, group_word) -> index into groups
    std::vector<Group> groups;
    FlatMap<std::uint32_t> cell_index;    // (cell_word, value) -> index into cells, outside blocks
    std::vector<Counter> cells;
    FlatMap<std::uint32_t> visitor_index; // (group, visitor) -> index into first_values
    std::vector<FirstValues> first_values;
    FlatMap<char> seen;                   // (cell index, visitor): a later value already counted
};

Aggregator::Aggregator(std::uint32_t dimensions) : m_dimensions(dimensions), m_tables(new Tables) {
    for (std::size_t d = 0; d < k_dimension_count; ++d) {
        if (k_block_values[d] != 0 && (dimensions >> d & 1u) != 0) {
            m_blocks = true;
        }
    }
}

Aggregator::~Aggregator() { delete m_tables; }

void Aggregator::add(const AggEvent& e) {
    Tables& t = *m_tables;
    ++m_events;
    bool inserted = false;
    std::uint32_t& gslot = t.group_index.find_or_insert(static_cast<std::uint64_t>(e.bucket),
                                                        group_word(e.link, e.outcome, e.is_bot), inserted);
    if (inserted) {
        gslot = static_cast<std::uint32_t>(t.groups.size());
        Group group{e.bucket, e.link, e.outcome, e.is_bot, 0, 0, 0};
        if (m_blocks) {
            group.block = static_cast<std::uint32_t>(t.cells.size());
            t.cells.resize(t.cells.size() + k_block_size);
        }
        t.groups.push_back(group);
    }
    const std::uint32_t g = gslot;
    Group& group = t.groups[g];
    group.clicks += 1;

    std::array<std::uint32_t, k_dimension_count> cell_of{};
    for (std::size_t d = 0; d < k_dimension_count; ++d) {
        if ((m_dimensions >> d & 1u) == 0) {
            continue;
        }
        const std::uint64_t value = e.values[d];
        if (value < k_block_values[d]) {
            cell_of[d] = group.block + k_block_offset[d] + static_cast<std::uint32_t>(value);
        } else {
            std::uint32_t& slot = t.cell_index.find_or_insert(cell_word(g, d), value, inserted);
            if (inserted) {
                slot = static_cast<std::uint32_t>(t.cells.size());
                t.cells.emplace_back();
            }
            cell_of[d] = slot;
        }
        t.cells[cell_of[d]].clicks += 1;
    }

    std::uint32_t& vslot = t.visitor_index.find_or_insert(g, e.visitor, inserted);
    if (inserted) {
        vslot = static_cast<std::uint32_t>(t.first_values.size());
        FirstValues first{};
        for (std::size_t d = 0; d < k_dimension_count; ++d) {
            first[d] = e.values[d] < k_no_value ? static_cast<std::uint32_t>(e.values[d]) : k_no_value;
            if ((m_dimensions >> d & 1u) != 0) {
                t.cells[cell_of[d]].visitors += 1;
                if (first[d] == k_no_value) {
                    bool fresh = false;
                    t.seen.find_or_insert(cell_of[d], e.visitor, fresh);
                }
            }
        }
        t.first_values.push_back(first);
        t.groups[g].visitors += 1;
        return;
    }
    const FirstValues& first = t.first_values[vslot];
    for (std::size_t d = 0; d < k_dimension_count; ++d) {
        if ((m_dimensions >> d & 1u) == 0 || (first[d] != k_no_value && first[d] == e.values[d])) {
            continue;
        }
        bool fresh = false;
        t.seen.find_or_insert(cell_of[d], e.visitor, fresh);
        if (fresh) {
            t.cells[cell_of[d]].visitors += 1;
        }
    }
}

Status Aggregator::for_each_row(const std::function<Status(AggRow&)>& each) const {
    const Tables& t = *m_tables;
    // The cells outside blocks, grouped by their group (a counting sort).
    struct Loose {
        std::uint64_t value;
        std::uint32_t cell;
        std::uint8_t dim;
    };
    std::vector<std::uint32_t> starts(t.groups.size() + 1, 0);
    t.cell_index.for_each([&](std::uint64_t word, std::uint64_t, std::uint32_t) { ++starts[(word >> 8) + 1]; });
    for (std::size_t i = 1; i < starts.size(); ++i) {
        starts[i] += starts[i - 1];
    }
    std::vector<Loose> loose(starts.back());
    std::vector<std::uint32_t> fill(starts.begin(), starts.end() - 1);
    t.cell_index.for_each([&](std::uint64_t word, std::uint64_t value, std::uint32_t index) {
        loose[fill[word >> 8]++] = Loose{value, index, static_cast<std::uint8_t>(word & 0xff)};
    });

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

    AggRow row;
    for (std::uint32_t i : order) {
        const Group& g = t.groups[i];
        row.bucket = g.bucket;
        row.link = g.link;
        row.outcome = g.outcome;
        row.is_bot = g.is_bot;
        row.clicks = g.clicks;
        row.visitors = g.visitors;
        for (auto& cells : row.dims) {
            cells.clear();
        }
        for (std::size_t d = 0; m_blocks && d < k_dimension_count; ++d) {
            if ((m_dimensions >> d & 1u) == 0) {
                continue;
            }
            for (std::uint32_t v = 0; v < k_block_values[d]; ++v) {
                const Counter& c = t.cells[g.block + k_block_offset[d] + v];
                if (c.clicks != 0) {
                    row.dims[d].push_back(DimCell{v, c.clicks, c.visitors});
                }
            }
        }
        for (std::uint32_t k = starts[i]; k < starts[i + 1]; ++k) {
            const Counter& c = t.cells[loose[k].cell];
            row.dims[loose[k].dim].push_back(DimCell{loose[k].value, c.clicks, c.visitors});
        }
        for (std::size_t d = 0; d < k_dimension_count; ++d) {
            // Block values come first and in order; only loose values need sorting.
            if (k_block_values[d] == 0 || starts[i + 1] != starts[i]) {
                std::sort(row.dims[d].begin(), row.dims[d].end(),
                          [](const DimCell& x, const DimCell& y) { return x.value < y.value; });
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
    // Sized for the common shape: most events from visitors seen once per group, a group per few
    // dozen events, a few hundred cells per group at most.
    Tables& t = *m_tables;
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(events, std::uint64_t{1} << 26));
    t.visitor_index.reserve(n);
    t.first_values.reserve(n);
    t.group_index.reserve(n / 16);
    t.groups.reserve(n / 16);
    if (m_dimensions != 0) {
        t.cell_index.reserve(n / 4);
        t.cells.reserve(n / 4 + (m_blocks ? n / 16 * k_block_size : 0));
    }
}

void Aggregator::clear() {
    Tables& t = *m_tables;
    t.group_index.clear();
    t.groups.clear();
    t.cell_index.clear();
    t.cells.clear();
    t.visitor_index.clear();
    t.first_values.clear();
    t.seen.clear();
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
