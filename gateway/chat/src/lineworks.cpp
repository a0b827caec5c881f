// LINE WORKS Bot API 2.0: a service-account JWT (RS256) is exchanged for an access token at the
// auth server (cached until shortly before it expires), then
// POST {api}/v1.0/bots/{botId}/channels/{channelId}/messages (or /users/{userId}/messages).
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>
#include <mutex>

#include "connectors_internal.h"
#include "tsunagu/common/crypto.h"

namespace tsunagu::chat::internal {
namespace {

using web::json::value;

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

common::Result<Pkey> LoadKey(const std::string& pem) {
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return common::InternalError("LINE WORKS: cannot allocate a BIO");
  Pkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key || EVP_PKEY_base_id(key.get()) != EVP_PKEY_RSA) {
    return common::InvalidArgumentError(
        "LINE WORKS: private_key_file is not a PEM RSA private key (download it again from the "
        "Developer Console)");
  }
  return key;
}

common::Result<std::string> SignRs256(EVP_PKEY* key, const std::string& data) {
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  std::size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                     data.size()) != 1) {
    return common::InternalError("LINE WORKS: RS256 signing failed");
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    return common::InternalError("LINE WORKS: RS256 signing failed");
  }
  sig.resize(len);
  return sig;
}

class LineWorksConnector final : public ChatConnector {
 public:
  LineWorksConnector(LineWorksSettings s, Pkey key, ConnectorDeps deps)
      : s_(std::move(s)), key_(std::move(key)), deps_(std::move(deps)) {}

  ConnectorCapabilities capabilities() const override { return {}; }

  ChatResult<PostResult> Post(const Card& card, const ThreadTarget& target,
                              const std::string& key) override {
    TSUNAGU_RETURN_IF_ERROR(ValidateCard(card));
    return Send(Payload(card, target), target);
  }

  ChatResult<PostResult> PostNotice(const std::string& text, const ThreadTarget& target,
                                    const std::string&) override {
    value v = value::object();
    v["content"] = value::object();
    v["content"]["type"] = JStr("text");
    v["content"]["text"] = JStr(TruncateUtf8(StripControl(text), 990));
    return Send(v, target);
  }

 private:
  ChatResult<PostResult> Send(const value& payload, const ThreadTarget& target) {
    std::string path;
    const std::string& d = target.destination;
    if (d.rfind("user:", 0) == 0 && d.size() > 5) {
      path = "/users/" + UrlEncode(d.substr(5));
    } else if (!d.empty()) {
      path = "/channels/" + UrlEncode(d);
    } else {
      return common::InvalidArgumentError(
          "LINE WORKS: the thread's destination must be a channel id (or user:<userId>)");
    }
    HttpRequest req{"POST", s_.api_base + "/v1.0/bots/" + UrlEncode(s_.bot_id) + path + "/messages",
                    Headers(), payload.serialize()};
    // A token refused with 401 is dropped and fetched again once (it may have been revoked or
    // expired early on the server).
    for (int attempt = 0;; ++attempt) {
      auto token = Token();
      if (!token.ok()) return {token.status(), token.retry_after()};
      req.headers = {{"Content-Type", "application/json"},
                     {"Authorization", "Bearer " + token.value()}};
      auto resp = deps_.transport->Send(req);
      if (!resp.ok()) return resp.status().WithContext("LINE WORKS");
      if (resp->status == 401 && attempt == 0) {
        DropToken();
        continue;
      }
      std::string code;
      if (auto j = ParseJson(resp->body)) code = Excerpt(JGetString(*j, "code"));
      auto st = StatusFromHttp(*resp, "LINE WORKS", *deps_.clock, code);
      if (!st.ok()) {
        if (resp->status == 403) {
          return common::Status(
              common::ErrorCode::kPermissionDenied,
              st.status().message() +
                  ". A LINE WORKS bot can post only to rooms it is a member of, and cannot join "
                  "a room that contains external users (LINE or another company's LINE WORKS): "
                  "use a room with members of this organization only",
              false);
        }
        return {st.status(), st.retry_after()};
      }
      return PostResult{.message_id = "", .exactly_once = false, .destination = target.destination};
    }
  }

