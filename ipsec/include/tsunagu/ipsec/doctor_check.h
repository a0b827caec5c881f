// The IPsec tunnel as a `doctor` check, for both services.
#ifndef TSUNAGU_IPSEC_DOCTOR_CHECK_H_
#define TSUNAGU_IPSEC_DOCTOR_CHECK_H_

#include "tsunagu/common/doctor.h"
#include "tsunagu/config/ipsec_options.h"

namespace tsunagu::ipsec {

// Up: ok. Down or strongSwan not answering: failed, with what to look at. Not configured: ok
// when `required` is false, failed otherwise.
common::CheckResult CheckTunnel(const config::IpsecOptions& options, bool required,
                                common::Language language);

}  // namespace tsunagu::ipsec

#endif  // TSUNAGU_IPSEC_DOCTOR_CHECK_H_
