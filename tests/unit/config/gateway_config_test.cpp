#include <gtest/gtest.h>

#include <string>

#include "config_test_util.h"
#include "tsunagu/config/gateway_options.h"

namespace tsunagu::config {
namespace {

using namespace std::chrono_literals;

// A minimal valid gateway.toml; relative paths resolve against the test directory.
constexpr char kValid[] = R"(
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

class GatewayConfigTest : public testing::ConfigDir {
 protected:
  // Loads kValid with `extra` appended (TOML allows appending tables and root keys only before
  // the first table, so `root` is prepended).
  common::Result<GatewayOptions> Load(const std::string& extra, const std::string& root = "") {
    path_ = WriteFile("gateway.toml", root + kValid + extra);
    return LoadGatewayConfig(path_);
  }
  // The error message expected for `key`: "<path>: <key>: <message>".
  std::string Msg(const std::string& rest) const { return path_.string() + ": " + rest; }

  std::filesystem::path path_;
};

TEST_F(GatewayConfigTest, MinimalConfigGetsDefaults) {
  auto o = Load("");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->language, common::Language::kJapanese);
  EXPECT_EQ(o->dicom.ae_title, "TSUNAGU");
  EXPECT_EQ(o->dicom.port, 11112);
  EXPECT_FALSE(o->pacs.has_value());
  EXPECT_EQ(o->storage.spool_max_age, 24h);
  EXPECT_EQ(o->storage.data_directory, dir_ / "data");
  EXPECT_EQ(o->anonymizer.patient_id_keep, 4);
  EXPECT_EQ(o->anonymizer.secret_file, dir_ / "secret");
  EXPECT_TRUE(o->transport.require_ipsec);
  EXPECT_TRUE(o->threads.empty());
}

TEST_F(GatewayConfigTest, FullConfigIsRead) {
  auto o = Load(R"(
[pacs]
host = "127.0.0.1"
port = 4242
ae_title = "DCMQRSCP"
move_deadline = "90m"

[[threads]]
name = "cardio"
connector = "webhook"
retention = "36h"
language = "en"
)",
                "language = \"en\"\n");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->language, common::Language::kEnglish);
  ASSERT_TRUE(o->pacs.has_value());
  EXPECT_EQ(o->pacs->port, 4242);
  EXPECT_EQ(o->pacs->move_deadline, 90min);
  ASSERT_EQ(o->threads.size(), 1u);
  EXPECT_EQ(o->threads[0].retention, std::chrono::milliseconds(36h));
  EXPECT_EQ(o->threads[0].language, common::Language::kEnglish);
}

// The exact messages a person sees for common mistakes.
TEST_F(GatewayConfigTest, PortThatIsNotANumber) {
  auto o = Load("[pacs]\nhost = \"pacs\"\nae_title = \"PACS\"\nport = \"abc\"\n");
  EXPECT_EQ(o.status().message(), Msg("pacs.port: expected an integer 1–65535, got \"abc\""));
}

TEST_F(GatewayConfigTest, PortOutOfRange) {
  auto o = Load("[dicom]\nport = 70000\n");
  EXPECT_EQ(o.status().message(), Msg("dicom.port: expected an integer 1–65535, got 70000"));
}

TEST_F(GatewayConfigTest, UnknownKeySuggestsTheRightOne) {
  auto o = Load("[dicom]\nprot = 104\n");
  EXPECT_EQ(o.status().message(), Msg("dicom.prot: unknown key (did you mean \"port\"?)"));
}

TEST_F(GatewayConfigTest, UnknownSection) {
  auto o = Load("[logging]\nlevel = \"info\"\n");
  EXPECT_EQ(o.status().message(), Msg("logging: unknown key"));
}

TEST_F(GatewayConfigTest, BadDuration) {
  auto o = Load("", "");
  path_ = WriteFile("gateway.toml",
                    std::string(kValid).replace(std::string(kValid).find("[anonymizer]"), 0,
                                                "spool_max_age = \"3 days\"\n\n"));
  o = LoadGatewayConfig(path_);
  EXPECT_EQ(o.status().message(),
            Msg("storage.spool_max_age: expected a duration such as \"3d\", \"36h\", \"90m\" or "
                "\"30s\" of at least 1m, got \"3 days\""));
}

TEST_F(GatewayConfigTest, MissingRequiredKey) {
  path_ = WriteFile("gateway.toml",
                    "[storage]\nspool_directory = \"s\"\n" +
                        std::string(kValid).substr(std::string(kValid).find("[anonymizer]")));
  auto o = LoadGatewayConfig(path_);
  EXPECT_EQ(o.status().message(), Msg("storage.data_directory: required, but missing"));
}

