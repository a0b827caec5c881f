#include "tsunagu/anonymizer/options_from_config.h"

namespace tsunagu::anonymizer {

ProfileOptions ProfileOptionsFromConfig(const config::AnonymizerOptions& options,
                                        std::string site_secret) {
  ProfileOptions out;
  out.profile = options.profile;
  out.patient_id_keep = options.patient_id_keep;
  out.site_secret = std::move(site_secret);
  for (const config::SafePrivateOption& s : options.safe_private) {
    out.safe_private.push_back(SafePrivateAttribute{s.group, s.creator, s.element});
  }
  for (const config::PixelMaskOption& m : options.pixel_mask) {
    PixelMaskRule rule{m.manufacturer, m.model, m.rows, m.columns, {}};
    for (const auto& r : m.rectangles)
      rule.rectangles.push_back(MaskRectangle{r[0], r[1], r[2], r[3]});
    out.pixel_mask_rules.push_back(std::move(rule));
  }
  return out;
}

}  // namespace tsunagu::anonymizer
