#include "serve/patched.h"

namespace shortlink::serve {

std::shared_ptr<const PatchedSnapshot> PatchedSnapshot::make(
    std::shared_ptr<const formats::Snapshot> base, std::shared_ptr<const formats::Snapshot> patch) {
    if (!base || !patch || !patch->is_patch() || base->is_patch() ||
        patch->base_serial() != base->serial()) {
        return nullptr;
    }
    auto view = std::make_shared<PatchedSnapshot>();
    view->m_base_index.assign(patch->domain_count(), k_none);
    for (std::uint32_t i = 0; i < patch->domain_count(); ++i) {
        const formats::DomainView d = patch->domain(i);
        if (d.complete) {
            continue;
        }
        // find_domain() falls back to the default domain: only the very same host counts.
        const std::optional<std::uint32_t> b = base->find_domain(d.host);
        if (b && base->domain(*b).host == d.host) {
            view->m_base_index[i] = *b;
        }
    }
    view->m_base = std::move(base);
    view->m_patch = std::move(patch);
    return view;
}

}  // namespace shortlink::serve