TEST_F(GatewayConfigTest, WrongLanguage) {
  auto o = Load("", "language = \"jp\"\n");
  EXPECT_EQ(o.status().message(), Msg("language: expected one of \"ja\", \"en\", got \"jp\""));
}

TEST_F(GatewayConfigTest, AeTitleTooLong) {
  auto o = Load("[dicom]\nae_title = \"THIS_AE_TITLE_IS_TOO_LONG\"\n");
  EXPECT_EQ(o.status().message(),
            Msg("dicom.ae_title: expected an AE title of 1–16 ASCII characters without "
                "backslash, got \"THIS_AE_TITLE_IS_TOO_LONG\""));
}

TEST_F(GatewayConfigTest, RelayUrlMustBeHttps) {
  path_ = WriteFile("gateway.toml", std::string(kValid).replace(
                                        std::string(kValid).find("https://"), 8, "http://"));
  auto o = LoadGatewayConfig(path_);
  EXPECT_EQ(o.status().message(),
            Msg("relay.url: expected an https:// URL, got \"http://127.0.0.1:8443\""));
}

TEST_F(GatewayConfigTest, BooleanGivenAsString) {
  auto o = Load("[transport]\nrequire_ipsec = \"yes\"\n");
  EXPECT_EQ(o.status().message(),
            Msg("transport.require_ipsec: expected true or false, got \"yes\""));
}

TEST_F(GatewayConfigTest, DuplicateThreadNames) {
  auto o = Load(R"(
[[threads]]
name = "er"
connector = "webhook"
[[threads]]
name = "er"
connector = "matrix"
)");
  EXPECT_EQ(o.status().message(),
            Msg("threads[1].name: duplicate thread name \"er\" (first used at threads[0].name)"));
}

TEST_F(GatewayConfigTest, WorldReadableSecretIsRefused) {
  WriteFile("secret", "s3cret-value", 0644);
  auto o = Load("");
  EXPECT_EQ(o.status().message(), Msg("anonymizer.secret_file: " + (dir_ / "secret").string() +
                                      " is accessible by other users (mode 0644); run: chmod 600 " +
                                      (dir_ / "secret").string()));
  EXPECT_EQ(o.status().message().find("s3cret-value"), std::string::npos);
}

// Site-secret rotation: retired secrets, newest first, checked like secret_file.
class GatewayPreviousSecretsTest : public GatewayConfigTest {
 protected:
  common::Result<GatewayOptions> LoadWith(const std::string& list) {
    std::string text = kValid;
    const std::string key = "secret_file = \"secret\"\n";
    text.replace(text.find(key), key.size(), key + "previous_secret_files = " + list + "\n");
    path_ = WriteFile("gateway.toml", text);
    return LoadGatewayConfig(path_);
  }
};

TEST_F(GatewayPreviousSecretsTest, AreReadInOrderAndResolvedLikeSecretFile) {
  WriteFile("secret.1", "old", 0600);
  WriteFile("secret.2", "older", 0600);
  auto o = LoadWith(R"(["secret.1", "secret.2"])");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->anonymizer.previous_secret_files,
            (std::vector<std::filesystem::path>{dir_ / "secret.1", dir_ / "secret.2"}));
  auto none = Load("");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->anonymizer.previous_secret_files.empty());
}

TEST_F(GatewayPreviousSecretsTest, WorldReadableRetiredSecretIsRefused) {
  WriteFile("secret.1", "old-value", 0644);
  auto o = LoadWith(R"(["secret.1"])");
  EXPECT_EQ(o.status().message(),
            Msg("anonymizer.previous_secret_files[0]: " + (dir_ / "secret.1").string() +
                " is accessible by other users (mode 0644); run: chmod 600 " +
                (dir_ / "secret.1").string()));
}

TEST_F(GatewayPreviousSecretsTest, TheCurrentSecretOrADuplicateIsRefused) {
  WriteFile("secret.1", "old", 0600);
  auto current = LoadWith(R"(["secret"])");
  EXPECT_EQ(current.status().message(),
            Msg("anonymizer.previous_secret_files: lists the current secret_file \"secret\"; "
                "list only retired secrets"));
  auto twice = LoadWith(R"(["secret.1", "./secret.1"])");
  EXPECT_EQ(twice.status().message(),
            Msg("anonymizer.previous_secret_files: lists \"./secret.1\" twice"));
  auto not_a_list = LoadWith(R"("secret.1")");
  EXPECT_EQ(not_a_list.status().message(),
            Msg("anonymizer.previous_secret_files: expected an array of strings, got "
                "\"secret.1\""));
}

TEST_F(GatewayConfigTest, MissingCertificate) {
  std::filesystem::remove(dir_ / "ca.pem");
  auto o = Load("");
  EXPECT_EQ(o.status().message(), Msg("relay.ca_file: " + (dir_ / "ca.pem").string() +
                                      " does not exist or is not a regular file"));
}

