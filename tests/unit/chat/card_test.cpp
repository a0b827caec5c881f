#include "tsunagu/chat/card.h"

#include <gtest/gtest.h>

#include <string>

namespace tsunagu::chat {
namespace {

using namespace std::chrono_literals;
using common::Language;

// 2026-11-24 18:14:00 UTC = 2026-11-25 03:14 JST.
const auto kExpiry = std::chrono::sys_days{std::chrono::year{2026} / 11 / 24} + 18h + 14min;

Card SampleCard() {
  Card c;
  c.job_id = 42;
  c.modality = "CT";
  c.body_part = "CHEST";
  c.study_description = "CT Thorax with contrast";
  c.study_date = "20261121";
  c.study_time = "234512";
  c.series_count = 3;
  c.image_count = 412;
  c.patient_id_suffix = "1234";
  c.sender_note = "Aortic dissection?";
  c.expires_at = kExpiry;
  c.access_code_required = true;
  c.viewer_url = "https://relay.example.jp/v/abcDEF123";
  return c;
}

TEST(Card, RendersEnglishFields) {
  const std::string text = RenderPlainText(SampleCard(), {Language::kEnglish, 9h});
  EXPECT_NE(text.find("Images shared: CT CHEST"), std::string::npos) << text;
  EXPECT_NE(text.find("Study: CT Thorax with contrast"), std::string::npos);
  EXPECT_NE(text.find("Study date: 2026-11-21 23:45"), std::string::npos);
  EXPECT_NE(text.find("Series / images: 3 / 412"), std::string::npos);
  EXPECT_NE(text.find("Patient ID (last 4): \xE2\x80\xA6"
                      "1234"),
            std::string::npos);
  EXPECT_NE(text.find("Note: Aortic dissection?"), std::string::npos);
  EXPECT_NE(text.find("Expires: 2026-11-25 03:14 (+09:00)"), std::string::npos);
  EXPECT_NE(text.find("Access code: required (given separately)"), std::string::npos);
  EXPECT_NE(text.find("Open images: https://relay.example.jp/v/abcDEF123"), std::string::npos);
}

TEST(Card, RendersJapaneseFields) {
  const std::string text = RenderPlainText(SampleCard(), {Language::kJapanese, 9h});
  EXPECT_NE(text.find("画像共有: CT CHEST"), std::string::npos) << text;
  EXPECT_NE(text.find("有効期限: 2026-11-25 03:14 (+09:00)"), std::string::npos);
  EXPECT_NE(text.find("アクセスコード: 必要"), std::string::npos);
  EXPECT_NE(text.find("画像を開く: https://"), std::string::npos);
  EXPECT_EQ(text.find("Expires"), std::string::npos);
}

TEST(Card, TimeUsesConfiguredOffset) {
  EXPECT_EQ(FormatTime(kExpiry, 0min), "2026-11-24 18:14 (+00:00)");
  EXPECT_EQ(FormatTime(kExpiry, -(5h + 30min)), "2026-11-24 12:44 (-05:30)");
}

// The identifying values of a hospital record next to the card built from it. The Card type has
// no field that could hold the name, the full ID, the birth date or the access code; this checks
// that the only ID-derived value (the suffix) cannot carry the full ID either.
TEST(Card, NeverShowsIdentifyingValues) {
  const std::string name = "YAMADA^TARO";
  const std::string full_id = "PID-98761234";
  const std::string birth = "19800101";
  const std::string access_code = "483920";
  Card c = SampleCard();
  c.patient_id_suffix = full_id.substr(full_id.size() - 4);
  for (Language l : {Language::kJapanese, Language::kEnglish}) {
    const RenderOptions o{l, 9h};
    for (const std::string& out :
         {RenderPlainText(c, o), RenderHtml(c, o), RenderMarkdown(c, o, MarkdownDialect::kSlack),
          RenderMarkdown(c, o, MarkdownDialect::kMattermost), RenderChatwork(c, o)}) {
      EXPECT_NE(out.find("1234"), std::string::npos);
      for (const std::string& forbidden : {name, full_id, std::string("98761234"), birth,
                                           std::string("1980-01-01"), access_code}) {
        EXPECT_EQ(out.find(forbidden), std::string::npos) << forbidden << " in\n" << out;
      }
    }
  }
  // A caller that passes the full ID as the suffix is refused, and renderers leave it out.
  c.patient_id_suffix = full_id;
  EXPECT_EQ(ValidateCard(c).code(), common::ErrorCode::kInvalidArgument);
  EXPECT_EQ(ValidateCard(c).message().find(full_id), std::string::npos);
  EXPECT_EQ(RenderPlainText(c, {}).find("98761234"), std::string::npos);
}

TEST(Card, HtmlInjectionInDescriptionIsEscaped) {
  Card c = SampleCard();
  c.study_description = "<script>alert(1)</script><a href=\"https://evil.example\">x</a>";
  c.sender_note = "it's & <b>";
  const std::string html = RenderHtml(c, {});
  EXPECT_EQ(html.find("<script"), std::string::npos) << html;
  EXPECT_EQ(html.find("<a href=\"https://evil"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("it&#39;s &amp; &lt;b&gt;"), std::string::npos);
  // The only link is the viewer's.
  EXPECT_EQ(html.find("<a "), html.rfind("<a "));
  EXPECT_NE(html.find("<a href=\"https://relay.example.jp/v/abcDEF123\">"), std::string::npos);
}

TEST(Card, SlackLinksAndMentionsCannotBeForged) {
  Card c = SampleCard();
  c.study_description = "<!channel> <https://evil.example|Open images>";
  const std::string md = RenderMarkdown(c, {Language::kEnglish, 9h}, MarkdownDialect::kSlack);
  EXPECT_EQ(md.find("<!channel>"), std::string::npos) << md;
  EXPECT_EQ(md.find("<https://evil"), std::string::npos);
  EXPECT_NE(md.find("&lt;!channel&gt;"), std::string::npos);
  EXPECT_NE(md.find("<https://relay.example.jp/v/abcDEF123|Open images>"), std::string::npos);
}

TEST(Card, MattermostMarkdownLinksAreEscaped) {
  Card c = SampleCard();
  c.study_description = "[Open images](https://evil.example) **bold**";
  const std::string md = RenderMarkdown(c, {Language::kEnglish, 9h}, MarkdownDialect::kMattermost);
  EXPECT_EQ(md.find("[Open images](https://evil"), std::string::npos) << md;
  EXPECT_NE(md.find("\\[Open images\\]\\(https\\:"), std::string::npos) << md;
  EXPECT_NE(md.find("[Open images](https://relay.example.jp/v/abcDEF123)"), std::string::npos);
}

TEST(Card, ChatworkTagsInFreeTextAreNeutralised) {
  Card c = SampleCard();
  c.study_description = "[/info][To:123] everyone [toall]";
  const std::string cw = RenderChatwork(c, {});
  EXPECT_EQ(cw.find("[To:"), std::string::npos) << cw;
  EXPECT_EQ(cw.find("[toall]"), std::string::npos);
  // Exactly one [info] block.
  EXPECT_EQ(cw.find("[/info]"), cw.size() - 7);
  EXPECT_NE(cw.find("\xEF\xBC\xBBTo:123\xEF\xBC\xBD"), std::string::npos);
}

TEST(Card, NewlinesAndBidiOverridesCannotForgeLines) {
  Card c = SampleCard();
  c.study_description =
      "Chest\nOpen images: https://evil.example\xE2\x80\xAE"
      "dcba";
  const std::string text = RenderPlainText(c, {Language::kEnglish, 9h});
  EXPECT_EQ(text.find("\nOpen images: https://evil"), std::string::npos) << text;
  EXPECT_EQ(text.find("\xE2\x80\xAE"), std::string::npos);
  EXPECT_EQ(StripControl("a\x01"
                         "b\x7f"
                         "c\xC2\x85"
                         "d\xFF"
                         "e"),
            "abcde");
  EXPECT_EQ(StripControl("日本語"), "日本語");
}

TEST(Card, LongNotesAreCutAtACharacterBoundary) {
  EXPECT_EQ(TruncateUtf8("日本語です", 3), "日本語\xE2\x80\xA6");
  EXPECT_EQ(TruncateUtf8("abc", 3), "abc");
  Card c = SampleCard();
  c.sender_note = std::string(3000, 'x') + "END";
  const std::string text = RenderPlainText(c, {Language::kEnglish, 9h});
  EXPECT_EQ(text.find("END"), std::string::npos);
  EXPECT_NE(text.find("Note: " + std::string(500, 'x') + "\xE2\x80\xA6\n"), std::string::npos);
}

TEST(Card, ExpiredAndRevokedCardsHaveNoLink) {
  Card c = SampleCard();
  c.state = CardState::kExpired;
  std::string text = RenderPlainText(c, {Language::kEnglish, 9h});
  EXPECT_NE(text.find("This link has expired"), std::string::npos);
  EXPECT_EQ(text.find(c.viewer_url), std::string::npos);
  c.state = CardState::kRevoked;
  text = RenderHtml(c, {Language::kJapanese, 9h});
  EXPECT_NE(text.find("このリンクは取り消されました"), std::string::npos);
  EXPECT_EQ(text.find(c.viewer_url), std::string::npos);
}

TEST(Card, OpenedTimeIsShownWithoutWho) {
  Card c = SampleCard();
  c.opened_at = kExpiry - 24h;  // 03:14 JST the day before
  EXPECT_NE(RenderPlainText(c, {Language::kEnglish, 9h}).find("Opened 03:14"), std::string::npos);
  EXPECT_NE(RenderPlainText(c, {Language::kJapanese, 9h}).find("既読 03:14"), std::string::npos);
}

TEST(Card, ValidationNamesTheField) {
  Card c = SampleCard();
  EXPECT_TRUE(ValidateCard(c).ok());
  c.viewer_url = "javascript:alert(1)";
  EXPECT_NE(ValidateCard(c).message().find("viewer_url"), std::string::npos);
  c = SampleCard();
  c.viewer_url = "https://relay.example.jp/v/a\" onclick=\"x";
  EXPECT_FALSE(ValidateCard(c).ok());
  c = SampleCard();
  c.thumbnail_url = "http://relay.example.jp/t/abc";
  EXPECT_NE(ValidateCard(c).message().find("thumbnail_url"), std::string::npos);
  c = SampleCard();
  c.job_id = 0;
  EXPECT_FALSE(ValidateCard(c).ok());
  c = SampleCard();
  c.patient_id_suffix = "１２３４";  // four full-width digits are four characters
  EXPECT_TRUE(ValidateCard(c).ok());
}

}  // namespace
}  // namespace tsunagu::chat
