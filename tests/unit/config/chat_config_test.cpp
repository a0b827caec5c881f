#include <gtest/gtest.h>

#include <string>

#include "config_test_util.h"
#include "tsunagu/config/gateway_options.h"

namespace tsunagu::config {
namespace {

using namespace std::chrono_literals;

constexpr char kBase[] = R"(
[storage]
data_directory = "data"
spool_directory = "spool"

[anonymizer]
secret_file = "secret"

[relay]
url = "https://127.0.0.1:8443"
ca_file = "ca.pem"
client_cert_file = "client-cert.pem"
client_key_file = "client-key.pem"
)";

class ChatConfigTest : public testing::ConfigDir {
 protected:
  void SetUp() override {
    ConfigDir::SetUp();
    for (const char* name : {"hook-secret", "mx-token", "lw-secret", "lw-key.pem", "cw-token",
                             "xmpp-pass", "mm-url"}) {
      WriteFile(name, "not-a-real-secret\n", 0600);
    }
  }
  common::Result<GatewayOptions> Load(const std::string& extra) {
    path_ = WriteFile("gateway.toml", kBase + extra);
    return LoadGatewayConfig(path_);
  }
  std::string Msg(const std::string& rest) const { return path_.string() + ": " + rest; }
  std::filesystem::path path_;
};

TEST_F(ChatConfigTest, NoChatSectionGivesNoConnectors) {
  auto o = Load("");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->chat.connectors.empty());
  EXPECT_EQ(o->chat.utc_offset, 9h);
}

TEST_F(ChatConfigTest, EveryConnectorTypeIsRead) {
  auto o = Load(R"(
[[threads]]
name = "er"
connector = "mx"
per_patient = true
room_label = "ER"
invite = ["@a:hs", "@b:hs"]
thumbnails = true
seen_receipts = true

[[threads]]
name = "cw-night"
connector = "cw"
destination = "12345"

[chat]
utc_offset = "-05:30"

[[chat.connectors]]
name = "hook"
type = "webhook"
url = "https://h.local/x"
secret_file = "hook-secret"

[[chat.connectors]]
name = "mm"
type = "slack"
url_file = "mm-url"
style = "attachments"

[[chat.connectors]]
name = "mx"
type = "matrix"
homeserver = "https://matrix.local"
access_token_file = "mx-token"
timeout = "5s"
proxy = "http://proxy.local:3128"

[[chat.connectors]]
name = "lw"
type = "lineworks"
client_id = "CID"
client_secret_file = "lw-secret"
service_account = "sa.serviceaccount@x"
private_key_file = "lw-key.pem"
bot_id = "2000001"
message_type = "flex"

[[chat.connectors]]
name = "cw"
type = "chatwork"
token_file = "cw-token"

[[chat.connectors]]
name = "xm"
type = "xmpp"
jid = "bot@chat.local"
password_file = "xmpp-pass"
host = "127.0.0.1"
port = 5223
ca_file = "ca.pem"
muc_service = "conference.chat.local"
)");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->chat.utc_offset, -(5h + 30min));
  ASSERT_EQ(o->chat.connectors.size(), 6u);
  const auto& c = o->chat.connectors;
  EXPECT_EQ(c[0].type, ChatConnectorType::kWebhook);
  EXPECT_EQ(c[0].secret_file, dir_ / "hook-secret");
  EXPECT_EQ(c[1].style, "attachments");
  EXPECT_EQ(c[2].type, ChatConnectorType::kMatrix);
  EXPECT_EQ(c[2].timeout, 5s);
  EXPECT_EQ(c[2].proxy, "http://proxy.local:3128");
  EXPECT_EQ(c[0].proxy, "");
  EXPECT_EQ(c[3].api_base, "https://www.worksapis.com");
  EXPECT_EQ(c[3].auth_url, "https://auth.worksmobile.com/oauth2/v2.0/token");
  EXPECT_EQ(c[3].message_type, "flex");
  EXPECT_EQ(c[4].api_base, "https://api.chatwork.com");
  EXPECT_EQ(c[5].port, 5223);
  EXPECT_EQ(c[5].nick, "tsunagu");
  EXPECT_EQ(c[5].ca_file, dir_ / "ca.pem");
  EXPECT_EQ(c[5].muc_service, "conference.chat.local");
  ASSERT_EQ(o->threads.size(), 2u);
  EXPECT_TRUE(o->threads[0].chat.per_patient);
  EXPECT_EQ(o->threads[0].chat.room_label, "ER");
  EXPECT_EQ(o->threads[0].chat.invite, (std::vector<std::string>{"@a:hs", "@b:hs"}));
  EXPECT_TRUE(o->threads[0].chat.thumbnails);
  EXPECT_TRUE(o->threads[0].chat.seen_receipts);
  EXPECT_FALSE(o->threads[1].chat.per_patient);
  EXPECT_FALSE(o->threads[1].chat.thumbnails);
}

