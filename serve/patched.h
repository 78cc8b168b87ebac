// PatchedSnapshot: a full snapshot with the newest patch for it on top, read as one snapshot.
//
// A patch (SPEC.md "Patches") holds every link changed since its base and the whole current
// domain table. A lookup asks the patch first (one hash probe, a few nanoseconds when the patch
// does not hold the key), then the base under the same host's domain index there, unless the
// domain is complete in the patch (every link of it is in the patch: the base does not have the
// domain or its defaults changed). Domains and their policies always come from the patch.
//
// Thread-safety: immutable; any number of threads may call the const methods at once.
// Ownership: holds both files (shared), so either stays mapped while a request uses the view.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "formats/snapshot.h"

namespace shortlink::serve {

class PatchedSnapshot {
public:
    // nullptr unless `patch` is a patch whose base serial is `base`'s serial.
    static std::shared_ptr<const PatchedSnapshot> make(std::shared_ptr<const formats::Snapshot> base,
                                                       std::shared_ptr<const formats::Snapshot> patch);

    // The interface serve/answer_impl.h reads a snapshot through.
    std::optional<std::uint32_t> find_domain(std::string_view host) const {
        return m_patch->find_domain(host);
    }
    formats::DomainView domain(std::uint32_t index) const { return m_patch->domain(index); }
    std::optional<formats::LinkView> lookup(std::uint32_t domain_index, std::string_view code) const {
        if (auto link = m_patch->lookup(domain_index, code)) {
            return link;
        }
        const std::uint32_t base = m_base_index[domain_index];
        if (base == k_none) {
            return std::nullopt;
        }
        return m_base->lookup(base, code);
    }
    bool intact() const { return m_base->intact() && m_patch->intact(); }

    const formats::Snapshot& base() const { return *m_base; }
    const formats::Snapshot& patch() const { return *m_patch; }
    const std::shared_ptr<const formats::Snapshot>& patch_ptr() const { return m_patch; }

private:
    static constexpr std::uint32_t k_none = ~std::uint32_t{0};

    std::shared_ptr<const formats::Snapshot> m_base;
    std::shared_ptr<const formats::Snapshot> m_patch;
    // Patch domain index -> the base's index of the same host; k_none when the base has no such
    // host or the domain is complete in the patch.
    std::vector<std::uint32_t> m_base_index;
};

}  // namespace shortlink::serve
