#include "link_events.h"

#include <cpprest/json.h>

#include <optional>

namespace tsunagu::relay {

bool IsOpeningEvent(const std::string& event) {
  return event == "open" || event == "metadata" || event == "instance" || event == "frames" ||
         event == "rendered";
}

HttpResponse LinkEventsResponse(retention::StudyStore& store, const std::string& study_uid) {
  using web::json::value;
  auto log = store.AccessLog(study_uid);
  if (!log.ok()) {
    value err = value::object();
    err["code"] = value::string(std::string(common::ErrorCodeName(log.status().code())));
    err["message"] = value::string(log.status().message());
    err["retryable"] = value::boolean(log.status().retryable());
    return HttpResponse{common::InfoFor(log.status().code()).http_status, {}, err.serialize()};
  }
  std::optional<std::int64_t> first;
  std::int64_t opens = 0;
  bool revoked = false;
  for (const retention::AccessEntry& e : *log) {
    if (e.event == "revoked") revoked = true;
    if (!IsOpeningEvent(e.event)) continue;
    if (e.event == "open") ++opens;
    const std::int64_t ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(e.time.time_since_epoch()).count();
    if (!first || ms < *first) first = ms;
  }
  value out = value::object();
  out["study_uid"] = value::string(study_uid);
  out["first_opened_at_ms"] = first ? value::number(*first) : value::null();
  out["opens"] = value::number(opens);
  out["revoked"] = value::boolean(revoked);
  return HttpResponse{200, {}, out.serialize()};
}

}  // namespace tsunagu::relay
