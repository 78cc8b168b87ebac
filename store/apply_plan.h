// What `shortlink apply` changes to make the store say what a links file says (the plan), and
// the change itself in one transaction (man/shortlink-apply.1, docs/links-in-git.md).
//
// A plan compares the file with the store: a domain or link the file lists and the store lacks
// is added; one whose fields differ is changed, field by field; with `prune`, a link the store
// has (not deleted) and the file does not list is removed, that is soft-deleted, as `delete`
// does. Domains are never removed: a removed domain answers 404 for every link it had, where a
// deleted link answers 410, so removing one stays a command of its own (`domain remove`). A
// deleted link the file lists is restored and given the file's fields (unless the file says
// `status: deleted`). Links are matched on (domain, code); on a case-insensitive domain codes
// match regardless of ASCII case, and a file spelling an existing code in another case is
// refused rather than renaming it.
//
// Applying runs every step through the store's own operations (add_domain, set_domain,
// add_link, edit_link, change_state), so each change is validated and audited under the actor
// exactly as the matching command would, inside one write transaction (Store::begin_bulk): the
// plan is made under the write lock, and any failure rolls everything back.
//
// Thread-safety: as Store. Nothing here throws.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "formats/status.h"
#include "store/links_file.h"
#include "store/store.h"

namespace shortlink::store {

// One field of a step, written as the links file writes its value.
struct FieldChange {
    std::string field;                  // the file's key: "url", "tags", "default_type", ...
    std::optional<std::string> before;  // none when unset (no time, the domain's default) or added
    std::optional<std::string> after;   // none when unset
};

enum class StepAction { add, change, remove };

struct DomainStep {
    StepAction action = StepAction::add;  // add or change
    DomainRecord target;                  // the domain as the file says
    DomainPatch patch;                    // change: the settings that differ
    std::vector<FieldChange> changes;     // add: every setting that is not a new domain's default
    FilePosition at;
};

struct LinkStep {
    StepAction action = StepAction::add;
    LinkInput target;                     // as the file says; remove: the link's host and code
    LinkState from = LinkState::active;   // change, remove: its state in the store
    std::optional<LinkPatch> edit;        // change: the fields other than status that differ
    std::vector<FieldChange> changes;     // add: every field that is not a new link's default
    FilePosition at;                      // remove: {0, 0} (the file does not list it)
};

struct ApplyPlan {
    std::vector<DomainStep> domains;  // in file order
    std::vector<LinkStep> links;      // adds and changes in file order, then removals by (domain, code)

    bool empty() const { return domains.empty() && links.empty(); }
    std::size_t count(StepAction action) const;
};

// The plan of `file` against a store holding `domains` and `links` (every state). Fails with
// not_found for a link on a domain neither the file nor the store has, conflict for a code that
// differs only in case from a stored one on a case-insensitive domain, invalid_argument for two
// entries that are one link on a case-insensitive domain; each message begins "line L, column C".
Result<ApplyPlan> make_apply_plan(const LinksFile& file, const std::vector<DomainRecord>& domains,
                                  const std::vector<Link>& links, bool prune);

// The plan against the store as it is now; changes nothing.
Result<ApplyPlan> plan_links_file(Store& store, const LinksFile& file, bool prune);

// Plans and applies in one write transaction, committed only when every step succeeded. On a
// failed step, `failed_at` (when given) gets the position of its entry ({0, 0} for a removal).
// The links are planned again once domains are added: a removed domain the file lists comes
// back with its deleted links, which a plan made before cannot see (so for them the plan of
// plan_links_file() says add where apply restores).
Result<ApplyPlan> apply_links_file(Store& store, const LinksFile& file, bool prune, FilePosition* failed_at = nullptr);

}  // namespace shortlink::store
