// Private: the identifying values of one instance, gathered before de-identification, used by
// Clean Descriptors (to remove them from kept text) and by the verifier (to refuse an output in
// which one survived).
#ifndef TSUNAGU_ANONYMIZER_SRC_IDENTITY_H_
#define TSUNAGU_ANONYMIZER_SRC_IDENTITY_H_

#include <dcmtk/dcmdata/dctk.h>

#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace tsunagu::anonymizer::internal {

// One value to look for. `source` names the attribute it came from (a tag label, never a value)
// so that a refusal can say what leaked without saying the value.
struct Token {
  std::string bytes;
  std::string source;
  // ASCII tokens match case-insensitively; those shorter than 4 characters only as a whole word
  // (so that "Li" does not match "Lipid" when verifying).
  bool ascii = false;
  bool exempt_in_patient_id = false;  // the Patient ID equal to its kept suffix (see verifier)
  std::string lower;                  // ASCII tokens: `bytes` folded to lower case
};

class Identity {
 public:
  // Gathers from every element at any depth (DcmStack walk). `raw` marks a pass over the dataset
  // in its original character set: values are then also split on ISO 2022 escape sequences so
  // that the raw bytes of multi-byte runs (e.g. ISO 2022 IR 87 kanji) are looked for too.
  void Collect(DcmItem& dataset, bool raw);

  // The birth date (YYYYMMDD) found at the top level, if any; used for the age and as a token.
  const std::string& birth_date() const { return birth_date_; }

  // Drops tokens equal to a value kept on purpose (see identity.cpp for why each is safe).
  void Exempt(const std::set<std::string>& kept_values);

  const std::vector<Token>& tokens() const { return tokens_; }
  const std::set<std::string>& original_uids() const { return original_uids_; }
  void AddOriginalUid(std::string uid) { original_uids_.insert(std::move(uid)); }

 private:
  // The label of the attribute a value comes from, made when a first token is added (a tag
  // label needs a dictionary look-up; most values add no new token).
  class Source {
   public:
    explicit Source(const DcmTagKey& tag) : tag_(tag) {}
    const std::string& label();

   private:
    DcmTagKey tag_;
    std::string label_;
  };
  void Add(std::string_view bytes, Source& source, bool exempt_in_patient_id = false);
  void AddName(std::string_view value, Source& source, bool raw);
  void AddDate(std::string_view value, Source& source);

  std::vector<Token> tokens_;
  std::set<std::string> seen_;
  std::set<std::string> original_uids_;
  std::string birth_date_;
};

// A text prepared for many token searches: folded to lower case once, not once per token.
// Keeps a view of `text`, which must outlive it.
class SearchText {
 public:
  explicit SearchText(std::string_view text);
  // Whether the text contains `token` under the matching rules above.
  bool Contains(const Token& token) const;

 private:
  std::string_view text_;
  std::string lower_;
};

// Whether `text` contains `token` under the matching rules above.
bool ContainsToken(std::string_view text, const Token& token);

// `text` with every occurrence of every token removed, runs of spaces collapsed and ends trimmed
// (Clean Descriptors, PS3.15 E.3.5).
std::string RemoveTokens(std::string_view text, const std::vector<Token>& tokens);

// True for the attributes whose values identify the patient, the visit or the institution (in
// addition to every PN element): IDs, accession, birth date, addresses, institution.
bool IsIdentifyingAttribute(const DcmTagKey& tag);

}  // namespace tsunagu::anonymizer::internal

#endif  // TSUNAGU_ANONYMIZER_SRC_IDENTITY_H_