TEST_F(GatewayConfigTest, FileChecksCanBeSkipped) {
  std::filesystem::remove(dir_ / "ca.pem");
  path_ = WriteFile("gateway.toml", kValid);
  EXPECT_TRUE(LoadGatewayConfig(path_, LoadOptions{.check_files = false}).ok());
}

TEST_F(GatewayConfigTest, SyntaxErrorNamesTheLine) {
  path_ = WriteFile("gateway.toml", "language = \"ja\"\n[dicom\nport = 1\n");
  auto o = LoadGatewayConfig(path_);
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.status().message().rfind(Msg("line 2: invalid TOML: "), 0), 0u)
      << o.status().message();
  EXPECT_EQ(o.status().message().find('\n'), std::string::npos) << "one line per problem";
}

TEST_F(GatewayConfigTest, MissingFile) {
  auto o = LoadGatewayConfig(dir_ / "nope.toml");
  EXPECT_EQ(o.status().message(),
            (dir_ / "nope.toml").string() + ": cannot read the file: it does not exist");
}

TEST_F(GatewayConfigTest, ReportsEveryErrorAtOnce) {
  auto o = Load("[dicom]\nport = 0\nmax_associations = 0\n[web]\nport = -1\n");
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.status().message(),
            Msg("dicom.port: expected an integer 1–65535, got 0") + "\n" +
                Msg("dicom.max_associations: expected an integer 1–64, got 0") + "\n" +
                Msg("web.port: expected an integer 1–65535, got -1"));
}

TEST_F(GatewayConfigTest, TableWhereValueExpected) {
  auto o = Load("[dicom.port]\nx = 1\n");
  EXPECT_EQ(o.status().message(), Msg("dicom.port: expected an integer 1–65535, got a table"));
}

TEST_F(GatewayConfigTest, PacsNeedsHostAndAeTitle) {
  auto o = Load("[pacs]\nport = 104\n");
  EXPECT_EQ(o.status().message(), Msg("pacs.host: required, but missing") + "\n" +
                                      Msg("pacs.ae_title: required, but missing"));
}

TEST_F(GatewayConfigTest, ChunkSizeBounds) {
  auto o = Load("", "");
  path_ = WriteFile("gateway.toml", std::string(kValid) + "chunk_size = \"1GiB\"\n");
  o = LoadGatewayConfig(path_);
  EXPECT_EQ(o.status().message(), Msg("relay.chunk_size: expected a size from 64KiB to 64MiB"));
}

TEST_F(GatewayConfigTest, UploadConnectionsDefaultAndBounds) {
  auto o = Load("");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->relay.upload_connections, 4);
  o = Load("upload_connections = 8\n");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->relay.upload_connections, 8);
  o = Load("upload_connections = 0\n");
  EXPECT_EQ(o.status().message(), Msg("relay.upload_connections: expected an integer 1–32, got 0"));
}

}  // namespace
}  // namespace tsunagu::config

namespace tsunagu::config {
namespace {

class GatewayRoutesTest : public testing::ConfigDir {};

constexpr char kRoutesBase[] = R"(
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
[[threads]]
name = "cardio"
connector = "webhook"
)";

TEST_F(GatewayRoutesTest, RoutesAndQuietPeriodAreRead) {
  const auto path = WriteFile("gateway.toml", std::string(kRoutesBase) + R"(
[push]
quiet_period = "45s"
[[routes]]
thread = "cardio"
called_ae_title = "GW_CARDIO"
modality = "XA"
[[routes]]
thread = "cardio"
)");
  auto o = LoadGatewayConfig(path);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->push.quiet_period, std::chrono::seconds(45));
  ASSERT_EQ(o->routes.size(), 2u);
  EXPECT_EQ(o->routes[0].called_ae_title, "GW_CARDIO");
  EXPECT_EQ(o->routes[0].modality, "XA");
  EXPECT_EQ(o->routes[1].called_ae_title, "");
}

TEST_F(GatewayRoutesTest, RouteToAnUnknownThreadIsAnError) {
  const auto path = WriteFile("gateway.toml", std::string(kRoutesBase) + R"(
[[routes]]
thread = "ortho"
colour = "red"
)");
  auto o = LoadGatewayConfig(path);
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.status().message(),
            path.string() +
                ": routes[0].thread: expected the name of a [[threads]] entry, got "
                "\"ortho\"\n" +
                path.string() + ": routes[0].colour: unknown key");
}

TEST_F(GatewayRoutesTest, DefaultsWithoutPushOrRoutes) {
  const auto path = WriteFile("gateway.toml", kRoutesBase);
  auto o = LoadGatewayConfig(path);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->push.quiet_period, std::chrono::seconds(30));
  EXPECT_TRUE(o->routes.empty());
}

}  // namespace
}  // namespace tsunagu::config