TEST_F(ChatConfigTest, KeyOfAnotherTypeIsUnknown) {
  auto o = Load(R"(
[[chat.connectors]]
name = "cw"
type = "chatwork"
token_file = "cw-token"
homeserver = "https://matrix.local"
)");
  EXPECT_EQ(o.status().message(), Msg("chat.connectors[0].homeserver: unknown key"));
}

TEST_F(ChatConfigTest, UnknownTypeAndMissingKeys) {
  auto o = Load(R"(
[[chat.connectors]]
name = "t"
type = "teams"

[[chat.connectors]]
name = "m"
type = "matrix"
)");
  EXPECT_EQ(o.status().message(),
            Msg("chat.connectors[0].type: expected one of \"webhook\", \"slack\", \"matrix\", "
                "\"lineworks\", \"chatwork\", \"xmpp\", got \"teams\"") +
                "\n" + Msg("chat.connectors[1].homeserver: required, but missing") + "\n" +
                Msg("chat.connectors[1].access_token_file: required, but missing"));
}

TEST_F(ChatConfigTest, ThreadMustNameAConfiguredConnector) {
  auto o = Load(R"(
[[threads]]
name = "er"
connector = "matrx"

[[chat.connectors]]
name = "hook"
type = "webhook"
url = "https://h.local/x"
secret_file = "hook-secret"

[[chat.connectors]]
name = "matrix"
type = "matrix"
homeserver = "https://matrix.local"
access_token_file = "mx-token"
)");
  EXPECT_EQ(o.status().message(),
            Msg("threads[0].connector: unknown connector \"matrx\" (configured: \"hook\", "
                "\"matrix\")"));
}

TEST_F(ChatConfigTest, RoomPlatformsNeedADestination) {
  auto o = Load(R"(
[[threads]]
name = "night"
connector = "cw"

[[chat.connectors]]
name = "cw"
type = "chatwork"
token_file = "cw-token"
)");
  EXPECT_EQ(o.status().message(),
            Msg("threads[0].destination: required for a chatwork connector (the room, channel "
                "or room JID)"));
}

TEST_F(ChatConfigTest, XmppPerPatientThreadNeedsMucServiceOrDestination) {
  const std::string threads = R"(
[[threads]]
name = "er"
connector = "xm"
per_patient = true
)";
  const std::string connector = R"(
[[chat.connectors]]
name = "xm"
type = "xmpp"
jid = "bot@chat.local"
password_file = "xmpp-pass"
)";
  auto o = Load(threads + connector);
  EXPECT_EQ(o.status().message(),
            Msg("threads[0].destination: required for a xmpp connector (the room, channel or "
                "room JID)"));
  o = Load(threads + connector + "muc_service = \"conference.chat.local\"\n");
  EXPECT_TRUE(o.ok()) << o.status();
}

TEST_F(ChatConfigTest, PlainHttpAndBadValuesAreRefused) {
  auto o = Load(R"(
[chat]
utc_offset = "JST"

[[chat.connectors]]
name = "hook"
type = "webhook"
url = "http://h.local/x"
secret_file = "hook-secret"

[[chat.connectors]]
name = "hook"
type = "xmpp"
jid = "chat.local"
password_file = "xmpp-pass"
nick = ""
)");
  EXPECT_EQ(o.status().message(),
            Msg("chat.utc_offset: expected an offset such as \"+09:00\", got \"JST\"") + "\n" +
                Msg("chat.connectors[0].url: expected an https:// URL, got \"http://h.local/x\"") +
                "\n" +
                Msg("chat.connectors[1].jid: expected a bare JID such as "
                    "tsunagu@chat.hospital.local, got \"chat.local\"") +
                "\n" +
                Msg("chat.connectors[1].nick: expected a non-empty room nickname without '/', "
                    "got \"\"") +
                "\n" +
                Msg("chat.connectors[1].name: duplicate connector name \"hook\" (first used at "
                    "chat.connectors[0].name)"));
}

TEST_F(ChatConfigTest, SecretFilesArePermissionChecked) {
  WriteFile("cw-token", "cw-secret-value\n", 0644);
  auto o = Load(R"(
[[chat.connectors]]
name = "cw"
type = "chatwork"
token_file = "cw-token"
)");
  EXPECT_EQ(o.status().message(),
            Msg("chat.connectors[0].token_file: " + (dir_ / "cw-token").string() +
                " is accessible by other users (mode 0644); run: chmod 600 " +
                (dir_ / "cw-token").string()));
  EXPECT_EQ(o.status().message().find("cw-secret-value"), std::string::npos);
}

}  // namespace
}  // namespace tsunagu::config