  value Payload(const Card& card, const ThreadTarget& target) const {
    const CardText t = MakeCardText(card, target.render);
    std::string text = RenderPlainText(card, target.render);
    // contentText is limited to 1,000 characters: drop the link line (it is the button) and cut
    // at a character boundary.
    if (card.state == CardState::kActive) {
      const auto pos = text.rfind(t.link_label + ": ");
      if (pos != std::string::npos) text.erase(pos);
    }
    text = TruncateUtf8(text, 990);
    value content = value::object();
    const bool active = card.state == CardState::kActive;
    if (s_.message_type == "flex") {
      std::vector<value> lines;
      auto line = [](const std::string& s, bool bold) {
        value l = value::object();
        l["type"] = JStr("text");
        l["text"] = JStr(s);
        l["wrap"] = value::boolean(true);
        if (bold) l["weight"] = JStr("bold");
        return l;
      };
      lines.push_back(line(t.title, true));
      if (!t.status_line.empty()) lines.push_back(line(t.status_line, true));
      for (const auto& [label, v] : t.fields) lines.push_back(line(label + ": " + v, false));
      value body = value::object();
      body["type"] = JStr("box");
      body["layout"] = JStr("vertical");
      body["contents"] = value::array(lines);
      value bubble = value::object();
      bubble["type"] = JStr("bubble");
      if (card.thumbnail_url) {
        value hero = value::object();
        hero["type"] = JStr("image");
        hero["url"] = JStr(*card.thumbnail_url);
        hero["size"] = JStr("full");
        hero["aspectMode"] = JStr("fit");
        bubble["hero"] = hero;
      }
      bubble["body"] = body;
      if (active) {
        value button = value::object();
        button["type"] = JStr("button");
        button["style"] = JStr("primary");
        button["action"] = value::object();
        button["action"]["type"] = JStr("uri");
        button["action"]["label"] = JStr(t.link_label);
        button["action"]["uri"] = JStr(card.viewer_url);
        value footer = value::object();
        footer["type"] = JStr("box");
        footer["layout"] = JStr("vertical");
        footer["contents"] = value::array({button});
        bubble["footer"] = footer;
      }
      content["type"] = JStr("flex");
      content["altText"] = JStr(t.title);
      content["contents"] = bubble;
    } else if (s_.message_type == "link" || !active) {
      content["type"] = JStr(active ? "link" : "text");
      if (active) {
        content["contentText"] = JStr(text);
        content["linkText"] = JStr(t.link_label);
        content["link"] = JStr(card.viewer_url);
      } else {
        content["text"] = JStr(text);
      }
    } else {
      value action = value::object();
      action["type"] = JStr("uri");
      action["label"] = JStr(t.link_label);
      action["uri"] = JStr(card.viewer_url);
      content["type"] = JStr("button_template");
      content["contentText"] = JStr(text);
      content["actions"] = value::array({action});
    }
    value v = value::object();
    v["content"] = content;
    return v;
  }

  void DropToken() {
    std::lock_guard<std::mutex> lock(mu_);
    token_.clear();
  }

  ChatResult<std::string> Token() {
    std::lock_guard<std::mutex> lock(mu_);
    const auto now = deps_.clock->SystemNow();
    if (!token_.empty() && now < token_expiry_) return token_;
    const auto iat =
        std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    value header = value::object();
    header["alg"] = JStr("RS256");
    header["typ"] = JStr("JWT");
    value claims = value::object();
    claims["iss"] = JStr(s_.client_id);
    claims["sub"] = JStr(s_.service_account);
    claims["iat"] = value::number(static_cast<int64_t>(iat));
    claims["exp"] = value::number(static_cast<int64_t>(iat + 3600));
    const std::string signing_input = common::Base64UrlEncode(header.serialize()) + "." +
                                      common::Base64UrlEncode(claims.serialize());
    auto sig = SignRs256(key_.get(), signing_input);
    if (!sig.ok()) return sig.status();
    const std::string jwt = signing_input + "." + common::Base64UrlEncode(*sig);
    HttpRequest req{"POST",
                    s_.auth_url,
                    {{"Content-Type", "application/x-www-form-urlencoded"}},
                    "assertion=" + UrlEncode(jwt) +
                        "&grant_type=" + UrlEncode("urn:ietf:params:oauth:grant-type:jwt-bearer") +
                        "&client_id=" + UrlEncode(s_.client_id) +
                        "&client_secret=" + UrlEncode(s_.client_secret) + "&scope=bot"};
    auto resp = deps_.transport->Send(req);
    if (!resp.ok()) return resp.status().WithContext("LINE WORKS auth");
    std::string detail;
    auto j = ParseJson(resp->body);
    if (j) detail = Excerpt(JGetString(*j, "error"));
    auto st = StatusFromHttp(*resp, "LINE WORKS auth", *deps_.clock, detail);
    if (!st.ok()) {
      if (resp->status == 400 || resp->status == 401) {
        return common::Status(common::ErrorCode::kUnauthenticated,
                              st.status().message() +
                                  ": check client_id, client_secret_file, service_account and "
                                  "private_key_file",
                              false);
      }
      return {st.status(), st.retry_after()};
    }
    const std::string token = j ? JGetString(*j, "access_token") : "";
    if (token.empty())
      return common::UnavailableError("LINE WORKS auth: no access_token in answer");
    // expires_in is documented as a string of seconds ("86400"); accept a number too.
    std::int64_t expires_in = 3600;
    if (j->has_field("expires_in")) {
      const auto& e = j->at("expires_in");
      if (e.is_number()) expires_in = e.as_number().to_int64();
      if (e.is_string() && !e.as_string().empty() &&
          e.as_string().find_first_not_of("0123456789") == std::string::npos &&
          e.as_string().size() < 10) {
        expires_in = std::stoll(e.as_string());
      }
    }
    token_ = token;
    // Renew a minute early (or at half-life for very short tokens) so a post never races expiry.
    const auto margin = std::min<std::int64_t>(60, expires_in / 2);
    token_expiry_ = now + std::chrono::seconds(expires_in - margin);
    return token_;
  }

  LineWorksSettings s_;
  Pkey key_;
  ConnectorDeps deps_;
  std::mutex mu_;
  std::string token_;                                   // GUARDED_BY(mu_)
  std::chrono::system_clock::time_point token_expiry_;  // GUARDED_BY(mu_)
};

}  // namespace

common::Result<std::unique_ptr<ChatConnector>> MakeLineWorksConnector(LineWorksSettings settings,
                                                                      ConnectorDeps deps) {
  auto key = LoadKey(settings.private_key_pem);
  if (!key.ok()) return key.status();
  settings.private_key_pem.clear();
  return std::unique_ptr<ChatConnector>(
      std::make_unique<LineWorksConnector>(std::move(settings), std::move(*key), std::move(deps)));
}

}  // namespace tsunagu::chat::internal
