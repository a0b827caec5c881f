// InstanceDeidentifier over the anonymizer's Deidentifier.
#include "tsunagu/anonymizer/deidentifier.h"
#include "tsunagu/anonymizer/options_from_config.h"
#include "tsunagu/gateway/stage_adapters.h"

namespace tsunagu::gateway {
namespace {

class AnonymizerDeidentifier final : public InstanceDeidentifier {
 public:
  explicit AnonymizerDeidentifier(std::unique_ptr<anonymizer::Deidentifier> d) : d_(std::move(d)) {}

  common::Result<DeidentifiedInstance> Deidentify(
      const std::filesystem::path& input, const std::filesystem::path& output_dir) override {
    TSUNAGU_ASSIGN_OR_RETURN(anonymizer::InstanceSummary s, d_->DeidentifyFile(input, output_dir));
    DeidentifiedInstance out;
    out.sop_uid = s.sop_instance_uid;
    out.study_uid = s.study_instance_uid;
    out.file = output_dir / (s.sop_instance_uid + ".dcm");
    out.patient_id_suffix = s.patient_id_suffix;
    out.modality = s.modality;
    out.body_part = s.body_part;
    out.study_description = s.study_description;
    out.study_date = s.study_date;
    out.study_time = s.study_time;
    out.patient_key = JoinPatientKeys(s.patient_key, s.previous_patient_keys);
    return out;
  }

 private:
  std::unique_ptr<anonymizer::Deidentifier> d_;
};

}  // namespace

common::Result<std::unique_ptr<InstanceDeidentifier>> MakeAnonymizerDeidentifier(
    const config::AnonymizerOptions& options, const std::string& site_secret,
    std::vector<std::string> patient_key_secrets) {
  anonymizer::ProfileOptions profile = anonymizer::ProfileOptionsFromConfig(options, site_secret);
  profile.patient_key_secrets = std::move(patient_key_secrets);
  TSUNAGU_ASSIGN_OR_RETURN(std::unique_ptr<anonymizer::Deidentifier> d,
                           anonymizer::Deidentifier::Create(profile));
  return std::unique_ptr<InstanceDeidentifier>(
      std::make_unique<AnonymizerDeidentifier>(std::move(d)));
}

}  // namespace tsunagu::gateway
