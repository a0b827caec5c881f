// Private: owners for DCMTK resources, one place for OFCondition -> Status.
#ifndef TSUNAGU_GATEWAY_SRC_DCMTK_BRIDGE_H_
#define TSUNAGU_GATEWAY_SRC_DCMTK_BRIDGE_H_

#include <dcmtk/config/osconfig.h>
// osconfig.h first.
#include <dcmtk/dcmnet/assoc.h>

#include <memory>
#include <string_view>

#include "tsunagu/common/status.h"

namespace tsunagu::gateway {

// Drops, then destroys (DCMTK's scppool.cc does the same by hand).
struct AssociationDeleter {
  void operator()(T_ASC_Association* assoc) const {
    if (assoc == nullptr) return;
    (void)ASC_dropSCPAssociation(assoc);
    (void)ASC_destroyAssociation(&assoc);
  }
};
using AssociationPtr = std::unique_ptr<T_ASC_Association, AssociationDeleter>;

struct NetworkDeleter {
  void operator()(T_ASC_Network* net) const {
    if (net != nullptr) (void)ASC_dropNetwork(&net);
  }
};
using NetworkPtr = std::unique_ptr<T_ASC_Network, NetworkDeleter>;

// The one conversion of a DCMTK condition into a Status: network failures are kUnavailable,
// DIMSE timeouts kDeadlineExceeded. `what` says which operation failed.
common::Status StatusFromOFCondition(const OFCondition& cond, std::string_view what);

}  // namespace tsunagu::gateway

#endif  // TSUNAGU_GATEWAY_SRC_DCMTK_BRIDGE_H_
