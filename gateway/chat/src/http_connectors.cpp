// Webhook, Slack-compatible, Chatwork and Matrix connectors: payload shapes from each platform's
// public API documentation (see docs/chat.md for the references).
#include <cstdio>
#include <ctime>

#include "connectors_internal.h"
#include "tsunagu/chat/webhook_signature.h"

namespace tsunagu::chat::internal {

std::optional<web::json::value> ParseJson(const std::string& body) {
  try {
    return web::json::value::parse(body);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string JGetString(const web::json::value& obj, const std::string& key) {
  if (!obj.is_object() || !obj.has_field(key)) return "";
  const auto& v = obj.at(key);
  return v.is_string() ? v.as_string() : "";
}

std::string Rfc3339(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string Excerpt(const std::string& body) {
  std::string s = StripControl(body);
  if (s.size() > 80) s = s.substr(0, 80) + "...";
  return s;
}

namespace {

using web::json::value;

std::string StateName(CardState s) {
  switch (s) {
    case CardState::kExpired:
      return "expired";
    case CardState::kRevoked:
      return "revoked";
    case CardState::kActive:
      break;
  }
  return "active";
}

// --- generic webhook ------------------------------------------------------------------------

class WebhookConnector final : public ChatConnector {
 public:
  WebhookConnector(std::string url, std::string secret, ConnectorDeps deps)
      : url_(std::move(url)), secret_(std::move(secret)), deps_(std::move(deps)) {}

  ConnectorCapabilities capabilities() const override {
    return {.can_edit = true, .can_create_rooms = false, .exactly_once = false};
  }

  ChatResult<PostResult> Post(const Card& card, const ThreadTarget& target,
                              const std::string& key) override {
    return Send("card.posted", card, target, key, "");
  }
  ChatResult<PostResult> Update(const Card& card, const ThreadTarget& target,
                                const std::string& message_id, const std::string& key) override {
    return Send("card.updated", card, target, key, message_id);
  }

 private:
  ChatResult<PostResult> Send(const std::string& event, const Card& card,
                              const ThreadTarget& target, const std::string& key,
                              const std::string& replaces) {
    TSUNAGU_RETURN_IF_ERROR(ValidateCard(card));
    value study = value::object();
    study["modality"] = JStr(StripControl(card.modality));
    study["body_part"] = JStr(StripControl(card.body_part));
    study["description"] = JStr(StripControl(card.study_description));
    study["date"] = JStr(StripControl(card.study_date));
    study["time"] = JStr(StripControl(card.study_time));
    study["series_count"] = value::number(card.series_count);
    study["image_count"] = value::number(card.image_count);
    value v = value::object();
    v["event"] = JStr(event);
    v["version"] = value::number(1);
    v["idempotency_key"] = JStr(key);
    v["job_id"] = value::number(card.job_id);
    v["thread"] = JStr(target.thread_name);
    if (!target.destination.empty()) v["destination"] = JStr(target.destination);
    if (!replaces.empty()) v["replaces"] = JStr(replaces);
    v["state"] = JStr(StateName(card.state));
    v["language"] = JStr(std::string(common::LanguageCode(target.render.language)));
    v["study"] = study;
    v["patient_id_suffix"] = JStr(StripControl(card.patient_id_suffix));
    v["sender_note"] = JStr(TruncateUtf8(StripControl(card.sender_note), kMaxSenderNote));
    v["expires_at"] = JStr(Rfc3339(card.expires_at));
    v["access_code_required"] = value::boolean(card.access_code_required);
    v["viewer_url"] = JStr(card.viewer_url);
    if (card.thumbnail_url) v["thumbnail_url"] = JStr(*card.thumbnail_url);
    if (card.opened_at) v["opened_at"] = JStr(Rfc3339(*card.opened_at));
    v["text"] = JStr(RenderPlainText(card, target.render));
    const std::string body = v.serialize();
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         deps_.clock->SystemNow().time_since_epoch())
                         .count();
    HttpRequest req{"POST",
                    url_,
                    {{"Content-Type", "application/json; charset=utf-8"},
                     {kWebhookTimestampHeader, std::to_string(now)},
                     {kWebhookSignatureHeader, SignWebhook(secret_, now, body)},
                     {"Idempotency-Key", key}},
                    body};
    auto resp = deps_.transport->Send(req);
    if (!resp.ok()) return resp.status().WithContext("webhook");
    auto st = StatusFromHttp(*resp, "webhook", *deps_.clock, "");
    if (!st.ok()) return {st.status(), st.retry_after()};
    return PostResult{.message_id = key, .exactly_once = false, .destination = target.destination};
  }

  std::string url_;
  std::string secret_;
  ConnectorDeps deps_;
};

// --- Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat) ----------------------

class SlackConnector final : public ChatConnector {
 public:
  SlackConnector(std::string url, bool blocks, ConnectorDeps deps)
      : url_(std::move(url)), blocks_(blocks), deps_(std::move(deps)) {}

  ConnectorCapabilities capabilities() const override { return {}; }

  ChatResult<PostResult> Post(const Card& card, const ThreadTarget& target,
                              const std::string& key) override {
    TSUNAGU_RETURN_IF_ERROR(ValidateCard(card));
    const CardText t = MakeCardText(card, target.render);
    value v = value::object();
    if (!target.destination.empty()) v["channel"] = JStr(target.destination);
    if (blocks_) {
      // Slack Block Kit: a section of mrkdwn and a link button. "text" is the notification
      // fallback.
      v["text"] = JStr(EscapeSlack(t.title));
      value section = value::object();
      section["type"] = JStr("section");
      section["text"] = value::object();
      section["text"]["type"] = JStr("mrkdwn");
      section["text"]["text"] = JStr(RenderMarkdown(card, target.render, MarkdownDialect::kSlack));
      std::vector<value> blocks{section};
      if (card.thumbnail_url) {
        value image = value::object();
        image["type"] = JStr("image");
        image["image_url"] = JStr(*card.thumbnail_url);
        image["alt_text"] = JStr(t.title);
        blocks.push_back(image);
      }
      if (card.state == CardState::kActive) {
        value button = value::object();
        button["type"] = JStr("button");
        button["text"] = value::object();
        button["text"]["type"] = JStr("plain_text");
        button["text"]["text"] = JStr(t.link_label);
        button["url"] = JStr(card.viewer_url);
        value actions = value::object();
        actions["type"] = JStr("actions");
        actions["elements"] = value::array({button});
        blocks.push_back(actions);
      }
      v["blocks"] = value::array(blocks);
    } else {
      // Mattermost / Rocket.Chat message attachments.
      v["text"] = JStr(EscapeMarkdown(t.title));
      value a = value::object();
      a["fallback"] = JStr(RenderPlainText(card, target.render));
      a["color"] = JStr("#1f6feb");
      a["title"] = JStr(t.title);
      if (card.state == CardState::kActive) a["title_link"] = JStr(card.viewer_url);
      a["text"] = JStr(RenderMarkdown(card, target.render, MarkdownDialect::kMattermost));
      if (card.thumbnail_url) a["thumb_url"] = JStr(*card.thumbnail_url);
      v["attachments"] = value::array({a});
    }
    return Send(v, target);
  }

  ChatResult<PostResult> PostNotice(const std::string& text, const ThreadTarget& target,
                                    const std::string&) override {
    value v = value::object();
    if (!target.destination.empty()) v["channel"] = JStr(target.destination);
    v["text"] =
        JStr(blocks_ ? EscapeSlack(StripControl(text)) : EscapeMarkdown(StripControl(text)));
    return Send(v, target);
  }

 private:
  ChatResult<PostResult> Send(const value& v, const ThreadTarget& target) {
    HttpRequest req{"POST", url_, {{"Content-Type", "application/json"}}, v.serialize()};
    auto resp = deps_.transport->Send(req);
    if (!resp.ok()) return resp.status().WithContext("incoming webhook");
    auto st = StatusFromHttp(*resp, "incoming webhook", *deps_.clock, Excerpt(resp->body));
    if (!st.ok()) return {st.status(), st.retry_after()};
    return PostResult{.message_id = "", .exactly_once = false, .destination = target.destination};
  }

  std::string url_;
  bool blocks_;
  ConnectorDeps deps_;
};

// --- Chatwork API v2 -------------------------------------------------------------------------

class ChatworkConnector final : public ChatConnector {
 public:
  ChatworkConnector(std::string api_base, std::string token, ConnectorDeps deps)
      : api_base_(std::move(api_base)), token_(std::move(token)), deps_(std::move(deps)) {}

  ConnectorCapabilities capabilities() const override { return {}; }

  ChatResult<PostResult> Post(const Card& card, const ThreadTarget& target,
                              const std::string& key) override {
    TSUNAGU_RETURN_IF_ERROR(ValidateCard(card));
    return Send(RenderChatwork(card, target.render), target);
  }

  ChatResult<PostResult> PostNotice(const std::string& text, const ThreadTarget& target,
                                    const std::string&) override {
    return Send(EscapeChatwork(StripControl(text)), target);
  }

 private:
  // `body` is Chatwork notation, already escaped.
  ChatResult<PostResult> Send(const std::string& body, const ThreadTarget& target) {
    if (target.destination.empty() ||
        target.destination.find_first_not_of("0123456789") != std::string::npos) {
      return common::InvalidArgumentError(
          "Chatwork: the thread's destination must be the numeric room id (the digits after "
          "#!rid in the room's address)");
    }
    HttpRequest req{"POST",
                    api_base_ + "/v2/rooms/" + target.destination + "/messages",
                    {{"Content-Type", "application/x-www-form-urlencoded"},
                     {"X-ChatWorkToken", token_},
                     {"Accept", "application/json"}},
                    "body=" + UrlEncode(body) + "&self_unread=0"};
    auto resp = deps_.transport->Send(req);
    if (!resp.ok()) return resp.status().WithContext("Chatwork");
    std::string detail;
    if (auto j = ParseJson(resp->body); j && j->is_object() && j->has_field("errors") &&
                                        j->at("errors").is_array() && j->at("errors").size() > 0 &&
                                        j->at("errors").at(0).is_string()) {
      detail = Excerpt(j->at("errors").at(0).as_string());
    }
    auto st = StatusFromHttp(*resp, "Chatwork", *deps_.clock, detail);
    if (!st.ok()) {
      auto retry = st.retry_after();
      // Chatwork announces the end of its 5-minute window in X-RateLimit-Reset (Unix time).
      const std::string reset = resp->Header("X-RateLimit-Reset");
      if (resp->status == 429 && !retry && !reset.empty() &&
          reset.find_first_not_of("0123456789") == std::string::npos && reset.size() < 12) {
        const auto at =
            std::chrono::system_clock::time_point(std::chrono::seconds(std::stoll(reset)));
        const auto now = deps_.clock->SystemNow();
        retry = at > now ? std::chrono::duration_cast<std::chrono::milliseconds>(at - now)
                         : std::chrono::milliseconds(0);
      }
      return {st.status(), retry};
    }
    std::string id;
    if (auto j = ParseJson(resp->body)) id = JGetString(*j, "message_id");
    return PostResult{.message_id = id, .exactly_once = false, .destination = target.destination};
  }

  std::string api_base_;
  std::string token_;
  ConnectorDeps deps_;
};

// --- Matrix client-server API ----------------------------------------------------------------

class MatrixConnector final : public ChatConnector {
 public:
  MatrixConnector(std::string homeserver, std::string token, ConnectorDeps deps)
      : hs_(std::move(homeserver)), token_(std::move(token)), deps_(std::move(deps)) {}

  ConnectorCapabilities capabilities() const override {
    return {.can_edit = true, .can_create_rooms = true, .exactly_once = true};
  }

  ChatResult<PostResult> Post(const Card& card, const ThreadTarget& target,
                              const std::string& key) override {
    TSUNAGU_RETURN_IF_ERROR(ValidateCard(card));
    value content = Content(card, target);
    if (auto mxc = UploadThumbnail(card)) {
      // Matrix clients show only mxc:// images from formatted_body (client-server API,
      // "m.room.message msgtypes", HTML subset: img src must be an mxc URI).
      content["formatted_body"] =
          JStr("<img src=\"" + *mxc + "\" alt=\"" +
               std::string(common::Pick(target.render.language, "サムネイル", "Thumbnail")) +
               "\" height=\"128\"><br>" + content["formatted_body"].as_string());
    }
    return Send(content, target, key);
  }

  // Edits carry no thumbnail: the posted-card store keeps no thumbnail link, and an expired or
  // revoked card should not keep showing the image.
  ChatResult<PostResult> Update(const Card& card, const ThreadTarget& target,
                                const std::string& message_id, const std::string& key) override {
    TSUNAGU_RETURN_IF_ERROR(ValidateCard(card));
    // An edit (m.replace): the new content in m.new_content, a "* " fallback for old clients.
    value content = Content(card, target);
    value v = value::object();
    v["msgtype"] = JStr("m.text");
    v["body"] = JStr("* " + content["body"].as_string());
    v["format"] = JStr("org.matrix.custom.html");
    v["formatted_body"] = JStr("* " + content["formatted_body"].as_string());
    v["m.new_content"] = content;
    v["m.relates_to"] = value::object();
    v["m.relates_to"]["rel_type"] = JStr("m.replace");
    v["m.relates_to"]["event_id"] = JStr(message_id);
    return Send(v, target, key);
  }

  ChatResult<std::string> CreateRoom(const RoomRequest& request) override {
    value v = value::object();
    v["name"] = JStr(request.name);
    v["preset"] = JStr("private_chat");
    v["visibility"] = JStr("private");
    std::vector<value> invite;
    for (const auto& u : request.invite) invite.push_back(JStr(u));
    v["invite"] = value::array(invite);
    HttpRequest req{"POST", hs_ + "/_matrix/client/v3/createRoom", Headers(), v.serialize()};
    req.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + token_}};
    auto resp = deps_.transport->Send(req);
    if (!resp.ok()) return resp.status().WithContext("Matrix");
    auto st = Check(*resp);
    if (!st.ok()) return {st.status(), st.retry_after()};
    auto j = ParseJson(resp->body);
    const std::string room = j ? JGetString(*j, "room_id") : "";
    if (room.empty()) return common::UnavailableError("Matrix: createRoom answer has no room_id");
    return room;
  }

 private:
  static constexpr size_t kMaxThumbnailBytes = 1 << 20;

  // The card's thumbnail fetched from the relay (the URL carries its own token) and stored in
  // the homeserver's media repository (POST /_matrix/media/v3/upload); its mxc:// URI, or
  // nullopt when any step fails: the card is then posted without the image (a card without a
  // thumbnail is better than none). A retried post uploads again; only the message is
  // idempotent (the media repository has no transaction ids).
  std::optional<std::string> UploadThumbnail(const Card& card) {
    if (!card.thumbnail_url) return std::nullopt;
    auto image = deps_.transport->Send({"GET", *card.thumbnail_url, {}, ""});
    if (!image.ok() || image->status != 200 || image->body.empty() ||
        image->body.size() > kMaxThumbnailBytes) {
      return std::nullopt;
    }
    HttpRequest req{"POST",
                    hs_ + "/_matrix/media/v3/upload?filename=thumbnail.jpg",
                    {{"Content-Type", "image/jpeg"}, {"Authorization", "Bearer " + token_}},
                    std::move(image->body)};
    auto resp = deps_.transport->Send(req);
    if (!resp.ok() || resp->status != 200) return std::nullopt;
    auto j = ParseJson(resp->body);
    const std::string uri = j ? JGetString(*j, "content_uri") : "";
    // mxc://<server-name>/<media-id>: nothing that could leave the attribute.
    if (uri.rfind("mxc://", 0) != 0 || uri.size() > 255 ||
        uri.find_first_of("\"'<>& \t\r\n") != std::string::npos) {
      return std::nullopt;
    }
    return uri;
  }

  value Content(const Card& card, const ThreadTarget& target) const {
    value v = value::object();
    v["msgtype"] = JStr("m.text");
    v["body"] = JStr(RenderPlainText(card, target.render));
    v["format"] = JStr("org.matrix.custom.html");
    v["formatted_body"] = JStr(RenderHtml(card, target.render));
    return v;
  }

  ChatResult<bool> Check(const HttpResponse& resp) {
    std::string errcode;
    std::optional<std::chrono::milliseconds> retry_ms;
    if (auto j = ParseJson(resp.body); j && j->is_object()) {
      errcode = Excerpt(JGetString(*j, "errcode"));
      if (j->has_field("retry_after_ms") && j->at("retry_after_ms").is_number()) {
        retry_ms = std::chrono::milliseconds(j->at("retry_after_ms").as_number().to_int64());
      }
    }
    auto st = StatusFromHttp(resp, "Matrix", *deps_.clock, errcode);
    if (st.ok()) return true;
    return {st.status(), st.retry_after() ? st.retry_after() : retry_ms};
  }

  ChatResult<PostResult> Send(const value& content, const ThreadTarget& target,
                              const std::string& txn) {
    if (target.destination.empty() || target.destination[0] != '!') {
      return common::InvalidArgumentError(
          "Matrix: the thread's destination must be a room id such as !abc:example.org");
    }
    // The transaction id makes the PUT idempotent: the homeserver answers a repeated txnId with
    // the event it already sent (client-server API, "Transaction identifiers").
    HttpRequest req{"PUT",
                    hs_ + "/_matrix/client/v3/rooms/" + UrlEncode(target.destination) +
                        "/send/m.room.message/" + UrlEncode(txn),
                    {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + token_}},
                    content.serialize()};
    auto resp = deps_.transport->Send(req);
    if (!resp.ok()) return resp.status().WithContext("Matrix");
    auto st = Check(*resp);
    if (!st.ok()) return {st.status(), st.retry_after()};
    auto j = ParseJson(resp->body);
    return PostResult{.message_id = j ? JGetString(*j, "event_id") : "",
                      .exactly_once = true,
                      .destination = target.destination};
  }

  std::string hs_;
  std::string token_;
  ConnectorDeps deps_;
};

}  // namespace

std::unique_ptr<ChatConnector> MakeWebhookConnector(std::string url, std::string secret,
                                                    ConnectorDeps deps) {
  return std::make_unique<WebhookConnector>(std::move(url), std::move(secret), std::move(deps));
}
std::unique_ptr<ChatConnector> MakeSlackConnector(std::string url, bool blocks,
                                                  ConnectorDeps deps) {
  return std::make_unique<SlackConnector>(std::move(url), blocks, std::move(deps));
}
std::unique_ptr<ChatConnector> MakeChatworkConnector(std::string api_base, std::string token,
                                                     ConnectorDeps deps) {
  return std::make_unique<ChatworkConnector>(std::move(api_base), std::move(token),
                                             std::move(deps));
}
std::unique_ptr<ChatConnector> MakeMatrixConnector(std::string homeserver, std::string token,
                                                   ConnectorDeps deps) {
  return std::make_unique<MatrixConnector>(std::move(homeserver), std::move(token),
                                           std::move(deps));
}

}  // namespace tsunagu::chat::internal
