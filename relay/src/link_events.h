// Private: link events for the gateway's seen receipts (issue 9, 既読 for images).
//
// GET /v1/studies/{uid}/events on the mutual-TLS upload API answers when a link of the study was
// first opened and how many times it was opened, from the relay's access log:
//   {"study_uid": "...", "first_opened_at_ms": 1795000000000 | null, "opens": 3,
//    "revoked": false}
// "revoked" is true once the study's links were revoked at the relay (the API's revoke, or
// `tsunagu-relay revoke`), so the gateway can edit the card.
// Time and count only: never the client address, the user agent or which link.
#ifndef TSUNAGU_RELAY_SRC_LINK_EVENTS_H_
#define TSUNAGU_RELAY_SRC_LINK_EVENTS_H_

#include <string>

#include "http_server.h"
#include "tsunagu/retention/study_store.h"

namespace tsunagu::relay {

// The access-log events that count as an opening: the web viewer's summary, the DICOMweb study
// listing, and any image fetched (a viewer that skips the listing still opened the study).
bool IsOpeningEvent(const std::string& event);

HttpResponse LinkEventsResponse(retention::StudyStore& store, const std::string& study_uid);

}  // namespace tsunagu::relay

#endif  // TSUNAGU_RELAY_SRC_LINK_EVENTS_H_
